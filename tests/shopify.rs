//! A Shopify store in the daemon, against the contract-exact fake Shopify: its sales reach
//! the other channels, its own sales are not pushed back, cancellations restore, duplicate
//! and out-of-order webhooks change nothing, and bad webhooks are refused.

mod common;

use std::time::Duration;

use common::config::{Channel, DaemonConfig, Running};
use common::fakes::{
    MUG_ITEM, SHOPIFY_CLIENT_SECRET, SHOPIFY_TOKEN, SHOPIFY_WH, receiver_with_mug,
    shopify_locations, shopify_with_mug,
};
use common::{Api, WMS_SECRET, counted, event, eventually};
use omnistock_generic::fake::FakeReceiver;
use omnistock_shopify::fake::FakeShopify;
use serde_json::Value;

/// The warehouse, counted by `wh_owner`; the Shopify store and a generic outlet sell from it.
fn config(shop: &FakeShopify, outlet: &FakeReceiver, wh_owner: &str) -> DaemonConfig {
    DaemonConfig::new()
        .location("wh", wh_owner)
        .channel("wms", Channel::generic(WMS_SECRET).sells_from(&["wh"]))
        .channel(
            "shopify-main",
            Channel::shopify(&shop.uri(), SHOPIFY_TOKEN, SHOPIFY_CLIENT_SECRET)
                .text("api_version", "2026-04")
                .raw("shopify_locations", shopify_locations())
                .sells_from(&["wh"]),
        )
        .channel(
            "outlet",
            Channel::generic(WMS_SECRET)
                .sells_from(&["wh"])
                .push_url(outlet.url()),
        )
}

