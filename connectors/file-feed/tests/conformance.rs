//! The SDK's conformance kit, run against the file feed after it applied a snapshot.
//!
//! A file feed has no webhooks, no pushes and no API to fail: the kit's topic, push and
//! failure checks have nothing to hold it to, and its listing check compares the last applied
//! snapshot with what the 3PL wrote.

use std::collections::BTreeMap;

use async_trait::async_trait;
use omnistock_file_feed::fake::{CsvRow, DropWriter};
use omnistock_file_feed::{Columns, FileFeedConnector, FileFeedSettings, Format};
use omnistock_sdk::conformance::{self, ConformanceFake, Failure};
use omnistock_sdk::{Connector, ItemRef, LocationId};

/// What the 3PL wrote: (SKU, our location) → count.
struct Written(BTreeMap<(String, String), i64>);

#[async_trait]
impl ConformanceFake for Written {
    fn webhook_body(&self, _topic: &str) -> Vec<u8> {
        Vec::new()
    }

    fn sign_webhook(&self, _topic: &str, _body: &[u8]) -> Vec<(String, String)> {
        Vec::new()
    }

    async fn fail_next(&self, _failure: Failure) {}

    fn failures(&self) -> Vec<Failure> {
        Vec::new()
    }

    async fn level(&self, item: &ItemRef, location: &LocationId) -> Option<i64> {
        self.0
            .get(&(item.to_string(), location.to_string()))
            .copied()
    }
}

#[tokio::test]
async fn the_file_feed_keeps_the_connector_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = FileFeedSettings::new(
        "3pl-east",
        dir.path(),
        Format::Csv(Columns {
            sku: "item".into(),
            quantity: "on_hand".into(),
            location: Some("warehouse".into()),
            time: Some("as_of".into()),
        }),
        None,
    )
    .location("EAST", LocationId::new("wh-east").expect("valid"));
    settings.rows_per_page = 2;
    let connector = FileFeedConnector::new(settings).expect("valid settings");
    let rows = [
        CsvRow::new("MUG", 4, "EAST", "2026-11-23T10:00:00Z"),
        CsvRow::new("CAP", 0, "EAST", "2026-11-23T10:00:00Z"),
        CsvRow::new("HAT", 11, "EAST", "2026-11-23T10:00:00Z"),
    ];
    DropWriter::new(dir.path())
        .csv("inv.csv", &rows)
        .expect("drop");
    let mut cursor = None;
    for _ in 0..10 {
        let page = connector.poll(cursor.clone()).await.expect("poll");
        cursor = page.cursor.or(cursor);
    }
    let written = Written(
        rows.iter()
            .map(|r| {
                (
                    (r.item.clone(), "wh-east".to_owned()),
                    r.on_hand.parse().unwrap_or(-1),
                )
            })
            .collect(),
    );
    conformance::run(&connector, &written)
        .await
        .assert_all_passed();
}
