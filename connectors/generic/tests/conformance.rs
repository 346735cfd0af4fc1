//! The SDK's conformance kit, run against the generic connector and its fake receiver.
//!
//! The generic connector has no webhook topics of its own: a system posts normalized events
//! to `POST /v1/events`, signed `x-omnistock-signature: sha256=<hex>`, and nothing is
//! subscribed, so its capabilities rightly list no topic. The kit's webhook checks walk the
//! declared topics, and against an empty list they would pass without checking anything. So
//! the kit drives the connector through [`EventsEndpoint`], which names that one inbound
//! form as the topic `events` and hands every call to the real connector unchanged:
//! `parse_webhook` verifies the signature, refuses malformed bodies and parses the events
//! exactly as it would anyway. No check is skipped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use omnistock_generic::fake::{self, FakeReceiver};
use omnistock_generic::{GenericConnector, GenericSettings};
use omnistock_sdk::conformance::{self, ConformanceFake, Failure};
use omnistock_sdk::{
    Capabilities, ChannelId, Connector, ConnectorError, ItemLevel, ItemRef, ListPage, ListReport,
    LocationId, PushOutcome, PushRequest, StockEvent, WebhookReport,
};

const LOCATION: &str = "web-wh";
/// The topic under which the kit sends `POST /v1/events` deliveries.
const EVENTS: &str = "events";

/// The fake's knobs, as the kit asks for them.
struct Knobs(FakeReceiver);

#[async_trait]
impl ConformanceFake for Knobs {
    fn webhook_body(&self, _topic: &str) -> Vec<u8> {
        self.0.events_body(LOCATION)
    }

    fn sign_webhook(&self, _topic: &str, body: &[u8]) -> Vec<(String, String)> {
        self.0.sign_events(body)
    }

    async fn fail_next(&self, failure: Failure) {
        self.0.fail_next(match failure {
            Failure::RateLimited { retry_after } => fake::Failure::RateLimited {
                // Whole seconds on the wire; round up so the connector never waits less.
                retry_after_secs: retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0),
            },
            Failure::ServerError => fake::Failure::ServerError,
            Failure::Garbage => fake::Failure::Garbage,
            Failure::Timeout => fake::Failure::Slow(Duration::from_secs(3)),
        });
    }

    fn failures(&self) -> Vec<Failure> {
        vec![
            Failure::RateLimited {
                retry_after: Duration::from_secs(2),
            },
            Failure::ServerError,
            Failure::Garbage,
            // The connector under test times out after 500 ms.
            Failure::Timeout,
        ]
    }

    async fn level(&self, item: &ItemRef, location: &LocationId) -> Option<i64> {
        // The generic system reports one number per SKU, at the channel's one location.
        (location.as_str() == LOCATION)
            .then(|| self.0.level(item.as_str()))
            .flatten()
    }
}

/// The generic connector with its one inbound form, `POST /v1/events`, named as a topic so
/// the kit's webhook checks run; every call goes to the connector as it is.
struct EventsEndpoint<'a> {
    connector: &'a GenericConnector,
    parsed: AtomicUsize,
}

#[async_trait]
impl Connector for EventsEndpoint<'_> {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhook_topics: vec![EVENTS.to_owned()],
            ..self.connector.capabilities()
        }
    }

    async fn list(&self, cursor: Option<String>) -> Result<ListPage, ConnectorError> {
        self.connector.list(cursor).await
    }

    async fn list_report(&self, cursor: Option<String>) -> Result<ListReport, ConnectorError> {
        self.connector.list_report(cursor).await
    }

    async fn read(&self, items: &[ItemRef]) -> Result<Vec<ItemLevel>, ConnectorError> {
        self.connector.read(items).await
    }

    fn parse_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<StockEvent>, ConnectorError> {
        self.parsed.fetch_add(1, Ordering::Relaxed);
        self.connector.parse_webhook(headers, body)
    }

    fn parse_webhook_report(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<WebhookReport, ConnectorError> {
        self.parsed.fetch_add(1, Ordering::Relaxed);
        self.connector.parse_webhook_report(headers, body)
    }

    async fn push(&self, batch: &[PushRequest]) -> Result<Vec<PushOutcome>, ConnectorError> {
        self.connector.push(batch).await
    }

    fn poll_interval(&self) -> Option<Duration> {
        self.connector.poll_interval()
    }
}

async fn receiver() -> FakeReceiver {
    FakeReceiver::builder("web", "s3cret")
        .level("MUG", 5)
        .level("TEA-EARL-GREY", 2)
        .level("TSHIRT-RED-M", 0)
        // Three levels on two pages, so the kit's listing follows a cursor.
        .page_size(2)
        .start()
        .await
}

fn connector(fake: &FakeReceiver) -> GenericConnector {
    GenericConnector::new(GenericSettings {
        channel: ChannelId::new(fake.channel()).expect("id"),
        push_url: fake.url().to_owned(),
        secret: "s3cret".to_owned(),
        location: LocationId::new(LOCATION).expect("id"),
        max_batch: 100,
        calls_per_second: 100.0,
        burst: 10,
        timeout: Duration::from_millis(500),
    })
    .expect("connector")
}

#[tokio::test]
async fn the_generic_connector_keeps_the_connector_contract() {
    let fake = receiver().await;
    let generic = connector(&fake);
    assert!(
        generic.capabilities().webhook_topics.is_empty(),
        "the generic connector now declares topics: run the kit on it directly"
    );
    let connector = EventsEndpoint {
        connector: &generic,
        parsed: AtomicUsize::new(0),
    };
    let knobs = Knobs(fake);
    let report = conformance::run(&connector, &knobs).await;
    report.assert_all_passed();
    assert_eq!(report.results.len(), 6, "every check ran");
    assert!(
        connector.parsed.load(Ordering::Relaxed) >= 7,
        "the webhook checks parsed deliveries (signed, tampered, unsigned, malformed)"
    );
}

#[tokio::test]
async fn a_delivery_for_another_channel_or_without_events_is_refused() {
    let fake = receiver().await;
    let connector = connector(&fake);
    let body = fake.events_body(LOCATION);
    let mut headers = fake.sign_events(&body);
    assert_eq!(
        connector.parse_webhook(&headers, &body).map(|e| e.len()),
        Ok(3)
    );
    for (name, value) in &mut headers {
        if name == "x-omnistock-channel" {
            *value = "pos".to_owned();
        }
    }
    assert!(matches!(
        connector.parse_webhook(&headers, &body),
        Err(ConnectorError::BadInput(m)) if m.contains("not channel web")
    ));
    let empty = br#"{"events":[]}"#;
    assert!(matches!(
        connector.parse_webhook(&fake.sign_events(empty), empty),
        Err(ConnectorError::BadInput(m)) if m.contains("no events")
    ));
}

#[tokio::test]
async fn a_sku_omnistock_cannot_take_is_reported_not_dropped() {
    let fake = FakeReceiver::builder("web", "s3cret")
        .level("MUG", 5)
        .level(" MUG ", 1)
        .start()
        .await;
    let report = connector(&fake).list_report(None).await.expect("list");
    assert_eq!(report.page.levels.len(), 1);
    assert_eq!(report.unmapped.len(), 1, "{:?}", report.unmapped);
    assert!(report.unmapped[0].what.contains("\" MUG \""));
}
