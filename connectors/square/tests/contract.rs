//! The Square connector against the fake Square: mapping, reading, the changes feed, pushes,
//! errors and webhooks, each request body checked against Square's OpenAPI schemas.

mod common;

use common::*;
use omnistock_sdk::{
    Connector, ConnectorError, DeltaRequest, ItemRef, PushOutcome, PushRequest, StockChange,
    StockEvent, Timestamp,
};
use omnistock_square::fake::{Failure, FakeSquare, ledger::Kind};
use serde_json::json;

fn item(id: &str) -> ItemRef {
    ItemRef::new(id).expect("valid item")
}

fn delta(key: &str, variation: &str, location: &str, by: i64) -> DeltaRequest {
    DeltaRequest {
        idempotency_key: key.into(),
        item: item(variation),
        location: loc(location),
        by,
    }
}

async fn poll_all(
    connector: &omnistock_square::SquareConnector,
    cursor: &mut Option<String>,
) -> Vec<StockEvent> {
    let mut events = Vec::new();
    loop {
        let page = connector.poll(cursor.clone()).await.expect("poll");
        events.extend(page.events);
        *cursor = page.cursor.or(cursor.take());
        if !page.more {
            return events;
        }
    }
}

#[tokio::test]
async fn listing_maps_variations_and_locations_and_reports_the_rest() {
    let fake = FakeSquare::builder()
        .location(STORE)
        .location(SHOWROOM)
        .location("LBACKOFFICE")
        .variation(MUG, "MUG")
        .variation(CAP, "CAP")
        .variation_without_sku(NAMELESS)
        .count(MUG, STORE, 10)
        .count(CAP, STORE, 4)
        .count(MUG, SHOWROOM, 6)
        .count(NAMELESS, STORE, 1)
        .page_size(2)
        .start()
        .await;
    let connector = connector(settings(&fake));
    let mut levels = Vec::new();
    let mut unmapped = Vec::new();
    let mut cursor = None;
    loop {
        let report = connector.list_report(cursor).await.expect("listing");
        levels.extend(report.page.levels);
        unmapped.extend(report.unmapped);
        match report.page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(levels.len(), 4, "{levels:?}");
    let mug = levels
        .iter()
        .find(|l| l.item == item(MUG) && l.location == loc("store-1"))
        .expect("the mug in the store");
    assert_eq!((mug.sku.clone(), mug.available), (Some(sku("MUG")), 10));
    assert!(
        unmapped.iter().any(|u| u.what.contains(NAMELESS)),
        "{unmapped:?}"
    );
    assert!(
        unmapped.iter().any(|u| u.what.contains("LBACKOFFICE")),
        "{unmapped:?}"
    );
    assert_eq!(connector.item_for(&sku("CAP")), Some(item(CAP)));
    assert_conforming(&fake);
}

#[tokio::test]
async fn config_overrides_win_over_the_variation_sku() {
    let fake = account().await;
    let mut s = settings(&fake);
    s.variations.insert(NAMELESS.into(), sku("STICKER"));
    let connector = connector(s);
    let levels = connector.list(None).await.expect("listing").levels;
    let sticker = levels
        .iter()
        .find(|l| l.item == item(NAMELESS))
        .expect("listed");
    assert_eq!(sticker.sku, Some(sku("STICKER")));
    assert_conforming(&fake);
}

#[tokio::test]
async fn reads_the_in_stock_count_of_items() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    fake.sale(MUG, STORE, 3);
    let levels = connector.read(&[item(MUG)]).await.expect("read");
    let at = |l: &str| {
        levels
            .iter()
            .find(|x| x.location == loc(l))
            .map(|x| x.available)
    };
    assert_eq!((at("store-1"), at("showroom")), (Some(7), Some(6)));
    assert_conforming(&fake);
}

#[tokio::test]
async fn a_store_sale_and_a_count_in_the_same_minute_are_both_kept() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    connector.list(None).await.expect("learn the catalog");
    let mut cursor = None;
    let before = poll_all(&connector, &mut cursor).await;
    assert_eq!(
        before.len(),
        2,
        "the builder's counts at the store: {before:?}"
    );
    let sale = fake.sale(MUG, STORE, 1);
    let count = fake.physical_count(CAP, STORE, 5);
    fake.sale(MUG, SHOWROOM, 1); // not a location Square owns: not polled
    let events = poll_all(&connector, &mut cursor).await;
    let sale_event = events
        .iter()
        .find(|e| e.id.as_str() == format!("square/{sale}"))
        .expect("the sale");
    assert_eq!(
        sale_event.change,
        StockChange::Adjusted {
            location: loc("store-1"),
            by: -1,
            reason: format!("square {sale} IN_STOCK→SOLD")
        }
    );
    let count_event = events
        .iter()
        .find(|e| e.id.as_str() == format!("square/{count}"))
        .expect("the count");
    assert!(matches!(
        count_event.change,
        StockChange::LevelObserved { quantity: 5, .. }
    ));
    assert!(
        events
            .iter()
            .all(|e| e.change.location() == Some(&loc("store-1")))
    );
    assert_conforming(&fake);
}

