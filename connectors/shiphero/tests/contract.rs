//! The ShipHero connector against its fake, following the contract notes.

mod common;

use common::*;
use omnistock_sdk::{
    Connector, ConnectorError, DeltaRequest, ItemRef, PushForm, PushOutcome, StockChange,
};
use omnistock_shiphero::fake::{self, FakeShipHero, WAREHOUSE, inventory_update, shipment_update};

fn item(sku: &str) -> ItemRef {
    ItemRef::new(sku).expect("valid item")
}

#[tokio::test]
async fn a_shipment_closes_the_online_orders_lines_in_the_shops_channel() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    let (headers, body) = fake.webhook(shipment_update(
        315_518_042,
        "Shopify Store",
        "820982911946154508",
        &[
            ("866550311766439020", "MUG", 1),
            ("866550311766439021", "TSHIRT-RED-M", 2),
        ],
    ));
    let report = connector
        .parse_webhook_report(&headers, &body)
        .expect("signed");
    assert!(report.unmapped.is_empty(), "{:?}", report.unmapped);
    let closed: Vec<_> = report
        .events
        .iter()
        .map(|e| match &e.change {
            StockChange::OrderLineFulfilled {
                order,
                line,
                channel,
                quantity,
            } => (
                e.id.to_string(),
                order.to_string(),
                line.clone(),
                channel.as_ref().map(ToString::to_string),
                *quantity,
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        closed[0],
        (
            "shipment/315518042/866550311766439020".to_owned(),
            "820982911946154508".to_owned(),
            "866550311766439020".to_owned(),
            Some("shopify-main".to_owned()),
            Some(1)
        )
    );
    assert_eq!(closed.len(), 2);
    assert_eq!(
        closed[1].4,
        Some(2),
        "each line carries the units it shipped"
    );
    // A redelivery gives the same events.
    assert_eq!(
        connector.parse_webhook(&headers, &body).expect("again"),
        report.events
    );
}

#[tokio::test]
async fn a_shipment_whose_shop_is_unknown_is_reported_not_guessed() {
    let fake = account().await;
    let mut s = settings(&fake);
    s.orders_from = None;
    s.order_channels
        .insert("Shopify Store".into(), channel("shopify-main"));
    let connector = connector(s);
    let (headers, body) =
        fake.webhook(shipment_update(1, "Amazon", "111-222", &[("L1", "MUG", 1)]));
    let report = connector
        .parse_webhook_report(&headers, &body)
        .expect("signed");
    assert!(report.events.is_empty());
    assert_eq!(report.unmapped.len(), 1);
    assert!(
        report.unmapped[0].reason.contains("\"Amazon\""),
        "{:?}",
        report.unmapped
    );
    // The mapped shop works.
    let (headers, body) = fake.webhook(shipment_update(
        2,
        "Shopify Store",
        "1001",
        &[("7", "MUG", 1)],
    ));
    assert_eq!(
        connector
            .parse_webhook(&headers, &body)
            .expect("signed")
            .len(),
        1
    );
}

#[tokio::test]
async fn bad_signatures_and_bodies_are_bad_input() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    let (mut headers, body) = fake.webhook(shipment_update(1, "S", "1001", &[("7", "MUG", 1)]));
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    assert!(matches!(
        connector.parse_webhook(&headers, &tampered),
        Err(ConnectorError::BadInput(_))
    ));
    headers.retain(|(n, _)| n != "X-ShipHero-HMAC-SHA256");
    assert!(matches!(
        connector.parse_webhook(&headers, &body),
        Err(ConnectorError::BadInput(_))
    ));
    let garbage = b"{\"webhook_type\": \"Shipment Update\"";
    let headers = fake.webhook_headers(garbage);
    assert!(matches!(
        connector.parse_webhook(&headers, garbage),
        Err(ConnectorError::BadInput(_))
    ));
    let no_fulfillment = br#"{"webhook_type": "Shipment Update"}"#;
    let headers = fake.webhook_headers(no_fulfillment);
    assert!(matches!(
        connector.parse_webhook(&headers, no_fulfillment),
        Err(ConnectorError::BadInput(_))
    ));
}

