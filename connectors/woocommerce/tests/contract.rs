//! The connector against the fake WooCommerce, point by point of the contract notes:
//! mapping, reads, both push forms, webhooks, the poll, registration, and every bad input.

mod common;

use std::time::Duration;

use common::*;
use omnistock_sdk::{
    Connector, ConnectorError, DeltaRequest, PushForm, PushOutcome, PushRequest, StockChange,
};
use omnistock_woocommerce::api::PUSH_KEY_META;
use omnistock_woocommerce::fake::{DEFAULT_KEY, Failure, FakeWoo};
use omnistock_woocommerce::registration::DeltaProbe;
use omnistock_woocommerce::{WEBHOOK_TOPICS, WebhookAction, WooConnector};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn list_all(
    connector: &WooConnector,
) -> (Vec<omnistock_sdk::ItemLevel>, Vec<omnistock_sdk::Unmapped>) {
    let mut levels = Vec::new();
    let mut unmapped = Vec::new();
    let mut cursor = None;
    loop {
        let report = connector.list_report(cursor).await.expect("listing works");
        levels.extend(report.page.levels);
        unmapped.extend(report.unmapped);
        match report.page.next {
            Some(next) => cursor = Some(next),
            None => return (levels, unmapped),
        }
    }
}

fn delta(key: &str, item_ref: &str, by: i64) -> DeltaRequest {
    DeltaRequest {
        idempotency_key: key.into(),
        item: item(item_ref),
        location: loc("wh-eu"),
        by,
    }
}

fn set(key: &str, item_ref: &str, expected: i64, target: i64) -> PushRequest {
    PushRequest {
        idempotency_key: key.into(),
        item: item(item_ref),
        location: loc("wh-eu"),
        expected,
        target,
    }
}

// --- Mapping and reading -------------------------------------------------------------

#[tokio::test]
async fn simple_products_and_variations_map_by_sku_and_the_rest_is_reported() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    let (levels, unmapped) = list_all(&connector).await;
    let found: Vec<(String, Option<String>, i64)> = levels
        .iter()
        .map(|l| {
            (
                l.item.to_string(),
                l.sku.as_ref().map(ToString::to_string),
                l.available,
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            ("40/41".into(), Some("TSHIRT-M".into()), 3),
            ("40/42".into(), Some("TSHIRT-L".into()), 5),
            ("93".into(), Some("MUG".into()), 10),
        ]
    );
    assert!(levels.iter().all(|l| l.location == loc("wh-eu")));
    let reported: Vec<(&str, &str)> = unmapped
        .iter()
        .map(|u| (u.what.as_str(), u.reason.as_str()))
        .collect();
    assert!(
        reported
            .iter()
            .any(|(w, r)| *w == "40/43" && r.contains("no SKU of its own")),
        "{reported:?}"
    );
    assert!(
        reported
            .iter()
            .any(|(w, r)| *w == "40/44" && r.contains("parent's stock")),
        "{reported:?}"
    );
    assert!(
        reported
            .iter()
            .any(|(w, r)| *w == "95" && r.contains("not managed")),
        "{reported:?}"
    );
    assert_eq!(
        connector.item_for(&omnistock_sdk::Sku::new("TSHIRT-L").expect("sku")),
        Some(item("40/42"))
    );
}

#[tokio::test]
async fn listing_pages_by_one_hundred_with_the_paging_headers() {
    let fake = FakeWoo::builder()
        .many_simple("BULK", 1000, 250, 4)
        .start()
        .await;
    let connector = connector(settings(&fake));
    let first = connector.list(None).await.expect("page 1");
    assert_eq!(first.levels.len(), 100);
    assert_eq!(first.next.as_deref(), Some("2"));
    let (levels, _) = list_all(&connector).await;
    assert_eq!(levels.len(), 250);
    let pages: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/products")
        .map(|r| {
            (
                r.query.get("per_page").cloned(),
                r.query.get("page").cloned(),
            )
        })
        .collect();
    assert!(
        pages
            .iter()
            .all(|(per_page, _)| per_page.as_deref() == Some("100")),
        "{pages:?}"
    );
    assert!(
        pages.contains(&(Some("100".into()), Some("3".into()))),
        "{pages:?}"
    );
}