#[tokio::test]
async fn a_late_offline_sale_arrives_with_its_own_older_time() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    let mut cursor = None;
    poll_all(&connector, &mut cursor).await;
    let an_hour_ago = Timestamp::from_millis(chrono::Utc::now().timestamp_millis() - 3_000_000);
    let offline = fake.sale_at(MUG, STORE, 2, an_hour_ago);
    let events = poll_all(&connector, &mut cursor).await;
    let event = events
        .iter()
        .find(|e| e.id.as_str() == format!("square/{offline}"))
        .expect("the offline sale is found by when Square received it");
    assert_eq!(event.occurred_at, an_hour_ago);
    assert_conforming(&fake);
}

#[tokio::test]
async fn polls_page_and_repeat_with_the_same_ids() {
    let fake = FakeSquare::builder()
        .location(STORE)
        .variation(MUG, "MUG")
        .count(MUG, STORE, 50)
        .page_size(2)
        .start()
        .await;
    let connector = connector(
        fake.settings("sq", NOTIFICATION_URL)
            .owned_location(STORE, loc("store-1")),
    );
    let mut cursor = None;
    let seed = poll_all(&connector, &mut cursor).await;
    assert!(
        matches!(
            seed[..],
            [StockEvent {
                change: StockChange::LevelObserved { quantity: 50, .. },
                ..
            }]
        ),
        "the first poll seeds the store's count: {seed:?}"
    );
    let saved = cursor.clone();
    let sales: Vec<String> = (0..5).map(|_| fake.sale(MUG, STORE, 1)).collect();
    let first = poll_all(&connector, &mut cursor).await;
    assert_eq!(first.len(), 5, "{first:?}");
    for sale in &sales {
        assert!(
            first
                .iter()
                .any(|e| e.id.as_str() == format!("square/{sale}")),
            "{sale}"
        );
    }
    // Polling again from the saved cursor (a crash before the next one was saved) gives the
    // same events with the same ids.
    let again = poll_all(&connector, &mut saved.clone()).await;
    assert_eq!(first, again);
    // A fresh start seeds from the count as it is now, the sales inside it.
    let reseed = connector.poll(None).await.expect("seed").events;
    assert!(
        matches!(
            reseed[..],
            [StockEvent {
                change: StockChange::LevelObserved { quantity: 45, .. },
                ..
            }]
        ),
        "{reseed:?}"
    );
    assert_conforming(&fake);
}

#[tokio::test]
async fn holds_are_adjustments_out_of_in_stock_and_back() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    let mut cursor = None;
    poll_all(&connector, &mut cursor).await;
    let outcome = connector
        .push_deltas(&[delta("hold-1", MUG, "store-1", -2)])
        .await
        .expect("hold");
    assert_eq!(outcome, vec![PushOutcome::Applied]);
    assert_eq!(fake.level(MUG, STORE), Some(8));
    let hold = fake.changes().pop().expect("a change");
    assert_eq!(
        hold.kind,
        Kind::Adjustment {
            from: "IN_STOCK".into(),
            to: "NONE".into()
        }
    );
    assert_eq!(hold.reference_id.as_deref(), Some("omnistock:hold-1"));
    connector
        .push_deltas(&[delta("release-1", MUG, "store-1", 2)])
        .await
        .expect("release");
    assert_eq!(fake.level(MUG, STORE), Some(10));
    // Our own changes come back in the feed and are skipped as echoes; a sale is not.
    let sale = fake.sale(MUG, STORE, 1);
    let events = poll_all(&connector, &mut cursor).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].id.as_str(), format!("square/{sale}"));
    assert_conforming(&fake);
}

#[tokio::test]
async fn a_hold_never_overwrites_a_sale_made_in_the_store_a_second_earlier() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    // We read 10; the till sells one; our hold of 1 lands on top of the sale.
    fake.sale(MUG, STORE, 1);
    connector
        .push_deltas(&[delta("hold-2", MUG, "store-1", -1)])
        .await
        .expect("hold");
    assert_eq!(fake.level(MUG, STORE), Some(8));
    assert!(
        fake.changes()
            .iter()
            .all(|c| !matches!(c.kind, Kind::PhysicalCount { .. }) || c.reference_id.is_none())
    );
    assert_conforming(&fake);
}