#[tokio::test]
async fn other_webhook_types_are_reported_as_not_handled() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    let (headers, body) = fake.webhook(serde_json::json!({
        "webhook_type": "Order Canceled", "test": "0",
        "order_id": "T3JkZXI6MTAx", "order_number": "#1001", "partner_order_id": "1001",
    }));
    let report = connector
        .parse_webhook_report(&headers, &body)
        .expect("signed");
    assert!(report.events.is_empty());
    assert_eq!(report.unmapped.len(), 1);
    assert_eq!(report.unmapped[0].what, "Order Canceled");
}

#[tokio::test]
async fn an_inventory_update_asks_for_a_poll() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    let (headers, body) = fake.webhook(inventory_update("MUG", 9));
    let report = connector
        .parse_webhook_report(&headers, &body)
        .expect("signed");
    assert!(report.poll_now);
    assert!(
        report.events.is_empty(),
        "totals without a count time are not merged"
    );
}

#[tokio::test]
async fn listing_pages_through_every_product_of_the_mapped_warehouses() {
    let fake = FakeShipHero::builder()
        .many_products(WAREHOUSE, "SKU", 230, 2)
        .start()
        .await;
    let connector = connector(settings(&fake));
    let mut levels = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = connector.list(cursor).await.expect("list");
        pages += 1;
        levels.extend(page.levels);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(levels.len(), 230);
    assert_eq!(pages, 3);
    assert!(
        levels
            .iter()
            .all(|l| l.location == loc("wh-east") && l.available == 2)
    );
}

#[tokio::test]
async fn reading_gives_on_hand_at_the_mapped_warehouse_only() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    let levels = connector
        .read(&[item("MUG"), item("NOPE")])
        .await
        .expect("read");
    assert_eq!(levels.len(), 1, "{levels:?}");
    assert_eq!(
        (levels[0].location.as_str(), levels[0].available),
        ("wh-east", 10)
    );
}

#[tokio::test]
async fn polling_returns_counts_changed_since_the_cursor_at_shipheros_time() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    let first = connector.poll(None).await.expect("poll");
    assert_eq!(first.events.len(), 2, "everything at first");
    assert!(!first.more);
    fake.count(WAREHOUSE, "MUG", 7, "2026-11-23T09:30:00Z");
    let second = connector.poll(first.cursor.clone()).await.expect("poll");
    // `updated_from` is inclusive: what was counted at the cursor's time comes again, with
    // the id it had, so the daemon's dedup drops it; only MUG's count is new.
    let new: Vec<_> = second
        .events
        .iter()
        .filter(|e| !first.events.iter().any(|f| f.id == e.id))
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0].sku.as_str(), "MUG");
    assert_eq!(new[0].occurred_at.to_rfc3339(), "2026-11-23T09:30:00.000Z");
    assert_eq!(
        new[0].change,
        StockChange::LevelObserved {
            location: loc("wh-east"),
            quantity: 7
        }
    );
    // Polled again from the same cursor: the same event, so the daemon's dedup drops it.
    let again = connector.poll(first.cursor).await.expect("poll");
    assert_eq!(again.events, second.events);
}

#[tokio::test]
async fn an_expired_token_is_renewed_once_and_the_call_goes_through() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    fake.expire_token();
    let levels = connector.read(&[item("MUG")]).await.expect("renewed");
    assert_eq!(levels.len(), 1);
    assert_eq!(fake.stats().refreshes, 1);
    connector
        .read(&[item("MUG")])
        .await
        .expect("the new token is kept");
    assert_eq!(fake.stats().refreshes, 1);
}