#[tokio::test]
async fn reads_products_and_variations_by_id() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    let levels = connector
        .read(&[item("93"), item("40/42"), item("777"), item("not-an-item")])
        .await
        .expect("read works");
    let mut found: Vec<(String, i64)> = levels
        .iter()
        .map(|l| (l.item.to_string(), l.available))
        .collect();
    found.sort();
    assert_eq!(found, vec![("40/42".into(), 5), ("93".into(), 10)]);
    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    assert!(
        paths.contains(&"/products/40/variations".to_owned()),
        "{paths:?}"
    );
}

// --- Errors --------------------------------------------------------------------------

#[tokio::test]
async fn wrong_keys_are_permanent() {
    let fake = shop(false).await;
    let mut s = settings(&fake);
    s.consumer_secret = "cs_wrong".into();
    let err = connector(s).list(None).await.expect_err("401");
    match err {
        ConnectorError::Permanent(m) => {
            assert!(
                m.contains("401") && m.contains("woocommerce_rest_authentication_error"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(DEFAULT_KEY, settings(&fake).consumer_key);
}

#[tokio::test]
async fn throttling_server_errors_garbage_and_timeouts_are_classified() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    fake.fail_next(Failure::TooManyRequests {
        retry_after_secs: 7,
    });
    match connector.read(&[item("93")]).await {
        Err(ConnectorError::RateLimited { retry_after, .. }) => {
            assert_eq!(retry_after, Duration::from_secs(7))
        }
        other => panic!("{other:?}"),
    }
    for failure in [
        Failure::ServerError,
        Failure::Garbage,
        Failure::Slow(Duration::from_secs(3)),
    ] {
        fake.fail_next(failure.clone());
        assert!(
            matches!(
                connector.read(&[item("93")]).await,
                Err(ConnectorError::Retryable(_))
            ),
            "{failure:?}"
        );
    }
    assert_eq!(
        connector
            .read(&[item("93")])
            .await
            .expect("works again")
            .len(),
        1
    );
}

#[tokio::test]
async fn plain_http_to_a_remote_shop_is_refused() {
    let fake = shop(false).await;
    let mut s = settings(&fake);
    s.shop_url = "http://shop.example.com".into();
    let err = WooConnector::new(s.clone()).expect_err("plain HTTP");
    assert!(err.to_string().contains("in the clear"), "{err}");
    s.allow_plain_http = true;
    assert!(WooConnector::new(s).is_ok());
}

// --- Pushing with inventory_delta ----------------------------------------------------

#[tokio::test]
async fn deltas_are_applied_on_the_server_so_a_concurrent_sale_is_kept() {
    let fake = shop(true).await;
    let connector = connector(settings(&fake));
    assert_eq!(connector.capabilities().push_forms, vec![PushForm::Delta]);
    assert_eq!(connector.capabilities().max_batch, 100);
    // The engine read 10; a customer buys 2 before our push lands.
    fake.sell_after_next_read(MUG, 2);
    connector.read(&[item("93")]).await.expect("read");
    assert_eq!(fake.stock(MUG), Some(8));
    let outcome = connector
        .push_deltas(&[delta("k1", "93", -3), delta("k2", "40/41", 4)])
        .await
        .expect("push");
    assert_eq!(outcome, vec![PushOutcome::Applied, PushOutcome::Applied]);
    assert_eq!(fake.stock(MUG), Some(5), "10 − 2 sold − 3 pushed");
    assert_eq!(fake.stock(TSHIRT_M), Some(7));
    let batches: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.path)
        .collect();
    assert_eq!(
        batches,
        vec!["/products/batch", "/products/40/variations/batch"]
    );
}

#[tokio::test]
async fn a_delta_sent_again_after_a_lost_answer_is_applied_once() {
    let fake = shop(true).await;
    let connector = connector(settings(&fake));
    // The first answer is lost (too slow), but WooCommerce applied it.
    // The read before the push is answered in time; the batch is the slow one.
    fake.fail_next(Failure::Slow(Duration::ZERO));
    fake.fail_next(Failure::Slow(Duration::from_secs(3)));
    let lost = connector.push_deltas(&[delta("k-lost", "93", -4)]).await;
    assert!(
        matches!(lost, Err(ConnectorError::Retryable(_))),
        "{lost:?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(fake.stock(MUG), Some(6));
    assert_eq!(
        fake.meta(MUG, PUSH_KEY_META),
        Some(serde_json::json!("k-lost"))
    );
    let again = connector
        .push_deltas(&[delta("k-lost", "93", -4)])
        .await
        .expect("re-sent");
    assert_eq!(again, vec![PushOutcome::Applied]);
    assert_eq!(fake.stock(MUG), Some(6), "applied once");
}

#[tokio::test]
async fn a_delta_crossed_by_a_sale_of_the_same_size_is_applied_not_rejected() {
    let fake = shop(true).await;
    let connector = connector(settings(&fake));
    // We add 2 (a restock); a customer buys 2 between the push's read and its write.
    fake.sell_after_next_read(MUG, 2);
    let outcome = connector
        .push_deltas(&[delta("k1", "93", 2)])
        .await
        .expect("push");
    assert_eq!(outcome, vec![PushOutcome::Applied]);
    assert_eq!(fake.stock(MUG), Some(10), "10 + 2 pushed − 2 sold");
    // A delta that moves the number again starts the count over.
    let outcome = connector
        .push_deltas(&[delta("k2", "93", -1)])
        .await
        .expect("push");
    assert_eq!(outcome, vec![PushOutcome::Applied]);
    assert_eq!(fake.stock(MUG), Some(9));
}

#[tokio::test]
async fn a_shop_that_ignores_inventory_delta_is_caught() {
    let fake = shop(false).await;
    let mut s = settings(&fake);
    s.inventory_delta = true;
    let connector = connector(s);
    // One unchanged number may be a sale crossing the push; three in a row are not.
    for key in ["k1", "k2"] {
        let outcome = connector
            .push_deltas(&[delta(key, "93", -3)])
            .await
            .expect("answered");
        assert_eq!(outcome, [PushOutcome::Applied], "{key}");
    }
    let outcome = connector
        .push_deltas(&[delta("k3", "93", -3)])
        .await
        .expect("answered");
    match &outcome[..] {
        [PushOutcome::Rejected(m)] => assert!(m.contains("ignored inventory_delta"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.stock(MUG), Some(10));
    let probe = connector.probe_inventory_delta().await.expect("probe");
    assert!(matches!(probe, DeltaProbe::Ignored { .. }), "{probe:?}");
}

#[tokio::test]
async fn the_probe_finds_inventory_delta_and_leaves_the_number_as_it_was() {
    let fake = shop(true).await;
    let connector = connector(settings(&fake));
    let probe = connector.probe_inventory_delta().await.expect("probe");
    assert_eq!(probe, DeltaProbe::Honoured { item: "93".into() });
    assert_eq!(fake.stock(MUG), Some(10));
}

#[tokio::test]
async fn unknown_and_unmanaged_items_are_rejected_one_by_one() {
    let fake = shop(true).await;
    let connector = connector(settings(&fake));
    let outcome = connector
        .push_deltas(&[
            delta("a", "777", 1),
            delta("b", "95", 1),
            delta("c", "40/999", 1),
            delta("d", "93", 1),
        ])
        .await
        .expect("push");
    assert!(
        matches!(&outcome[0], PushOutcome::Rejected(m) if m.contains("no such")),
        "{outcome:?}"
    );
    assert!(
        matches!(&outcome[1], PushOutcome::Rejected(m) if m.contains("does not manage")),
        "{outcome:?}"
    );
    assert!(
        matches!(&outcome[2], PushOutcome::Rejected(_)),
        "{outcome:?}"
    );
    assert_eq!(outcome[3], PushOutcome::Applied);
    assert_eq!(fake.stock(MUG), Some(11));
}

// --- Pushing with the blind set -------------------------------------------------------

#[tokio::test]
async fn the_blind_set_applies_where_the_number_is_what_we_read() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    assert_eq!(
        connector.capabilities().push_forms,
        vec![PushForm::BlindSet]
    );
    let outcome = connector
        .push(&[set("k1", "93", 10, 6), set("k2", "40/42", 5, 9)])
        .await
        .expect("push");
    assert_eq!(outcome, vec![PushOutcome::Applied, PushOutcome::Applied]);
    assert_eq!(fake.stock(MUG), Some(6));
    assert_eq!(fake.stock(TSHIRT_L), Some(9));
    let sent: Vec<serde_json::Value> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/products/batch")
        .map(|r| r.body)
        .collect();
    assert_eq!(sent[0]["update"][0]["stock_quantity"], 6);
    assert_eq!(sent[0]["update"][0]["meta_data"][0]["value"], "k1");
}

#[tokio::test]
async fn a_sale_between_our_read_and_our_set_is_kept() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    // The engine reads 10 and wants 6 (a change of −4); a customer buys 2 right after.
    fake.sell_after_next_read(MUG, 2);
    let read = connector.read(&[item("93")]).await.expect("read");
    assert_eq!(read[0].available, 10);
    let outcome = connector
        .push(&[set("k1", "93", 10, 6)])
        .await
        .expect("push");
    assert_eq!(outcome, vec![PushOutcome::StaleCompare { actual: Some(8) }]);
    assert_eq!(fake.stock(MUG), Some(8), "the sale stays in the number");
    // The engine applies its change on top of what it now reads.
    let outcome = connector
        .push(&[set("k2", "93", 8, 4)])
        .await
        .expect("push");
    assert_eq!(outcome, vec![PushOutcome::Applied]);
    assert_eq!(fake.stock(MUG), Some(4));
}

#[tokio::test]
async fn a_sale_that_lands_on_our_target_is_still_a_sale() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    // We read 10 and want 6; a customer buys exactly 4 meanwhile. The number shows 6, but
    // not because of us: reporting it applied would forget the sale.
    fake.sell_after_next_read(MUG, 4);
    connector.read(&[item("93")]).await.expect("read");
    let outcome = connector
        .push(&[set("k1", "93", 10, 6)])
        .await
        .expect("push");
    assert_eq!(outcome, vec![PushOutcome::StaleCompare { actual: Some(6) }]);
}

#[tokio::test]
async fn a_failed_re_read_after_the_set_does_not_undo_the_answer() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    fake.fail_next(Failure::Slow(Duration::ZERO));
    fake.fail_next(Failure::Slow(Duration::ZERO));
    fake.fail_next(Failure::ServerError);
    let outcome = connector
        .push(&[set("k1", "93", 10, 6)])
        .await
        .expect("push");
    assert_eq!(outcome, vec![PushOutcome::Applied]);
    assert_eq!(fake.stock(MUG), Some(6));
    let reads = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/products")
        .count();
    assert_eq!(reads, 2, "read before, re-read after");
}

#[tokio::test]
async fn a_set_sent_again_after_a_lost_answer_is_applied_once() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    fake.fail_next(Failure::Slow(Duration::ZERO));
    fake.fail_next(Failure::Slow(Duration::from_secs(3)));
    let lost = connector.push(&[set("k1", "93", 10, 6)]).await;
    assert!(
        matches!(lost, Err(ConnectorError::Retryable(_))),
        "{lost:?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    // A sale after our set; then the engine sends the same push again.
    fake.place_order("MUG", 1, "processing");
    assert_eq!(fake.stock(MUG), Some(5));
    let again = connector
        .push(&[set("k1", "93", 10, 6)])
        .await
        .expect("re-sent");
    assert_eq!(again, vec![PushOutcome::Applied]);
    assert_eq!(fake.stock(MUG), Some(5), "not set again over the sale");
}

#[tokio::test]
async fn per_item_errors_inside_the_200_are_rejections() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    fake.refuse_next_update(MUG);
    let outcome = connector
        .push(&[set("k1", "93", 10, 6), set("k2", "40/42", 5, 6)])
        .await
        .expect("push");
    assert!(
        matches!(&outcome[0], PushOutcome::Rejected(m) if m.contains("woocommerce_rest_cannot_edit")),
        "{outcome:?}"
    );
    assert_eq!(outcome[1], PushOutcome::Applied);
    assert_eq!(fake.stock(MUG), Some(10));
    assert_eq!(fake.stock(TSHIRT_L), Some(6));
    // A variation addressed through a product that has none is simply not there.
    let outcome = connector
        .push(&[set("k3", "93/42", 6, 7)])
        .await
        .expect("push");
    assert!(
        matches!(&outcome[0], PushOutcome::Rejected(m) if m.contains("no such")),
        "{outcome:?}"
    );
}

