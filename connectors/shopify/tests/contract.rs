//! The Shopify connector against the contract-exact fake: reading, pushing, rate limits,
//! webhooks and registration, each with the bad inputs that go with it.

mod common;

use std::time::Duration;

use common::*;
use omnistock_sdk::{
    Connector, ConnectorError, DeltaRequest, PushOutcome, PushRequest, StockChange,
};
use omnistock_shopify::fake::{Failure, FakeShopify, SAMPLE_LINE_ID, SAMPLE_ORDER_ID};
use omnistock_shopify::{ApiVersion, WebhookAction};

fn push(key: &str, id: u64, expected: i64, target: i64) -> PushRequest {
    PushRequest {
        idempotency_key: key.into(),
        item: item(id),
        location: loc("store-1"),
        expected,
        target,
    }
}

async fn list_all(
    c: &dyn Connector,
) -> (Vec<omnistock_sdk::ItemLevel>, Vec<omnistock_sdk::Unmapped>) {
    let (mut levels, mut unmapped, mut cursor) = (Vec::new(), Vec::new(), None);
    loop {
        let report = c.list_report(cursor).await.expect("listing works");
        levels.extend(report.page.levels);
        unmapped.extend(report.unmapped);
        match report.page.next {
            Some(next) => cursor = Some(next),
            None => return (levels, unmapped),
        }
    }
}

// ---- reading ----

#[tokio::test]
async fn listing_maps_skus_and_locations_and_reports_the_rest() {
    let fake = shop().await;
    let c = connector(settings(&fake));
    let (levels, unmapped) = list_all(&c).await;
    let tshirt = levels
        .iter()
        .find(|l| l.item == item(TSHIRT))
        .expect("listed");
    assert_eq!(
        tshirt.sku.as_ref().map(|s| s.as_str()),
        Some("TSHIRT-RED-M")
    );
    assert_eq!(tshirt.location, loc("store-1"));
    assert_eq!(tshirt.available, 3);
    assert_eq!(
        levels.len(),
        3,
        "the pop-up level is not guessed: {levels:?}"
    );
    assert!(
        unmapped
            .iter()
            .any(|u| u.what.contains(&format!("Location/{POPUP}"))
                && u.reason == "location not in config")
    );
    assert!(unmapped.iter().any(|u| u.what == item(NO_SKU).to_string()));
    let no_sku = levels
        .iter()
        .find(|l| l.item == item(NO_SKU))
        .expect("listed");
    assert_eq!(no_sku.sku, None);
}

#[tokio::test]
async fn levels_carry_every_named_quantity() {
    let fake = shop().await;
    let c = connector(settings(&fake));
    let page = c.list_levels(None).await.expect("listing works");
    let level = page
        .levels
        .iter()
        .find(|l| l.item_id == TSHIRT && l.shopify_location == STORE)
        .expect("listed");
    for name in ["available", "on_hand", "committed", "reserved", "incoming"] {
        assert!(
            level.quantities.contains_key(name),
            "{name} in {:?}",
            level.quantities
        );
    }
    assert_eq!(level.quantities["on_hand"], 3);
}

#[tokio::test]
async fn listing_pages_with_cursors_and_keeps_each_query_under_1000_points() {
    let fake = FakeShopify::builder()
        .many_variants("SKU", 1_000, 130, &[(STORE, 4)])
        .bucket(20_000.0, 1_000.0)
        .start()
        .await;
    let c = connector(settings(&fake));
    let (levels, _) = list_all(&c).await;
    assert_eq!(levels.len(), 130);
    let stats = fake.stats();
    assert!(stats.max_requested_cost <= 1000.0, "{stats:?}");
    assert_eq!(stats.requests, 3, "55 items a page: {stats:?}");
}

#[tokio::test]
async fn an_item_stocked_at_more_locations_than_a_page_asks_is_completed() {
    let locations: Vec<(u64, i64)> = (1..=7).map(|l| (l, l as i64)).collect();
    let fake = FakeShopify::builder()
        .variant("WIDE", 42, &locations)
        .start()
        .await;
    let mut s = settings(&fake);
    for (l, _) in &locations {
        s = s.location(l.to_string(), loc(&format!("loc-{l}")));
    }
    s.levels_per_item = 2;
    let c = connector(s);
    let (levels, unmapped) = list_all(&c).await;
    assert_eq!(levels.len(), 7, "{levels:?} {unmapped:?}");
    assert!(
        levels
            .iter()
            .any(|l| l.location == loc("loc-7") && l.available == 7)
    );
}