#[tokio::test]
async fn a_retried_push_with_the_same_idempotency_key_is_applied_once() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    let batch = [
        delta("k-1", MUG, "store-1", -1),
        delta("k-2", CAP, "store-1", -1),
    ];
    for _ in 0..3 {
        let outcome = connector.push_deltas(&batch).await.expect("push");
        assert_eq!(outcome, vec![PushOutcome::Applied, PushOutcome::Applied]);
    }
    assert_eq!(
        (fake.level(MUG, STORE), fake.level(CAP, STORE)),
        (Some(9), Some(3))
    );
    // The answer to the first was lost: the same push after a slow (timed out) one.
    fake.fail_next(Failure::Slow);
    let lost = connector
        .push_deltas(&[delta("k-3", MUG, "store-1", -1)])
        .await;
    assert!(
        matches!(lost, Err(ConnectorError::Retryable(_))),
        "{lost:?}"
    );
    let outcome = connector
        .push_deltas(&[delta("k-3", MUG, "store-1", -1)])
        .await
        .expect("re-sent");
    assert_eq!(outcome, vec![PushOutcome::Applied]);
    assert_eq!(fake.level(MUG, STORE), Some(8));
    assert_conforming(&fake);
}

#[tokio::test]
async fn big_batches_go_in_calls_of_at_most_100_changes() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    let batch: Vec<DeltaRequest> = (0..150)
        .map(|i| delta(&format!("b-{i}"), MUG, "store-1", -1))
        .collect();
    let outcome = connector.push_deltas(&batch).await.expect("push");
    assert!(outcome.iter().all(|o| *o == PushOutcome::Applied));
    assert_eq!(fake.level(MUG, STORE), Some(10 - 150));
    assert_eq!(fake.stats().largest_batch, 100);
    assert_conforming(&fake);
}

#[tokio::test]
async fn an_unknown_variation_is_rejected_alone() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    let batch = [
        delta("u-1", MUG, "store-1", -1),
        delta("u-2", "VGONE", "store-1", -1),
        delta("u-3", MUG, "nowhere", -1),
    ];
    let outcome = connector.push_deltas(&batch).await.expect("push");
    assert_eq!(outcome[0], PushOutcome::Applied);
    assert!(
        matches!(&outcome[1], PushOutcome::Rejected(m) if m.contains("NOT_FOUND")),
        "{outcome:?}"
    );
    assert!(
        matches!(&outcome[2], PushOutcome::Rejected(m) if m.contains("not mapped")),
        "{outcome:?}"
    );
    assert_eq!(fake.level(MUG, STORE), Some(9));
    assert_conforming(&fake);
}

#[tokio::test]
async fn a_count_where_square_is_not_the_owner_is_set_after_a_re_read() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    let push = |key: &str, expected, target| PushRequest {
        idempotency_key: key.into(),
        item: item(MUG),
        location: loc("showroom"),
        expected,
        target,
    };
    let outcome = connector.push(&[push("s-1", 6, 4)]).await.expect("push");
    assert_eq!(outcome, vec![PushOutcome::Applied]);
    assert_eq!(fake.level(MUG, SHOWROOM), Some(4));
    // Sent again after it applied: still Applied, nothing more.
    assert_eq!(
        connector.push(&[push("s-1", 6, 4)]).await.expect("again"),
        vec![PushOutcome::Applied]
    );
    // The showroom sold one meanwhile: stale, and nothing is overwritten.
    fake.sale(MUG, SHOWROOM, 1);
    let outcome = connector.push(&[push("s-2", 4, 7)]).await.expect("push");
    assert_eq!(outcome, vec![PushOutcome::StaleCompare { actual: Some(3) }]);
    assert_eq!(fake.level(MUG, SHOWROOM), Some(3));
    assert_conforming(&fake);
}

#[tokio::test]
async fn failures_map_to_what_the_engine_does_next() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    fake.fail_next(Failure::RateLimited);
    assert!(matches!(
        connector.read(&[item(MUG)]).await,
        Err(ConnectorError::RateLimited { .. })
    ));
    fake.fail_next(Failure::ServerError);
    assert!(matches!(
        connector.read(&[item(MUG)]).await,
        Err(ConnectorError::Retryable(_))
    ));
    fake.fail_next(Failure::Garbage);
    assert!(matches!(
        connector.read(&[item(MUG)]).await,
        Err(ConnectorError::Retryable(_))
    ));
    fake.fail_next(Failure::Slow);
    assert!(matches!(
        connector.read(&[item(MUG)]).await,
        Err(ConnectorError::Retryable(_))
    ));
    assert!(
        connector.read(&[item(MUG)]).await.is_ok(),
        "the next call works"
    );
    let mut wrong = settings(&fake);
    wrong.access_token = "EAAA-revoked".into();
    let denied = omnistock_square::SquareConnector::new(wrong)
        .expect("valid")
        .read(&[item(MUG)])
        .await;
    assert!(matches!(denied, Err(ConnectorError::Permanent(m)) if m.contains("UNAUTHORIZED")));
    assert_conforming(&fake);
}