// --- Webhooks ------------------------------------------------------------------------

#[tokio::test]
async fn order_webhooks_open_and_close_reservations() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    let order = fake.place_order("TSHIRT-L", 2, "processing");
    let body = fake.order_body(order);
    let report = connector
        .parse_webhook_report(&fake.webhook_headers("order.created", &body), &body)
        .expect("signed");
    assert_eq!(report.events.len(), 1);
    let event = &report.events[0];
    assert_eq!(event.sku.as_str(), "TSHIRT-L");
    match &event.change {
        StockChange::OrderLineOpened {
            order: o,
            location,
            quantity,
            ..
        } => {
            assert_eq!(o.as_str(), order.to_string());
            assert_eq!(location, &loc("wh-eu"));
            assert_eq!(*quantity, 2);
        }
        other => panic!("{other:?}"),
    }
    // order.updated of the same modification, and a poll: the same ids.
    let updated = connector
        .parse_webhook(&fake.webhook_headers("order.updated", &body), &body)
        .expect("signed");
    assert_eq!(updated, report.events);
    // The variation was learned from the line.
    assert_eq!(
        connector.item_for(&omnistock_sdk::Sku::new("TSHIRT-L").expect("sku")),
        Some(item("40/42"))
    );
    fake.set_order_status(order, "cancelled");
    let body = fake.order_body(order);
    let events = connector
        .parse_webhook(&fake.webhook_headers("order.updated", &body), &body)
        .expect("signed");
    assert!(matches!(
        events[0].change,
        StockChange::OrderLineCancelled {
            restocked: true,
            ..
        }
    ));
    assert_ne!(events[0].id, report.events[0].id);
    assert_eq!(
        fake.stock(TSHIRT_L),
        Some(5),
        "WooCommerce put the units back"
    );
}