#[tokio::test]
async fn reading_some_items_reports_the_unknown_ones() {
    let fake = shop().await;
    let c = connector(settings(&fake));
    let page = c
        .read_levels(&[item(MUG), item(777)])
        .await
        .expect("read works");
    assert_eq!(page.levels.len(), 1);
    assert_eq!(page.levels[0].quantities["available"], 10);
    assert!(page.unmapped.iter().any(|u| u.what.ends_with("/777")));
    let levels = c.read(&[item(TSHIRT)]).await.expect("read works");
    assert_eq!(levels.len(), 1, "the unmapped pop-up is left out");
}

// ---- pushing ----

#[tokio::test]
async fn a_push_is_compare_and_set_with_an_idempotency_key() {
    let fake = shop().await;
    let c = connector(settings(&fake));
    let request = push("outbox-1", MUG, 10, 7);
    assert_eq!(
        c.push(std::slice::from_ref(&request)).await,
        Ok(vec![PushOutcome::Applied])
    );
    assert_eq!(fake.level(MUG, STORE), Some(7));
    let sent = fake.requests().pop().expect("one request");
    let query = sent["query"].as_str().expect("query");
    assert!(
        query.contains("@idempotent(key: $idempotencyKey)"),
        "{query}"
    );
    let q = &sent["variables"]["input"]["quantities"][0];
    assert_eq!(q["changeFromQuantity"], 10);
    assert!(q.get("compareQuantity").is_none());
    let uri = sent["variables"]["input"]["referenceDocumentUri"]
        .as_str()
        .expect("uri");
    assert!(uri.starts_with("omnistock://push/omnistock-"), "{uri}");
    assert!(uri.ends_with(sent["variables"]["idempotencyKey"].as_str().expect("key")));

    // The outbox re-sends after a crash: Shopify replays, nothing moves twice.
    assert_eq!(c.push(&[request]).await, Ok(vec![PushOutcome::Applied]));
    assert_eq!(fake.level(MUG, STORE), Some(7));
    let stats = fake.stats();
    assert_eq!((stats.mutations_applied, stats.idempotent_replays), (1, 1));
}

#[tokio::test]
async fn a_stale_compare_is_reported_and_never_overwrites_a_sale() {
    let fake = shop().await;
    let c = connector(settings(&fake));
    fake.set_available(TSHIRT, STORE, 2); // sold in the shop, we haven't heard yet
    let outcomes = c
        .push(&[push("o-1", TSHIRT, 3, 5), push("o-2", MUG, 10, 12)])
        .await
        .expect("push works");
    assert_eq!(
        outcomes,
        vec![
            PushOutcome::StaleCompare { actual: None },
            PushOutcome::Applied
        ]
    );
    assert_eq!(fake.level(TSHIRT, STORE), Some(2), "the sale stays");
    assert_eq!(
        fake.level(MUG, STORE),
        Some(12),
        "the rest of the batch is applied"
    );
}

#[tokio::test]
async fn a_retried_stale_push_gets_a_new_key_instead_of_failing_forever() {
    let fake = shop().await;
    let c = connector(settings(&fake));
    fake.set_available(MUG, STORE, 9);
    let stale = push("o-1", MUG, 10, 12);
    assert_eq!(
        c.push(std::slice::from_ref(&stale)).await,
        Ok(vec![PushOutcome::StaleCompare { actual: None }])
    );
    // The number comes back to what we expected; the same push is now right, and Shopify
    // answers its old key with IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED.
    fake.set_available(MUG, STORE, 10);
    assert_eq!(c.push(&[stale]).await, Ok(vec![PushOutcome::Applied]));
    assert_eq!(fake.level(MUG, STORE), Some(12));
}

#[tokio::test]
async fn shops_pinned_to_2025_use_compare_quantity() {
    let fake = shop().await;
    let mut s = settings(&fake);
    s.api_version = "2025-10".parse::<ApiVersion>().expect("valid");
    let c = connector(s);
    assert_eq!(
        c.push(&[push("o-1", MUG, 10, 8)]).await,
        Ok(vec![PushOutcome::Applied])
    );
    let sent = fake.requests().pop().expect("one request");
    assert!(
        !sent["query"]
            .as_str()
            .expect("query")
            .contains("@idempotent")
    );
    assert_eq!(
        sent["variables"]["input"]["quantities"][0]["compareQuantity"],
        10
    );
    fake.set_available(MUG, STORE, 1);
    assert_eq!(
        c.push(&[push("o-2", MUG, 8, 9)]).await,
        Ok(vec![PushOutcome::StaleCompare { actual: None }])
    );
    assert_eq!(fake.level(MUG, STORE), Some(1));
}