#[tokio::test]
async fn the_fake_refuses_read_only_states_and_old_times_like_square() {
    let fake = account().await;
    let post = |body: serde_json::Value| {
        reqwest::Client::new()
            .post(format!("{}/v2/inventory/changes/batch-create", fake.uri()))
            .bearer_auth(omnistock_square::fake::DEFAULT_TOKEN)
            .header("Square-Version", "2025-08-20")
            .json(&body)
            .send()
    };
    let now = Timestamp::from_millis(chrono::Utc::now().timestamp_millis());
    let change = |to: &str, at: Timestamp| {
        json!({ "idempotency_key": format!("{to}{at}"), "changes": [{ "type": "ADJUSTMENT",
        "adjustment": { "from_state": "IN_STOCK", "to_state": to, "location_id": STORE,
        "catalog_object_id": MUG, "quantity": "1", "occurred_at": at.to_rfc3339() } }] })
    };
    let refused = post(change("RESERVED_FOR_SALE", now))
        .await
        .expect("answer");
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(body["errors"][0]["field"], "changes[0].adjustment.to_state");
    let old = Timestamp::from_millis(now.as_millis() - 25 * 3_600_000);
    let refused = post(change("SOLD", old)).await.expect("answer");
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], "INVALID_TIME");
    assert_eq!(fake.level(MUG, STORE), Some(10));
}

#[tokio::test]
async fn webhooks_are_verified_over_the_notification_url_and_body() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    connector.list(None).await.expect("learn the catalog");
    let body = fake.count_updated_body(MUG, SHOWROOM);
    let headers = fake.webhook_headers(NOTIFICATION_URL, &body);
    let report = connector
        .parse_webhook_report(&headers, &body)
        .expect("signed");
    assert!(matches!(
        report.events[0].change,
        StockChange::LevelObserved { quantity: 6, .. }
    ));
    // A redelivery is the same event (same id): the daemon's dedup drops it.
    assert_eq!(
        connector.parse_webhook(&headers, &body).expect("again"),
        report.events
    );
    // At the store Square owns, the total includes our holds: poll the changes instead.
    let store = fake.count_updated_body(MUG, STORE);
    let report = connector
        .parse_webhook_report(&fake.webhook_headers(NOTIFICATION_URL, &store), &store)
        .expect("signed");
    assert!(report.poll_now && report.events.is_empty());
    let elsewhere = fake.webhook_headers("https://omni.example/v1/webhooks/other", &body);
    assert!(matches!(
        connector.parse_webhook(&elsewhere, &body),
        Err(ConnectorError::BadInput(_))
    ));
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert!(matches!(
        connector.parse_webhook(&headers, &tampered),
        Err(ConnectorError::BadInput(_))
    ));
    let garbage = b"{\"merchant_id\": ";
    let signed = fake.webhook_headers(NOTIFICATION_URL, garbage);
    assert!(matches!(
        connector.parse_webhook(&signed, garbage),
        Err(ConnectorError::BadInput(_))
    ));
}

#[tokio::test]
async fn a_new_variation_is_learned_after_the_catalog_event() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    connector.list(None).await.expect("learn the catalog");
    fake.add_variation("VHAT", "HAT");
    let sale = {
        fake.physical_count("VHAT", SHOWROOM, 3);
        fake.count_updated_body("VHAT", SHOWROOM)
    };
    let report = connector
        .parse_webhook_report(&fake.webhook_headers(NOTIFICATION_URL, &sale), &sale)
        .expect("signed");
    assert!(report.events.is_empty() && report.poll_now, "{report:?}");
    assert!(report.unmapped[0].reason.contains("unknown item variation"));
    let catalog = fake.catalog_updated_body();
    let report = connector
        .parse_webhook_report(&fake.webhook_headers(NOTIFICATION_URL, &catalog), &catalog)
        .expect("signed");
    assert!(report.poll_now);
    connector
        .poll(None)
        .await
        .expect("a poll reloads the catalog");
    assert_eq!(connector.item_for(&sku("HAT")), Some(item("VHAT")));
    let report = connector
        .parse_webhook_report(&fake.webhook_headers(NOTIFICATION_URL, &sale), &sale)
        .expect("signed");
    assert_eq!(report.events.len(), 1);
    assert_conforming(&fake);
}