#[tokio::test]
async fn product_webhooks_are_what_the_shop_shows() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    fake.set_stock(TSHIRT_M, 1);
    let body = fake.product_body(TSHIRT_M);
    let events = connector
        .parse_webhook(&fake.webhook_headers("product.updated", &body), &body)
        .expect("signed");
    assert_eq!(events.len(), 1);
    assert!(
        events[0].id.as_str().starts_with("product/40/41@"),
        "{}",
        events[0].id
    );
    assert!(matches!(
        events[0].change,
        StockChange::LevelObserved { quantity: 1, .. }
    ));
}

#[tokio::test]
async fn a_variation_without_its_own_sku_is_never_taken_for_its_parent() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    // WooCommerce shows such a variation with its parent's SKU; the listing teaches us the
    // parent's.
    let body = fake.product_body(TSHIRT_NO_SKU);
    let shown: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(shown["sku"], "TSHIRT");
    list_all(&connector).await;
    let report = connector
        .parse_webhook_report(&fake.webhook_headers("product.updated", &body), &body)
        .expect("signed");
    assert!(report.events.is_empty(), "{:?}", report.events);
    assert!(
        report.unmapped[0].reason.contains("no SKU of its own"),
        "{:?}",
        report.unmapped
    );
    let order = fake.place_order_of(TSHIRT_NO_SKU, 1, "processing");
    let body = fake.order_body(order);
    let report = connector
        .parse_webhook_report(&fake.webhook_headers("order.created", &body), &body)
        .expect("signed");
    assert!(report.events.is_empty(), "{:?}", report.events);
    assert!(
        report.unmapped[0]
            .reason
            .contains("without a SKU of its own"),
        "{:?}",
        report.unmapped
    );
    assert_eq!(
        connector.item_for(&omnistock_sdk::Sku::new("TSHIRT").expect("sku")),
        None,
        "the parent's SKU is never learned for a variation"
    );
}