#[tokio::test]
async fn more_than_250_quantities_go_in_several_mutations() {
    let fake = FakeShopify::builder()
        .many_variants("SKU", 1, 300, &[(STORE, 5)])
        .start()
        .await;
    let c = connector(settings(&fake));
    let batch: Vec<PushRequest> = (1..=300)
        .map(|i| push(&format!("o-{i}"), i, 5, 6))
        .collect();
    let outcomes = c.push(&batch).await.expect("push works");
    assert!(outcomes.iter().all(|o| *o == PushOutcome::Applied));
    assert_eq!(fake.stats().largest_batch, 250);
    assert_eq!(fake.level(300, STORE), Some(6));
}

#[tokio::test]
async fn a_push_to_a_location_not_in_config_is_rejected_not_sent() {
    let fake = shop().await;
    let c = connector(settings(&fake));
    let mut request = push("o-1", MUG, 10, 11);
    request.location = loc("wh-9");
    let outcomes = c.push(&[request]).await.expect("push works");
    assert!(matches!(&outcomes[0], PushOutcome::Rejected(m) if m.contains("wh-9")));
    assert_eq!(fake.stats().requests, 0);
}

#[tokio::test]
async fn deltas_use_inventory_adjust_quantities_once() {
    let fake = shop().await;
    let c = connector(settings(&fake));
    let delta = DeltaRequest {
        idempotency_key: "adj-1".into(),
        item: item(MUG),
        location: loc("store-1"),
        by: -2,
    };
    for _ in 0..2 {
        assert_eq!(
            c.push_deltas(std::slice::from_ref(&delta)).await,
            Ok(vec![PushOutcome::Applied])
        );
    }
    assert_eq!(fake.level(MUG, STORE), Some(8));
    let sent = fake.requests().pop().expect("sent");
    assert!(
        sent["query"]
            .as_str()
            .expect("query")
            .contains("inventoryAdjustQuantities")
    );
    assert!(sent["variables"]["input"]["changes"][0]["changeFromQuantity"].is_null());
}

// ---- failures and rate limits ----

#[tokio::test]
async fn http_429_is_rate_limited_with_its_retry_after() {
    let fake = shop().await;
    let c = connector(settings(&fake));
    fake.fail_next(Failure::TooManyRequests {
        retry_after_secs: 2.0,
    });
    match c.list(None).await {
        Err(ConnectorError::RateLimited { retry_after, .. }) => {
            assert_eq!(retry_after, Duration::from_secs(2))
        }
        other => panic!("{other:?}"),
    }
    assert!(c.list(None).await.is_ok());
}

#[tokio::test]
async fn throttled_is_rate_limited() {
    let fake = shop().await;
    let c = connector(settings(&fake));
    fake.fail_next(Failure::Throttled);
    assert!(matches!(
        c.push(&[push("o-1", MUG, 10, 11)]).await,
        Err(ConnectorError::RateLimited { .. })
    ));
    assert_eq!(fake.level(MUG, STORE), Some(10));
}

