//! The generic connector against its fake: reads, compare-and-set pushes, and every way the
//! receiving system can fail.

use std::time::Duration;

use omnistock_generic::fake::{Failure, FakeReceiver};
use omnistock_generic::{GenericConnector, GenericSettings};
use omnistock_sdk::signature::sign_hex;
use omnistock_sdk::{
    ChannelId, Connector, ConnectorError, ItemRef, LocationId, PushOutcome, PushRequest,
};

async fn connect(fake: &FakeReceiver, secret: &str, timeout: Duration) -> GenericConnector {
    GenericConnector::new(GenericSettings {
        channel: ChannelId::new("web").expect("id"),
        push_url: fake.url().to_owned(),
        secret: secret.to_owned(),
        location: LocationId::new("wh").expect("id"),
        max_batch: 100,
        calls_per_second: 100.0,
        burst: 10,
        timeout,
    })
    .expect("connector")
}

fn item(sku: &str) -> ItemRef {
    ItemRef::new(sku).expect("item")
}

fn push(key: &str, sku: &str, expected: i64, target: i64) -> PushRequest {
    PushRequest {
        idempotency_key: key.to_owned(),
        item: item(sku),
        location: LocationId::new("wh").expect("id"),
        expected,
        target,
    }
}

#[tokio::test]
async fn reads_and_compare_and_set_pushes() {
    let fake = FakeReceiver::builder("web", "s")
        .level("MUG", 5)
        .level("TEA", 2)
        .start()
        .await;
    let connector = connect(&fake, "s", Duration::from_secs(5)).await;

    let levels = connector
        .read(&[item("MUG"), item("NOPE")])
        .await
        .expect("read");
    assert_eq!(levels.len(), 1, "unknown SKUs are left out");
    assert_eq!(levels[0].available, 5);
    assert_eq!(connector.list(None).await.expect("list").levels.len(), 2);

    let outcomes = connector
        .push(&[
            push("k1", "MUG", 5, 3),
            push("k2", "TEA", 9, 1),
            push("k3", "NOPE", 0, 1),
        ])
        .await
        .expect("push");
    assert_eq!(outcomes[0], PushOutcome::Applied);
    assert_eq!(outcomes[1], PushOutcome::StaleCompare { actual: Some(2) });
    assert!(
        matches!(&outcomes[2], PushOutcome::Rejected(reason) if reason.contains("unknown sku"))
    );
    assert_eq!((fake.level("MUG"), fake.level("TEA")), (Some(3), Some(2)));

    // A retried push with the same key applies once.
    let again = connector
        .push(&[push("k1", "MUG", 5, 3)])
        .await
        .expect("push");
    assert_eq!(again, vec![PushOutcome::Applied]);
    assert_eq!(fake.level("MUG"), Some(3));
}

#[tokio::test]
async fn failures_are_classified_by_what_to_do_next() {
    let fake = FakeReceiver::builder("web", "s")
        .level("MUG", 5)
        .start()
        .await;
    let connector = connect(&fake, "s", Duration::from_millis(500)).await;

    fake.fail_next(Failure::RateLimited {
        retry_after_secs: 3,
    });
    match connector.read(&[item("MUG")]).await {
        Err(ConnectorError::RateLimited { retry_after, .. }) => {
            assert_eq!(retry_after, Duration::from_secs(3))
        }
        other => panic!("expected rate limited, got {other:?}"),
    }
    fake.fail_next(Failure::ServerError);
    assert!(matches!(
        connector.read(&[item("MUG")]).await,
        Err(ConnectorError::Retryable(_))
    ));
    fake.fail_next(Failure::Garbage);
    assert!(
        matches!(connector.read(&[item("MUG")]).await, Err(ConnectorError::Retryable(m)) if m.contains("maintenance"))
    );
    fake.fail_next(Failure::Slow(Duration::from_secs(3)));
    assert!(
        matches!(connector.read(&[item("MUG")]).await, Err(ConnectorError::Retryable(m)) if m.contains("timed out"))
    );

    let wrong_secret = connect(&fake, "not-the-secret", Duration::from_secs(5)).await;
    assert!(
        matches!(wrong_secret.read(&[item("MUG")]).await, Err(ConnectorError::Permanent(m)) if m.contains("401"))
    );
}

#[tokio::test]
async fn webhooks_are_verified_then_parsed() {
    let fake = FakeReceiver::builder("web", "s").start().await;
    let connector = connect(&fake, "s", Duration::from_secs(5)).await;
    let body = br#"{"events":[{"id":"e1","occurred_at":"2026-11-23T10:00:00Z","sku":"MUG","change":{"type":"order_line_cancelled","order":"1","line":"1"}}]}"#;
    let signed = |secret: &str| {
        vec![(
            "X-Omnistock-Signature".to_owned(),
            format!("sha256={}", sign_hex(secret.as_bytes(), &[body])),
        )]
    };
    assert_eq!(
        connector
            .parse_webhook(&signed("s"), body)
            .expect("valid")
            .len(),
        1
    );
    assert!(matches!(
        connector.parse_webhook(&signed("x"), body),
        Err(ConnectorError::BadInput(_))
    ));
    let garbage = b"{not json";
    let headers = vec![(
        "x-omnistock-signature".to_owned(),
        format!("sha256={}", sign_hex(b"s", &[garbage])),
    )];
    assert!(matches!(
        connector.parse_webhook(&headers, garbage),
        Err(ConnectorError::BadInput(_))
    ));
}