#[tokio::test]
async fn wrong_signatures_and_malformed_bodies_are_bad_input() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    let body = fake.product_body(MUG);
    let mut headers = fake.webhook_headers("product.updated", &body);
    for (name, value) in &mut headers {
        if name == "X-WC-Webhook-Signature" {
            *value = omnistock_sdk::signature::sign_base64(b"another secret", &[&body]);
        }
    }
    assert!(matches!(
        connector.parse_webhook(&headers, &body),
        Err(ConnectorError::BadInput(_))
    ));
    let garbage = b"{\"id\": 93, \"sku\": ";
    let headers = fake.webhook_headers("product.updated", garbage);
    assert!(matches!(
        connector.parse_webhook(&headers, garbage),
        Err(ConnectorError::BadInput(_))
    ));
    let no_lines = br#"{"id": 5, "status": "processing"}"#;
    let headers = fake.webhook_headers("order.created", no_lines);
    assert!(matches!(
        connector.parse_webhook(&headers, no_lines),
        Err(ConnectorError::BadInput(_))
    ));
    // A ping with a signature header is no ping: refused.
    let ping = b"webhook_id=12";
    let headers = fake.webhook_headers("order.created", b"other");
    assert!(matches!(
        connector.parse_webhook(&headers, ping),
        Err(ConnectorError::BadInput(_))
    ));
}

