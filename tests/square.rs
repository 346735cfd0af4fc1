//! A Square store in the daemon, against the contract-exact fake Square (every request body
//! checked against Square's OpenAPI schemas): a sale at the till reaches the online channel,
//! an online order against the store becomes a Square adjustment (and comes back on
//! cancellation), and a physical count taken while an online order is open counts both once.

mod common;

use std::time::Duration;

use common::config::{Channel, DaemonConfig, Running};
use common::fakes::receiver_with_mug;
use common::{Api, WEB_SECRET, cancelled, event, eventually, opened};
use omnistock_generic::fake::FakeReceiver;
use omnistock_square::fake::{DEFAULT_SIGNATURE_KEY, FakeSquare, ledger::Kind};

const TOKEN: &str = "EAAA-test-square-token";
const STORE: &str = "LSTORE01";
const MUG: &str = "VMUG0000000000000000001";
/// The URL the subscription is registered with (behind a proxy, say): Square signs it, and
/// the daemon checks the signature against it, wherever the delivery actually arrives.
const NOTIFICATION_URL: &str = "https://omnistock.example.com/v1/webhooks/square-downtown";

/// A Square store that Square counts, 10 MUGs in it; a generic web shop sells from it and
/// receives pushes; the daemon started on both.
async fn square_store_and_web_shop() -> (FakeSquare, FakeReceiver, Running) {
    let square = FakeSquare::builder()
        .access_token(TOKEN)
        .location(STORE)
        .variation(MUG, "MUG")
        .count(MUG, STORE, 10)
        .start()
        .await;
    let web = receiver_with_mug("web", WEB_SECRET).await;
    let running = DaemonConfig::new()
        .location("store-downtown", "square-downtown")
        .channel(
            "square-downtown",
            Channel::square(&square.uri(), TOKEN, DEFAULT_SIGNATURE_KEY)
                .text("notification_url", NOTIFICATION_URL)
                .raw(
                    "square_locations",
                    format!(r#"{{ "{STORE}" = "store-downtown" }}"#),
                )
                .sells_from(&["store-downtown"]),
        )
        .channel(
            "web",
            Channel::generic(WEB_SECRET)
                .sells_from(&["store-downtown"])
                .push_url(web.url()),
        )
        .start();
    (square, web, running)
}

/// Waits until the daemon's on hand at the store is `expected`.
async fn on_hand_becomes(api: &Api, expected: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut seen = None;
    while std::time::Instant::now() < deadline {
        let now = api.on_hand("MUG", "store-downtown").await;
        if now == expected {
            return;
        }
        seen = Some(now);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("on hand at the store stayed {seen:?}, expected {expected}");
}

/// Waits until the daemon has merged the event `id` (it shows in the SKU's recent changes).
async fn ingested(api: &Api, id: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let (_, stock) = api.get("/v1/stock/MUG").await;
        let recent = stock["recent"].as_array().cloned().unwrap_or_default();
        if recent.iter().any(|c| c["event_id"] == id) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the daemon never merged {id}");
}

/// Tells the daemon, as Square would, that the store's count changed.
async fn count_updated(square: &FakeSquare, daemon_url: &str) {
    let body = square.count_updated_body(MUG, STORE);
    let status = square
        .deliver(
            &format!("{daemon_url}/v1/webhooks/square-downtown"),
            NOTIFICATION_URL,
            &body,
        )
        .await;
    assert_eq!(status, 200, "the daemon accepts Square's signed webhook");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_square_store_and_an_online_channel_count_every_unit_once() {
    let (square, web, Running { api, daemon, .. }) = &square_store_and_web_shop().await;

    // The first poll seeds the store's on hand from Square's count; the web shop shows it.
    on_hand_becomes(api, 10).await;
    eventually("the web shop at 10", || web.level("MUG") == Some(10)).await;

    // A sale at the till: Square's count goes down, its webhook makes the daemon poll the
    // changes, and the web shop follows.
    square.sale(MUG, STORE, 1);
    count_updated(square, &daemon.url).await;
    on_hand_becomes(api, 9).await;
    eventually("the web shop at 9", || web.level("MUG") == Some(9)).await;

    // An online order of 2 against the store: Square is moved by an adjustment out of
    // IN_STOCK (a hold), never by a count.
    api.post_ok(
        "web",
        WEB_SECRET,
        vec![event(
            "web-o1",
            "2026-11-23T10:00:00Z",
            "MUG",
            opened("o1", "store-downtown", 2),
        )],
    )
    .await;
    eventually("Square holds the 2 units", || {
        square.level(MUG, STORE) == Some(7)
    })
    .await;
    let hold = square
        .changes()
        .into_iter()
        .find(|c| c.reference_id.is_some())
        .expect("our change");
    assert_eq!(
        (hold.kind, hold.quantity),
        (
            Kind::Adjustment {
                from: "IN_STOCK".into(),
                to: "NONE".into()
            },
            2
        )
    );
    assert!(
        hold.reference_id
            .as_deref()
            .is_some_and(|r| r.starts_with("omnistock:"))
    );

    // Our hold comes back in Square's change feed: an echo, not a store change. A till sale
    // after it is the barrier: on hand goes 9 → 8, not to 6.
    square.sale(MUG, STORE, 1);
    count_updated(square, &daemon.url).await;
    on_hand_becomes(api, 8).await;
    assert_eq!(square.level(MUG, STORE), Some(6), "8 on the shelf, 2 held");

    // The store counts its shelves while the order is open: the 2 units are still there, so
    // the count is 8. It overwrites Square's number, our hold with it; the daemon takes the
    // count as on hand and pushes the hold again, so the units are counted once and held once.
    square.physical_count(MUG, STORE, 8);
    count_updated(square, &daemon.url).await;
    eventually("Square holds the 2 units again after the count", || {
        square.level(MUG, STORE) == Some(6)
    })
    .await;
    on_hand_becomes(api, 8).await;
    let holds = square
        .changes()
        .iter()
        .filter(|c| c.reference_id.is_some())
        .count();
    assert_eq!(holds, 2, "one hold, pushed again once after the count");

    // A sale the till rang up offline a minute before that count reaches Square only now.
    // Square orders by occurred_at: the count already has it, nothing moves; the daemon
    // agrees. A till sale after it is the barrier: on hand goes 8 → 7, not to 6.
    square.sale_ago(MUG, STORE, 1, Duration::from_secs(60));
    count_updated(square, &daemon.url).await;
    assert_eq!(square.level(MUG, STORE), Some(6));
    let barrier = square.sale(MUG, STORE, 1);
    count_updated(square, &daemon.url).await;
    // Square received the late sale first, so it was merged before the barrier.
    ingested(api, &format!("square/{barrier}")).await;
    assert_eq!(
        api.on_hand("MUG", "store-downtown").await,
        7,
        "the late sale is inside the count"
    );
    eventually("Square at 5 (7 on the shelf, 2 held)", || {
        square.level(MUG, STORE) == Some(5)
    })
    .await;

    // The order is cancelled: the hold is released back into IN_STOCK.
    api.post_ok(
        "web",
        WEB_SECRET,
        vec![event(
            "web-o1-cancel",
            "2026-11-23T10:05:00Z",
            "MUG",
            cancelled("o1"),
        )],
    )
    .await;
    eventually("Square back at 7", || square.level(MUG, STORE) == Some(7)).await;
    let release = square.changes().pop().expect("a change");
    assert_eq!(
        release.kind,
        Kind::Adjustment {
            from: "NONE".into(),
            to: "IN_STOCK".into()
        }
    );
    on_hand_becomes(api, 7).await;

    let violations = square.schema_violations();
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_square_webhook_with_a_wrong_signature_or_url_is_refused() {
    let (square, _web, Running { daemon, .. }) = &square_store_and_web_shop().await;
    let url = format!("{}/v1/webhooks/square-downtown", daemon.url);
    let body = square.count_updated_body(MUG, STORE);
    // Signed for another notification URL: the daemon's check fails.
    let status = square
        .deliver(&url, "https://elsewhere.example.com/hook", &body)
        .await;
    assert_eq!(status, 401);
    let status = square.deliver(&url, NOTIFICATION_URL, b"{\"type\": ").await;
    assert_eq!(status, 400, "a signed body that is not JSON");
    assert_eq!(square.deliver(&url, NOTIFICATION_URL, &body).await, 200);
    // Square retries a delivery it thinks timed out: accepted again, changing nothing.
    assert_eq!(
        square.redeliver(&url, NOTIFICATION_URL, &body, 1).await,
        200
    );
}
