//! A WooCommerce shop in the daemon, against the contract-exact fake WooCommerce, in both
//! push forms: a sale in the store lowers WooCommerce's number; a WooCommerce order lowers
//! the other channels and is not pushed back; a WooCommerce sale that lands between our read
//! and our write is kept; bad webhooks are refused; `omnistock connect` sets it up.

mod common;

use common::config::{Channel, DaemonConfig, Running};
use common::fakes::receiver_with_mug;
use common::{Api, POS_SECRET, WMS_SECRET, adjusted, counted, event, eventually};
use omnistock_generic::fake::FakeReceiver;
use omnistock_woocommerce::fake::{DEFAULT_KEY, DEFAULT_SECRET, DEFAULT_WEBHOOK_SECRET, FakeWoo};
use serde_json::Value;

const MUG: u64 = 93;

/// The store, counted by `pos`; the WooCommerce shop (pushed sets, or deltas with
/// `inventory_delta`) and a generic outlet sell from it.
fn config(shop: &FakeWoo, outlet: &FakeReceiver, delta: bool) -> DaemonConfig {
    DaemonConfig::new()
        .location("store", "pos")
        .channel("pos", Channel::generic(POS_SECRET).sells_from(&["store"]))
        .channel(
            "woo-eu",
            Channel::woocommerce(
                &shop.uri(),
                DEFAULT_KEY,
                DEFAULT_SECRET,
                DEFAULT_WEBHOOK_SECRET,
            )
            .raw("inventory_delta", delta)
            .sells_from(&["store"]),
        )
        .channel(
            "outlet",
            Channel::generic(WMS_SECRET)
                .sells_from(&["store"])
                .push_url(outlet.url()),
        )
}

/// Delivers a webhook to the daemon as WooCommerce would.
async fn deliver(api: &Api, headers: &[(String, String)], body: &[u8]) -> (u16, Value) {
    api.webhook("woo-eu", headers, body).await
}

/// Delivers `topic` about order or product `id`, signed, and expects it accepted.
async fn deliver_ok(api: &Api, shop: &FakeWoo, topic: &str, id: u64) -> Value {
    let body = if topic.starts_with("order.") {
        shop.order_body(id)
    } else {
        shop.product_body(id)
    };
    let (status, answer) = deliver(api, &shop.webhook_headers(topic, &body), &body).await;
    assert_eq!(status, 200, "{topic}: {answer}");
    answer
}

/// Waits until the daemon has stopped calling WooCommerce (the re-read after its last set
/// included), so the next read of a product is the one the next push starts with.
async fn settle(shop: &FakeWoo) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = shop.requests().len();
    while std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let now = shop.requests().len();
        if now == seen {
            return;
        }
        seen = now;
    }
}

async fn pos_event(api: &Api, id: &str, at: &str, change: Value) {
    api.post_ok("pos", POS_SECRET, vec![event(id, at, "MUG", change)])
        .await;
}