#[tokio::test]
async fn the_creation_ping_is_accepted_with_no_events() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    let headers = vec![(
        "Content-Type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let report = connector
        .parse_webhook_report(&headers, b"webhook_id=12")
        .expect("ping");
    assert!(report.events.is_empty() && report.unmapped.is_empty());
    assert!(matches!(
        connector.parse_webhook(&headers, b"webhook_id=12&x=1"),
        Err(ConnectorError::BadInput(_))
    ));
}

#[tokio::test]
async fn unknown_topics_are_reported_not_dropped_silently() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    let body = br#"{"id": 1}"#;
    let report = connector
        .parse_webhook_report(&fake.webhook_headers("coupon.updated", body), body)
        .expect("signed");
    assert!(report.events.is_empty());
    assert_eq!(report.unmapped[0].what, "topic coupon.updated");
}

// --- Polling -------------------------------------------------------------------------

#[tokio::test]
async fn the_poll_gives_the_webhooks_event_ids_and_pages_by_one_hundred() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    assert_eq!(connector.poll_interval(), Some(Duration::from_secs(60)));
    let first = fake.place_order("MUG", 1, "processing");
    let start = connector.poll(None).await.expect("first poll");
    assert_eq!(start.events.len(), 1);
    let body = fake.order_body(first);
    let hooked = connector
        .parse_webhook(&fake.webhook_headers("order.created", &body), &body)
        .expect("signed");
    assert_eq!(
        start.events, hooked,
        "same ids from the poll and the webhook"
    );
    let mut cursor = start.cursor;
    for _ in 0..150 {
        fake.place_order("MUG", 0, "pending");
    }
    fake.set_order_status(first, "completed");
    let mut events = Vec::new();
    let mut pages = 0;
    loop {
        let page = connector.poll(cursor.clone()).await.expect("poll");
        pages += 1;
        events.extend(page.events);
        cursor = page.cursor;
        if !page.more {
            break;
        }
    }
    assert_eq!(pages, 2);
    assert!(
        events
            .iter()
            .any(|e| matches!(e.change, StockChange::OrderLineFulfilled { .. }))
    );
    // Nothing new: the next sweep reads only the last second again, and its events dedup.
    let quiet = connector.poll(cursor).await.expect("poll");
    assert!(quiet.events.len() <= 1, "{:?}", quiet.events);
}