#[tokio::test]
async fn a_revoked_refresh_token_is_permanent() {
    let fake = account().await;
    let mut s = settings(&fake);
    s.refresh_token = "revoked".into();
    let connector = connector(s);
    fake.expire_token();
    match connector.read(&[item("MUG")]).await {
        Err(ConnectorError::Permanent(m)) => assert!(m.contains("renewing"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn failures_come_back_as_their_class() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    fake.fail_next(fake::Failure::NotEnoughCredits);
    match connector.list(None).await {
        Err(ConnectorError::RateLimited { retry_after, .. }) => {
            assert_eq!(retry_after, std::time::Duration::from_secs(2))
        }
        other => panic!("credits: {other:?}"),
    }
    fake.fail_next(fake::Failure::TooManyRequests {
        retry_after_secs: 3.0,
    });
    assert!(matches!(
        connector.list(None).await,
        Err(ConnectorError::RateLimited { .. })
    ));
    for failure in [
        fake::Failure::ServerError,
        fake::Failure::Garbage,
        fake::Failure::Slow,
    ] {
        fake.fail_next(failure.clone());
        assert!(
            matches!(
                connector.list(None).await,
                Err(ConnectorError::Retryable(_))
            ),
            "{failure:?}"
        );
    }
    connector.list(None).await.expect("works again");
}

#[tokio::test]
async fn the_credits_bucket_throttles_a_burst_of_queries() {
    let fake = FakeShipHero::builder()
        .product(WAREHOUSE, "MUG", 1)
        .credits(250.0, 1.0)
        .start()
        .await;
    let connector = connector(settings(&fake));
    connector.list(None).await.expect("first query is paid");
    connector.list(None).await.expect("second too");
    assert!(matches!(
        connector.list(None).await,
        Err(ConnectorError::RateLimited { .. })
    ));
}

#[tokio::test]
async fn adjustments_are_off_by_default() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    assert!(connector.capabilities().push_forms.is_empty());
    let delta = DeltaRequest {
        idempotency_key: "k1".into(),
        item: item("MUG"),
        location: loc("wh-east"),
        by: -2,
    };
    assert!(matches!(
        connector.push_deltas(&[delta]).await,
        Err(ConnectorError::Permanent(_))
    ));
    assert_eq!(fake.on_hand(WAREHOUSE, "MUG"), Some(10));
}

#[tokio::test]
async fn allowed_adjustments_are_applied_once_per_key() {
    let fake = account().await;
    let mut s = settings(&fake);
    s.allow_adjustments = true;
    let connector = connector(s);
    assert_eq!(connector.capabilities().push_forms, [PushForm::Delta]);
    let delta = |key: &str, by| DeltaRequest {
        idempotency_key: key.into(),
        item: item("MUG"),
        location: loc("wh-east"),
        by,
    };
    let out = connector
        .push_deltas(&[
            delta("count-1", -2),
            delta("count-1", -2),
            delta("count-2", 5),
        ])
        .await
        .expect("pushed");
    assert_eq!(
        out,
        [
            PushOutcome::Applied,
            PushOutcome::Applied,
            PushOutcome::Applied
        ]
    );
    assert_eq!(fake.on_hand(WAREHOUSE, "MUG"), Some(13));
    assert_eq!(fake.stats().adjustments, 2);
    let elsewhere = DeltaRequest {
        location: loc("store-1"),
        ..delta("count-3", 1)
    };
    assert!(matches!(
        connector.push_deltas(&[elsewhere]).await.expect("answered")[0],
        PushOutcome::Rejected(_)
    ));
}

#[tokio::test]
async fn after_a_shipment_the_next_poll_recounts_the_sku_no_earlier_than_the_shipment() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    let first = connector.poll(None).await.expect("poll");
    // ShipHero takes the unit off when the label is made (its updated_at), then sends the
    // shipment; we receive it later than that.
    fake.count(WAREHOUSE, "MUG", 9, "2026-11-23T09:00:00Z");
    let (headers, body) = fake.webhook(shipment_update(5, "S", "1001", &[("7", "MUG", 1)]));
    let report = connector
        .parse_webhook_report(&headers, &body)
        .expect("signed");
    assert!(report.poll_now, "a shipment asks for a poll");
    let shipped_at = report.events[0].occurred_at;
    let recount = connector.poll(first.cursor.clone()).await.expect("poll");
    assert!(recount.more);
    assert_eq!(recount.events.len(), 1, "{:?}", recount.events);
    // One SKU is read with a small page: a query costs 1 + `first` credits.
    let one_sku = fake
        .requests()
        .into_iter()
        .rev()
        .find(|r| r["variables"]["sku"] == "MUG")
        .expect("the recount's query");
    assert!(
        one_sku["variables"]["first"]
            .as_u64()
            .is_some_and(|n| n <= 5),
        "{one_sku}"
    );
    let count = &recount.events[0];
    assert_eq!(count.sku.as_str(), "MUG");
    assert_eq!(
        count.occurred_at, shipped_at,
        "stamped at the shipment's time"
    );
    assert_eq!(
        count.change,
        StockChange::LevelObserved {
            location: loc("wh-east"),
            quantity: 9
        }
    );
    // Then the poll goes on as before; the recount is not repeated.
    let next = connector.poll(first.cursor).await.expect("poll");
    assert!(next.events.iter().all(|e| e.occurred_at != shipped_at));
}

/// The `line` and units of each fulfilment in `events`.
fn shipped(events: &[omnistock_sdk::StockEvent]) -> Vec<(String, Option<u32>)> {
    events
        .iter()
        .map(|e| match &e.change {
            StockChange::OrderLineFulfilled { line, quantity, .. } => (line.clone(), *quantity),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn a_line_shipped_in_two_shipments_is_reported_part_by_part() {
    let fake = FakeShipHero::builder()
        .product(WAREHOUSE, "MUG", 10)
        .start()
        .await;
    let connector = connector(settings(&fake));
    let first = fake.ship(11, "S", "1001", &[("7", "MUG", 2)], "2026-11-23T09:00:00Z");
    assert_eq!(
        fake.on_hand(WAREHOUSE, "MUG"),
        Some(8),
        "the label takes them off"
    );
    let (headers, body) = fake.webhook(first);
    let one = connector.parse_webhook(&headers, &body).expect("signed");
    let second = fake.ship(12, "S", "1001", &[("7", "MUG", 1)], "2026-11-23T09:30:00Z");
    assert_eq!(fake.on_hand(WAREHOUSE, "MUG"), Some(7));
    let (headers, body) = fake.webhook(second);
    let two = connector.parse_webhook(&headers, &body).expect("signed");
    assert_eq!(shipped(&one), vec![("7".to_owned(), Some(2))]);
    assert_eq!(shipped(&two), vec![("7".to_owned(), Some(1))]);
    assert_ne!(one[0].id, two[0].id, "two shipments are two parts");
}

#[tokio::test]
async fn a_line_packed_in_several_packages_is_one_part_with_their_units() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    let (headers, body) = fake.webhook(shipment_update(
        21,
        "S",
        "1001",
        &[("7", "MUG", 2), ("8", "TSHIRT-RED-M", 1), ("7", "MUG", 1)],
    ));
    let events = connector.parse_webhook(&headers, &body).expect("signed");
    assert_eq!(
        shipped(&events),
        vec![("7".to_owned(), Some(3)), ("8".to_owned(), Some(1))]
    );
}

#[tokio::test]
async fn a_line_without_a_quantity_shipped_whole_and_a_bad_one_is_not_guessed() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    let mut body = shipment_update(
        31,
        "S",
        "1001",
        &[("7", "MUG", 1), ("8", "TSHIRT-RED-M", 1), ("9", "CAP", 1)],
    );
    let items = body["fulfillment"]["line_items"]
        .as_array_mut()
        .expect("line items");
    items[0].as_object_mut().expect("a line").remove("quantity");
    items[1]["quantity"] = serde_json::json!(-2);
    items[2]["quantity"] = serde_json::json!("3");
    let (headers, body) = fake.webhook(body);
    let report = connector
        .parse_webhook_report(&headers, &body)
        .expect("one bad line does not refuse the delivery");
    assert_eq!(
        shipped(&report.events),
        vec![("7".to_owned(), None), ("9".to_owned(), Some(3))]
    );
    assert_eq!(report.unmapped.len(), 1, "{:?}", report.unmapped);
    assert!(
        report.unmapped[0].what.contains("line 8") && report.unmapped[0].reason.contains("-2"),
        "{:?}",
        report.unmapped
    );
}