/// Delivers a webhook to the daemon as Shopify would.
async fn deliver(api: &Api, headers: &[(String, String)], body: &[u8]) -> (u16, Value) {
    api.webhook("shopify-main", headers, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopify_sale_reaches_the_other_channel_and_a_cancellation_restores_it() {
    let shop = shopify_with_mug(0).await;
    let outlet = receiver_with_mug("outlet", WMS_SECRET).await;
    let Running { api, .. } = &config(&shop, &outlet, "wms").start();

    // The warehouse counts 20: Shopify and the outlet both show 20.
    api.post_ok(
        "wms",
        WMS_SECRET,
        vec![event(
            "w1",
            "2026-11-23T09:00:00Z",
            "MUG",
            counted("wh", 20),
        )],
    )
    .await;
    eventually("shopify and the outlet at 20", || {
        shop.level(MUG_ITEM, SHOPIFY_WH) == Some(20) && outlet.level("MUG") == Some(20)
    })
    .await;

    // A sale on the Shopify store: Shopify lowers its own number, then sends orders/create.
    shop.set_available(MUG_ITEM, SHOPIFY_WH, 19);
    let (headers, body) = shop.webhook("orders/create", shop.sample_body("orders/create"));
    let (status, answer) = deliver(api, &headers, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["status"], "accepted", "{answer}");
    eventually("the outlet drops to 19", || outlet.level("MUG") == Some(19)).await;

    // Delivered again (Shopify delivers at least once): nothing changes.
    let (status, answer) = deliver(api, &headers, &body).await;
    assert_eq!(
        (status, answer["results"][0]["status"].as_str()),
        (200, Some("duplicate")),
        "{answer}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        shop.level(MUG_ITEM, SHOPIFY_WH),
        Some(19),
        "Shopify's own sale is not pushed back"
    );
    assert_eq!(outlet.level("MUG"), Some(19));

    // The order is cancelled with a restock: Shopify raises its number, then tells us.
    shop.set_available(MUG_ITEM, SHOPIFY_WH, 20);
    let (headers, body) = shop.webhook("orders/cancelled", shop.sample_body("orders/cancelled"));
    let (status, answer) = deliver(api, &headers, &body).await;
    assert_eq!(status, 200, "{answer}");
    eventually("the outlet is back at 20", || {
        outlet.level("MUG") == Some(20)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(shop.level(MUG_ITEM, SHOPIFY_WH), Some(20));

    // The same order created again after its cancellation (out of order): still cancelled.
    let (headers, body) = shop.webhook("orders/create", shop.sample_body("orders/create"));
    let (status, _) = deliver(api, &headers, &body).await;
    assert_eq!(status, 200);
    let (_, stock) = api.get("/v1/stock/MUG").await;
    assert_eq!(stock["locations"]["wh"]["available"], 20, "{stock}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_shopify_webhooks_are_refused_and_touch_nothing() {
    let shop = shopify_with_mug(0).await;
    let outlet = receiver_with_mug("outlet", WMS_SECRET).await;
    let Running { api, .. } = &config(&shop, &outlet, "wms").start();

    let body = shop.sample_body("orders/create");
    let mut headers = shop.webhook_headers("orders/create", &body);
    for (name, value) in &mut headers {
        if name == "X-Shopify-Hmac-Sha256" {
            *value = "bm90IHRoZSBzaWduYXR1cmU=".into();
        }
    }
    let (status, answer) = deliver(api, &headers, &body).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (401, Some("bad_signature")),
        "{answer}"
    );

    let garbage = b"{not json".to_vec();
    let (headers, body) = shop.webhook("orders/create", garbage);
    let (status, answer) = deliver(api, &headers, &body).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("malformed")),
        "{answer}"
    );

    // An order for a SKU nobody knows: taken, the line reported as skipped.
    let body = String::from_utf8(shop.sample_body("orders/create"))
        .expect("utf-8")
        .replace("\"MUG\"", "\"\"");
    let (headers, body) = shop.webhook("orders/create", body.into_bytes());
    let (status, answer) = deliver(api, &headers, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["skipped"].as_array().is_some_and(|s| !s.is_empty()),
        "{answer}"
    );

    let (status, _) = api.get("/v1/stock/MUG").await;
    assert_eq!(status, 404, "nothing reached the state");
    let response = api
        .http
        .post(format!("{}/v1/webhooks/nobody", api.url))
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_registers_the_webhooks_once() {
    let shop = FakeShopify::builder()
        .access_token(SHOPIFY_TOKEN)
        .webhook_secret(SHOPIFY_CLIENT_SECRET)
        .start()
        .await;
    let outlet = FakeReceiver::builder("outlet", WMS_SECRET).start().await;
    let config = config(&shop, &outlet, "wms").public_url("https://stock.example.com");
    let site = config.site();
    let config_path = site.config_path();
    let (ok, out, err) = config.connect("shopify-main", &config_path).await;
    assert!(ok, "{err}");
    assert!(out.contains("orders/create: created"), "{out}");
    let uri = "https://stock.example.com/v1/webhooks/shopify-main";
    let subscriptions = shop.subscriptions();
    assert!(
        subscriptions.len() >= 5 && subscriptions.iter().all(|(_, u)| u == uri),
        "{subscriptions:?}"
    );

    let (ok, out, err) = config.connect("shopify-main", &config_path).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("already registered") && !out.contains("created"),
        "{out}"
    );
    assert_eq!(shop.subscriptions().len(), subscriptions.len());
}

/// Shopify (its POS) owns the warehouse, where it counts `mug` MUGs; the outlet sells from it.
async fn shopify_pos_owns_the_warehouse(mug: i64) -> (FakeShopify, FakeReceiver, Running) {
    let shop = shopify_with_mug(mug).await;
    let outlet = receiver_with_mug("outlet", WMS_SECRET).await;
    let running = config(&shop, &outlet, "shopify-main").start();
    (shop, outlet, running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopify_pos_that_owns_its_store_counts_it_and_is_never_pushed_its_own_number() {
    let (shop, outlet, Running { api, .. }) = &shopify_pos_owns_the_warehouse(7).await;

    // Shopify POS counts 7 at the location it owns: that is its on hand.
    let (headers, body) = shop.webhook(
        "inventory_levels/update",
        shop.sample_body("inventory_levels/update"),
    );
    let (status, answer) = deliver(api, &headers, &body).await;
    assert_eq!(status, 200, "{answer}");
    eventually("the outlet shows 7", || outlet.level("MUG") == Some(7)).await;
    let (_, stock) = api.get("/v1/stock/MUG").await;
    assert_eq!(stock["locations"]["wh"]["on_hand"], 7, "{stock}");

    // An outlet order reserves 2: the outlet's number drops, the owner's count is left alone.
    let order = event(
        "o1",
        "2026-11-23T10:00:00Z",
        "MUG",
        common::opened("9", "wh", 2),
    );
    let (status, _) = api
        .post_events("outlet", WMS_SECRET, vec![order])
        .await
        .expect("post");
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        shop.level(MUG_ITEM, SHOPIFY_WH),
        Some(7),
        "never pushed its own number"
    );
    let (_, channels) = api.get("/v1/channels").await;
    assert_eq!(channels["shopify-main"]["pushing"], false, "{channels}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owners_count_no_webhook_brought_is_merged_by_reconciliation_at_start() {
    let (shop, outlet, Running { api, .. }) = &shopify_pos_owns_the_warehouse(9).await;

    // No webhook at all: the listing at start is the owner's count.
    eventually("the outlet shows the owner's 9", || {
        outlet.level("MUG") == Some(9)
    })
    .await;
    let (_, stock) = api.get("/v1/stock/MUG").await;
    assert_eq!(stock["locations"]["wh"]["on_hand"], 9, "{stock}");
    let (_, channels) = api.get("/v1/channels").await;
    let reconciliation = &channels["shopify-main"]["reconciliation"];
    assert!(reconciliation["levels"].as_u64() >= Some(1), "{channels}");
    assert!(
        reconciliation["differences"].as_u64() >= Some(1),
        "{channels}"
    );
    assert_eq!(shop.level(MUG_ITEM, SHOPIFY_WH), Some(9), "never pushed");
}
