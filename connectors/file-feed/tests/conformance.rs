//! The SDK's conformance kit, run against the file feed.
//!
//! A file feed has no webhooks, no pushes, no API to fail and nothing to list (its input is
//! its files, through `poll`; see `Connector::list`): the checks that apply hold it to
//! refusing webhooks as bad input; the listing and push checks do not apply, since the kit's
//! listing check asks for a non-empty listing.

use async_trait::async_trait;
use omnistock_file_feed::{Columns, FileFeedConnector, FileFeedSettings, Format};
use omnistock_sdk::conformance::{self, ConformanceFake, Failure};
use omnistock_sdk::{Connector, ConnectorError, ItemRef, LocationId};

/// A 3PL that sends nothing but files.
struct Files;

#[async_trait]
impl ConformanceFake for Files {
    fn webhook_body(&self, _topic: &str) -> Vec<u8> {
        br#"{"sku":"MUG","quantity":4}"#.to_vec()
    }

    fn sign_webhook(&self, _topic: &str, _body: &[u8]) -> Vec<(String, String)> {
        Vec::new()
    }

    async fn fail_next(&self, _failure: Failure) {}

    fn failures(&self) -> Vec<Failure> {
        Vec::new()
    }

    async fn level(&self, _item: &ItemRef, _location: &LocationId) -> Option<i64> {
        None
    }
}

#[tokio::test]
async fn the_file_feed_keeps_the_parts_of_the_contract_that_apply() {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = FileFeedSettings::new(
        "3pl-east",
        dir.path(),
        Format::Csv(Columns::default()),
        Some(LocationId::new("wh-east").expect("valid")),
    );
    let connector = FileFeedConnector::new(settings).expect("valid settings");
    assert!(connector.capabilities().webhook_topics.is_empty());
    assert!(connector.capabilities().push_forms.is_empty());
    conformance::parses_every_topic(&connector, &Files).expect("no topics");
    conformance::rejects_bad_signatures(&connector, &Files).expect("no topics");
    conformance::rejects_malformed_bodies(&connector, &Files).expect("no topics");
    conformance::survives_failures(&connector, &Files)
        .await
        .expect("no failures to survive");
    // Anything posted as a webhook is refused: a file feed takes none.
    let (headers, body) = Files.signed_webhook("anything");
    assert!(matches!(
        connector.parse_webhook(&headers, &body),
        Err(ConnectorError::BadInput(_))
    ));
    assert!(matches!(
        connector.push(&[]).await,
        Err(ConnectorError::Permanent(_))
    ));
}