#[tokio::test]
async fn server_errors_garbage_and_timeouts_are_retryable() {
    let fake = shop().await;
    let c = connector(settings(&fake));
    for failure in [Failure::ServerError, Failure::Garbage, Failure::Slow] {
        fake.fail_next(failure.clone());
        match c.list(None).await {
            Err(ConnectorError::Retryable(message)) => {
                if failure == Failure::Slow {
                    assert!(message.contains("timed out"), "{message}");
                }
                if failure == Failure::Garbage {
                    assert!(message.contains("502 Bad Gateway"), "{message}");
                }
            }
            other => panic!("{failure:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_refused_connection_is_retryable() {
    let fake = shop().await;
    let mut s = settings(&fake);
    s.shop_url = "http://127.0.0.1:9".into();
    let c = connector(s);
    assert!(matches!(
        c.list(None).await,
        Err(ConnectorError::Retryable(_))
    ));
}

#[tokio::test]
async fn a_wrong_token_is_permanent() {
    let fake = shop().await;
    let mut s = settings(&fake);
    s.access_token = "shpat_wrong".into();
    let c = connector(s);
    assert!(matches!(
        c.list(None).await,
        Err(ConnectorError::Permanent(_))
    ));
}

#[tokio::test]
async fn the_connector_waits_for_the_bucket_instead_of_being_throttled() {
    // 50 points refilled at 500/s; 20 mutations of 10 points need 150 more than the bucket.
    let fake = FakeShopify::builder()
        .variant("MUG", MUG, &[(STORE, 0)])
        .bucket(50.0, 500.0)
        .start()
        .await;
    let c = connector(settings(&fake));
    for i in 0..20 {
        let outcome = c.push(&[push(&format!("o-{i}"), MUG, i, i + 1)]).await;
        assert_eq!(outcome, Ok(vec![PushOutcome::Applied]), "push {i}");
    }
    assert_eq!(fake.stats().throttled, 0);
    assert_eq!(fake.level(MUG, STORE), Some(20));
    assert!(c.throttle_status().is_some());
}

#[tokio::test]
async fn a_long_refill_is_handed_back_as_rate_limited_without_a_call() {
    let fake = FakeShopify::builder()
        .variant("MUG", MUG, &[(STORE, 0)])
        .bucket(30.0, 1.0)
        .start()
        .await;
    let c = connector(settings(&fake));
    for i in 0..3 {
        assert_eq!(
            c.push(&[push(&format!("o-{i}"), MUG, i, i + 1)]).await,
            Ok(vec![PushOutcome::Applied])
        );
    }
    let before = fake.stats().requests;
    match c.push(&[push("o-3", MUG, 3, 4)]).await {
        Err(ConnectorError::RateLimited { retry_after, .. }) => {
            assert!(retry_after > Duration::from_secs(2), "{retry_after:?}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fake.stats().requests,
        before,
        "no call the bucket cannot pay"
    );
    assert_eq!(fake.stats().throttled, 0);
}

// ---- webhooks ----

#[tokio::test]
async fn a_level_update_is_observed_once_the_item_is_known() {
    let fake = shop().await;
    let c = connector(settings(&fake));
    let (headers, body) = fake.webhook(
        "inventory_levels/update",
        fake.sample_body("inventory_levels/update"),
    );
    let report = c.parse_webhook_report(&headers, &body).expect("valid");
    assert!(report.events.is_empty());
    assert!(
        report.unmapped[0].reason.starts_with("unknown SKU"),
        "{report:?}"
    );

    list_all(&c).await;
    let events = c.parse_webhook(&headers, &body).expect("valid");
    assert_eq!(events.len(), 1);
    // The sample is about the first variant by item id: the mug.
    assert_eq!(events[0].sku.as_str(), "MUG");
    assert_eq!(
        events[0].change,
        StockChange::LevelObserved {
            location: loc("store-1"),
            quantity: 10
        }
    );
    assert!(events[0].id.as_str().ends_with("/inventory_levels/update"));
}

#[tokio::test]
async fn the_daemons_catalog_can_teach_skus_before_a_listing() {
    let fake = shop().await;
    let c = connector(settings(&fake));
    c.learn_skus([(item(MUG), omnistock_sdk::Sku::new("MUG").expect("sku"))]);
    let (headers, body) = fake.webhook(
        "inventory_levels/update",
        fake.sample_body("inventory_levels/update"),
    );
    assert_eq!(c.parse_webhook(&headers, &body).expect("valid").len(), 1);
}

#[tokio::test]
async fn an_order_opens_one_reservation_per_line() {
    let fake = shop().await;
    let c = connector(settings(&fake));
    let mut order: serde_json::Value =
        serde_json::from_slice(&fake.sample_body("orders/create")).expect("json");
    let mut no_sku = order["line_items"][0].clone();
    no_sku["id"] = 2.into();
    no_sku["sku"] = serde_json::Value::Null;
    order["line_items"]
        .as_array_mut()
        .expect("lines")
        .push(no_sku);
    let (headers, body) = fake.webhook("orders/create", order.to_string().into_bytes());
    let report = c.parse_webhook_report(&headers, &body).expect("valid");
    assert_eq!(report.events.len(), 1, "{report:?}");
    assert_eq!(
        report.events[0].change,
        StockChange::OrderLineOpened {
            order: omnistock_sdk::OrderId::new(SAMPLE_ORDER_ID.to_string()).expect("id"),
            line: SAMPLE_LINE_ID.to_string(),
            location: loc("store-1"),
            quantity: 1,
        }
    );
    let event_id = header(&headers, "X-Shopify-Event-Id");
    assert_eq!(
        report.events[0].id.as_str(),
        format!("{event_id}/orders/create/{SAMPLE_LINE_ID}")
    );
    assert_eq!(report.unmapped.len(), 1, "the line without SKU is reported");
    // A redelivery yields the same ids, so the daemon's dedup drops it.
    assert_eq!(
        c.parse_webhook(&headers, &body).expect("valid"),
        report.events
    );
}

fn header(headers: &[(String, String)], name: &str) -> String {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .expect("header")
}

#[tokio::test]
async fn a_pos_order_at_an_unmapped_location_is_reported_not_guessed() {
    let fake = shop().await;
    let c = connector(settings(&fake));
    let mut order: serde_json::Value =
        serde_json::from_slice(&fake.sample_body("orders/create")).expect("json");
    order["location_id"] = POPUP.into();
    let (headers, body) = fake.webhook("orders/create", order.to_string().into_bytes());
    let report = c.parse_webhook_report(&headers, &body).expect("valid");
    assert!(report.events.is_empty());
    assert_eq!(report.unmapped[0].reason, "location not in config");
}

#[tokio::test]
async fn cancellations_fulfilments_and_restocking_refunds_close_lines() {
    let fake = shop().await;
    let c = connector(settings(&fake));
    let kinds: Vec<(&str, &str)> = vec![
        ("orders/cancelled", "order_line_cancelled"),
        ("orders/fulfilled", "order_line_fulfilled"),
        ("fulfillments/create", "order_line_fulfilled"),
        ("refunds/create", "order_line_cancelled"),
    ];
    for (topic, kind) in kinds {
        let (headers, body) = fake.webhook(topic, fake.sample_body(topic));
        let events = c.parse_webhook(&headers, &body).expect(topic);
        assert_eq!(events.len(), 1, "{topic}");
        assert_eq!(events[0].change.kind(), kind, "{topic}");
    }
    let mut refund: serde_json::Value =
        serde_json::from_slice(&fake.sample_body("refunds/create")).expect("json");
    refund["refund_line_items"][0]["restock_type"] = "no_restock".into();
    let (headers, body) = fake.webhook("refunds/create", refund.to_string().into_bytes());
    assert!(c.parse_webhook(&headers, &body).expect("valid").is_empty());
}

#[tokio::test]
async fn a_fulfillment_carries_the_units_it_ships_and_a_fulfilled_order_the_whole_line() {
    let fake = shop().await;
    let c = connector(settings(&fake));
    let mut part: serde_json::Value =
        serde_json::from_slice(&fake.sample_body("fulfillments/create")).expect("json");
    part["line_items"][0]["quantity"] = 2.into();
    let (headers, body) = fake.webhook("fulfillments/create", part.to_string().into_bytes());
    let events = c.parse_webhook(&headers, &body).expect("valid");
    assert!(
        matches!(
            events[0].change,
            StockChange::OrderLineFulfilled {
                quantity: Some(2),
                ..
            }
        ),
        "{:?}",
        events[0].change
    );
    let (headers, body) = fake.webhook("orders/fulfilled", fake.sample_body("orders/fulfilled"));
    let events = c.parse_webhook(&headers, &body).expect("valid");
    assert!(
        matches!(
            events[0].change,
            StockChange::OrderLineFulfilled { quantity: None, .. }
        ),
        "{:?}",
        events[0].change
    );
}

#[tokio::test]
async fn a_wrong_hmac_or_a_malformed_body_is_bad_input() {
    let fake = shop().await;
    let c = connector(settings(&fake));
    let (mut headers, body) = fake.webhook("orders/create", fake.sample_body("orders/create"));
    let good = c.parse_webhook(&headers, &body);
    assert!(good.is_ok());
    for (name, value) in headers.iter_mut() {
        if name == "X-Shopify-Hmac-Sha256" {
            *value = omnistock_sdk::signature::sign_base64(b"another-secret", &[&body]);
        }
    }
    assert!(matches!(
        c.parse_webhook(&headers, &body),
        Err(ConnectorError::BadInput(_))
    ));
    let (headers, body) = fake.webhook("orders/create", b"{\"id\": 1, \"line_items\": [".to_vec());
    assert!(matches!(
        c.parse_webhook(&headers, &body),
        Err(ConnectorError::BadInput(_))
    ));
}

// ---- registration ----

#[tokio::test]
async fn registration_creates_or_updates_every_subscription_and_says_so() {
    let fake = FakeShopify::builder()
        .subscription("ORDERS_CREATE", "https://old.example/hooks")
        .start()
        .await;
    let c = connector(settings(&fake));
    let uri = "https://omnistock.example/webhooks/shopify-main";
    let actions = c.register_webhooks(uri).await.expect("registration works");
    assert_eq!(actions.len(), 6);
    assert!(actions.iter().any(|a| matches!(a,
        WebhookAction::Updated { topic, previous_uri, .. }
            if topic == "orders/create" && previous_uri == "https://old.example/hooks")));
    assert_eq!(
        actions
            .iter()
            .filter(|a| matches!(a, WebhookAction::Created { .. }))
            .count(),
        5
    );
    assert!(fake.subscriptions().iter().all(|(_, u)| u == uri));
    assert!(
        fake.subscriptions()
            .iter()
            .any(|(t, _)| t == "INVENTORY_LEVELS_UPDATE")
    );

    let again = c.register_webhooks(uri).await.expect("registration works");
    assert!(
        again
            .iter()
            .all(|a| matches!(a, WebhookAction::Unchanged { .. })),
        "{again:?}"
    );
}

// ---- the fake is no kinder than Shopify ----

async fn raw(
    fake: &FakeShopify,
    version: &str,
    query: &str,
    input: serde_json::Value,
) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("{}/admin/api/{version}/graphql.json", fake.uri()))
        .header(
            "X-Shopify-Access-Token",
            omnistock_shopify::fake::DEFAULT_TOKEN,
        )
        .json(&serde_json::json!({ "query": query, "variables": { "input": input, "k": "key-1" } }))
        .send()
        .await
        .expect("fake answers")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn the_fake_enforces_each_versions_push_rules() {
    let fake = shop().await;
    let with_key = "mutation($input: InventorySetQuantitiesInput!, $k: String!) { inventorySetQuantities(input: $input) @idempotent(key: $k) { userErrors { code field message } } }";
    let without_key = "mutation($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) { userErrors { code field message } } }";
    let quantity = |field: &str| {
        serde_json::json!({ "name": "available", "reason": "correction", "quantities": [{
            "inventoryItemId": format!("gid://shopify/InventoryItem/{MUG}"),
            "locationId": format!("gid://shopify/Location/{STORE}"), "quantity": 4, field: 10 }] })
    };
    let old_field = raw(&fake, "2026-04", with_key, quantity("compareQuantity")).await;
    assert_eq!(
        old_field["errors"][0]["extensions"]["code"],
        "INVALID_VARIABLE"
    );
    let no_key = raw(
        &fake,
        "2026-04",
        without_key,
        quantity("changeFromQuantity"),
    )
    .await;
    assert!(
        no_key["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("@idempotent")
    );
    let too_new = raw(
        &fake,
        "2025-10",
        without_key,
        quantity("changeFromQuantity"),
    )
    .await;
    assert_eq!(
        too_new["errors"][0]["extensions"]["code"],
        "INVALID_VARIABLE"
    );
    let missing = raw(&fake, "2025-10", without_key, quantity("quantity")).await;
    assert_eq!(
        missing["data"]["inventorySetQuantities"]["userErrors"][0]["code"],
        "COMPARE_QUANTITY_REQUIRED"
    );
    assert!(
        old_field["extensions"]["cost"]["throttleStatus"].is_object()
            || old_field["errors"].is_array()
    );
    // A replayed key with other inputs is a mismatch, and nothing moves.
    assert!(
        raw(&fake, "2026-04", with_key, quantity("changeFromQuantity")).await["data"].is_object()
    );
    let mut other = quantity("changeFromQuantity");
    other["quantities"][0]["quantity"] = 5.into();
    other["quantities"][0]["changeFromQuantity"] = 4.into();
    let mismatch = raw(&fake, "2026-04", with_key, other).await;
    assert_eq!(
        mismatch["data"]["inventorySetQuantities"]["userErrors"][0]["code"],
        "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"
    );
    assert_eq!(fake.level(MUG, STORE), Some(4));
}