// --- Registration --------------------------------------------------------------------

#[tokio::test]
async fn connect_creates_the_webhooks_and_they_deliver_signed() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let url = format!("{}/v1/webhooks/woo-eu", receiver.uri());
    let actions = connector.register_webhooks(&url).await.expect("registered");
    assert_eq!(actions.len(), WEBHOOK_TOPICS.len());
    assert!(
        actions
            .iter()
            .all(|a| matches!(a, WebhookAction::Created { .. })),
        "{actions:?}"
    );
    assert_eq!(fake.deliver_pings().await, vec![200; 3]);
    let order = fake.place_order("MUG", 1, "processing");
    assert_eq!(fake.deliver("order.created", order).await, vec![200]);
    let received = receiver.received_requests().await.expect("recorded");
    let ping = &received[0];
    let headers: Vec<(String, String)> = ping
        .headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    assert!(
        connector.parse_webhook_report(&headers, &ping.body).is_ok(),
        "the ping is accepted"
    );
    let delivery = received.last().expect("a delivery");
    let headers: Vec<(String, String)> = delivery
        .headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let events = connector
        .parse_webhook(&headers, &delivery.body)
        .expect("signed with our secret");
    assert_eq!(events.len(), 1);
    let again = connector.register_webhooks(&url).await.expect("registered");
    assert!(
        again
            .iter()
            .all(|a| matches!(a, WebhookAction::Unchanged { .. })),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_webhook_disabled_after_failed_deliveries_is_noticed_and_reactivated() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&receiver)
        .await;
    let url = format!("{}/v1/webhooks/woo-eu", receiver.uri());
    connector.register_webhooks(&url).await.expect("registered");
    fake.deliver_pings().await;
    let order = fake.place_order("MUG", 1, "processing");
    for _ in 0..6 {
        fake.deliver("order.updated", order).await;
    }
    let inactive = connector.inactive_webhooks().await.expect("listed");
    let topics: Vec<&str> = inactive.iter().map(|w| w.topic.as_str()).collect();
    assert!(topics.contains(&"order.updated"), "{topics:?}");
    assert!(
        fake.deliver("order.updated", order).await.is_empty(),
        "WooCommerce stopped delivering"
    );
    let page = connector.poll(None).await.expect("poll");
    assert!(
        page.unmapped
            .iter()
            .any(|u| u.what.contains("order.updated") && u.reason.contains("disabled")),
        "the poll reports it: {:?}",
        page.unmapped
    );
    let actions = connector.register_webhooks(&url).await.expect("registered");
    assert!(
        actions.iter().any(
            |a| matches!(a, WebhookAction::Reactivated { topic, .. } if topic == "order.updated")
        ),
        "{actions:?}"
    );
    assert!(
        connector
            .inactive_webhooks()
            .await
            .expect("listed")
            .is_empty()
    );
}

#[tokio::test]
async fn a_webhook_pointing_elsewhere_is_moved_here() {
    let fake = builder()
        .webhook(
            "omnistock woo-eu order.created",
            "order.created",
            "https://old.example/hook",
            "active",
        )
        .start()
        .await;
    let connector = connector(settings(&fake));
    let actions = connector
        .register_webhooks("https://omnistock.example/v1/webhooks/woo-eu")
        .await
        .expect("registered");
    assert!(
        matches!(&actions[0], WebhookAction::Updated { previous_url, .. } if previous_url == "https://old.example/hook"),
        "{actions:?}"
    );
    assert!(
        fake.webhooks()
            .iter()
            .all(|w| w.delivery_url.starts_with("https://omnistock.example"))
    );
}