async fn sales_reach_everyone_and_a_sale_between_read_and_write_is_kept(delta: bool) {
    let shop = FakeWoo::builder()
        .simple(MUG, "MUG", 0)
        .inventory_delta(delta)
        .start()
        .await;
    let outlet = receiver_with_mug("outlet", WMS_SECRET).await;
    let Running { api, .. } = &config(&shop, &outlet, delta).start();

    // The store counts 20: WooCommerce and the outlet show 20.
    pos_event(api, "p1", "2026-11-23T09:00:00Z", counted("store", 20)).await;
    eventually("woocommerce and the outlet at 20", || {
        shop.stock(MUG) == Some(20) && outlet.level("MUG") == Some(20)
    })
    .await;

    // A sale at the store's till lowers WooCommerce's number.
    pos_event(api, "p2", "2026-11-23T09:10:00Z", adjusted("store", -1)).await;
    eventually("woocommerce and the outlet at 19", || {
        shop.stock(MUG) == Some(19) && outlet.level("MUG") == Some(19)
    })
    .await;

    // A WooCommerce order: WooCommerce lowers its own number, then its webhook arrives. The
    // outlet drops; WooCommerce is not pushed back its own sale.
    let order = shop.place_order("MUG", 2, "processing");
    assert_eq!(shop.stock(MUG), Some(17));
    let answer = deliver_ok(api, &shop, "order.created", order).await;
    assert_eq!(answer["results"][0]["status"], "accepted", "{answer}");
    eventually("the outlet at 17", || outlet.level("MUG") == Some(17)).await;
    // The same state again as order.updated, and the product's own echo: nothing changes.
    let again = deliver_ok(api, &shop, "order.updated", order).await;
    assert_ne!(again["results"][0]["status"], "accepted", "{again}");
    deliver_ok(api, &shop, "product.updated", MUG).await;

    // The store sells one more while a WooCommerce customer buys one right after our read of
    // WooCommerce's number, before our write: both sales stay counted.
    settle(&shop).await;
    shop.sell_after_next_read(MUG, 1);
    pos_event(api, "p3", "2026-11-23T09:20:00Z", adjusted("store", -1)).await;
    eventually(
        "woocommerce at 15 (20 − 2 at the till − 3 online)",
        || shop.stock(MUG) == Some(15),
    )
    .await;
    if !delta {
        // The naive set (the 17 we read, minus the till's 1) would have erased the sale.
        let sets: Vec<i64> = shop
            .requests()
            .iter()
            .filter(|r| r.path == "/products/batch")
            .filter_map(|r| r.body["update"][0]["stock_quantity"].as_i64())
            .collect();
        assert!(!sets.contains(&16), "a set over the sale: {sets:?}");
        assert_eq!(sets.last(), Some(&15), "{sets:?}");
    }
    let late = *shop.order_ids().last().expect("the late sale's order");
    assert_ne!(late, order);
    deliver_ok(api, &shop, "order.created", late).await;
    eventually("the outlet at 15", || outlet.level("MUG") == Some(15)).await;
    let (_, stock) = api.get("/v1/stock/MUG").await;
    assert_eq!(stock["locations"]["store"]["on_hand"], 18, "{stock}");

    // Cancelling the first order: WooCommerce restocks its 2, the others get them back.
    shop.set_order_status(order, "cancelled");
    assert_eq!(shop.stock(MUG), Some(17));
    deliver_ok(api, &shop, "order.updated", order).await;
    eventually("the outlet back at 17", || outlet.level("MUG") == Some(17)).await;
    // WooCommerce already shows 17; whatever the daemon pushes while it catches up, it ends
    // there, and the restock is not added a second time.
    eventually("woocommerce at 17", || shop.stock(MUG) == Some(17)).await;
    settle(&shop).await;
    assert_eq!(
        shop.stock(MUG),
        Some(17),
        "its own restock is not pushed twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_inventory_delta_every_sale_is_counted_once() {
    sales_reach_everyone_and_a_sale_between_read_and_write_is_kept(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_blind_set_every_sale_is_counted_once() {
    sales_reach_everyone_and_a_sale_between_read_and_write_is_kept(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_whose_webhook_was_lost_is_found_by_the_poll() {
    let shop = FakeWoo::builder().simple(MUG, "MUG", 20).start().await;
    let outlet = receiver_with_mug("outlet", WMS_SECRET).await;
    // A WooCommerce sale while the daemon was down: its webhook is gone for good.
    let order = shop.place_order("MUG", 2, "processing");
    let Running { api, .. } = &config(&shop, &outlet, false).start();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let key = format!("woo-eu/{order}/");
    loop {
        let (status, stock) = api.get("/v1/stock/MUG").await;
        let found = status == 200
            && stock["reservations"].as_array().is_some_and(|r| {
                r.iter().any(|l| {
                    l["key"].as_str().is_some_and(|k| k.starts_with(&key)) && l["quantity"] == 2
                })
            });
        if found {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the poll never found the order: {stock}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    pos_event(api, "p1", "2026-11-23T09:00:00Z", counted("store", 20)).await;
    eventually("the outlet at 18", || outlet.level("MUG") == Some(18)).await;
    // The webhook, delivered late after all, is the same event: nothing changes.
    let late = deliver_ok(api, &shop, "order.created", order).await;
    assert_ne!(late["results"][0]["status"], "accepted", "{late}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(outlet.level("MUG"), Some(18));
    assert_eq!(shop.stock(MUG), Some(18), "its own sale is not pushed back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_webhooks_are_refused_and_the_ping_is_answered() {
    let shop = FakeWoo::builder().simple(MUG, "MUG", 0).start().await;
    let outlet = FakeReceiver::builder("outlet", WMS_SECRET).start().await;
    let Running { api, .. } = &config(&shop, &outlet, false).start();

    let order = shop.place_order("MUG", 1, "processing");
    let body = shop.order_body(order);
    let mut headers = shop.webhook_headers("order.created", &body);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let (status, _) = deliver(api, &headers, &tampered).await;
    assert_eq!(status, 401, "wrong signature");
    let garbage = b"{\"id\": 1, \"status\": ";
    let (status, _) = deliver(
        api,
        &shop.webhook_headers("order.created", garbage),
        garbage,
    )
    .await;
    assert_eq!(status, 400, "malformed JSON");
    headers.retain(|(name, _)| name != "X-WC-Webhook-Signature");
    let (status, _) = deliver(api, &headers, &body).await;
    assert_eq!(status, 401, "unsigned");
    let (status, _) = api.get("/v1/stock/MUG").await;
    assert_eq!(status, 404, "nothing reached the state");

    let form = vec![(
        "Content-Type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let (status, answer) = deliver(api, &form, b"webhook_id=7").await;
    assert_eq!(status, 200, "the creation ping: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_creates_the_webhooks_and_checks_inventory_delta() {
    let shop = FakeWoo::builder()
        .simple(MUG, "MUG", 4)
        .inventory_delta(true)
        .start()
        .await;
    let outlet = FakeReceiver::builder("outlet", WMS_SECRET).start().await;
    let config = config(&shop, &outlet, false).public_url("https://stock.example.com");
    let site = config.site();
    let config_path = site.config_path();
    let (ok, out, err) = config.connect("woo-eu", &config_path).await;
    assert!(ok, "{err}");
    assert!(out.contains("order.created: created webhook"), "{out}");
    assert!(out.contains("inventory_delta: honoured"), "{out}");
    let url = "https://stock.example.com/v1/webhooks/woo-eu";
    let hooks = shop.webhooks();
    assert_eq!(hooks.len(), 3, "{hooks:?}");
    assert!(
        hooks
            .iter()
            .all(|h| h.delivery_url == url && h.secret == DEFAULT_WEBHOOK_SECRET)
    );
    assert_eq!(
        shop.stock(MUG),
        Some(4),
        "the check left the number as it was"
    );

    let (ok, out, err) = config.connect("woo-eu", &config_path).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("already registered") && !out.contains("created webhook"),
        "{out}"
    );
}
