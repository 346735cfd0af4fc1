//! Warehouses in the daemon: a ShipHero WMS and a 3PL's file feed, each the owner of its
//! warehouse, against their fakes. An online order against the warehouse reserves units; the
//! WMS ships it (whole, or in parts) and the reservation closes with the on-hand drop counted
//! once; a cycle count recorded in omnistock reaches a WMS that takes adjustments; a file
//! snapshot after a cycle count corrects every channel.

mod common;

use std::time::Duration;

use common::config::{Channel, DaemonConfig, Running};
use common::fakes::{
    MUG_ITEM, SHOPIFY_CLIENT_SECRET, SHOPIFY_TOKEN, SHOPIFY_WH, receiver_with_mug,
    shopify_locations, shopify_with_mug,
};
use common::{ADMIN_TOKEN, Api, Site, WMS_SECRET, eventually};
use omnistock_file_feed::fake::{CsvRow, DropWriter};
use omnistock_generic::fake::FakeReceiver;
use omnistock_sdk::signature::sign_base64;
use omnistock_shiphero::fake::{self as shiphero, FakeShipHero, WAREHOUSE, shipment_update};
use omnistock_shiphero::webhooks::{INVENTORY_UPDATE, SHIPMENT_UPDATE};
use omnistock_shopify::fake::{FakeShopify, SAMPLE_LINE_ID, SAMPLE_ORDER_ID};
use serde_json::Value;

struct World {
    wms: FakeShipHero,
    shop: FakeShopify,
    outlet: FakeReceiver,
    drop: DropWriter,
    api: Api,
    _daemon: common::Daemon,
    site: Site,
}

/// `wh` is counted by ShipHero (`wms`), `wh-west` by a 3PL's file feed (`3pl`); Shopify and a
/// generic outlet sell from both. `allow_adjustments`: ShipHero takes our cycle counts.
async fn world(mug_in_shiphero: i64, allow_adjustments: bool) -> World {
    let wms = FakeShipHero::builder()
        .product(WAREHOUSE, "MUG", mug_in_shiphero)
        .start()
        .await;
    // Registered as `omnistock connect` does: each webhook with its own secret.
    let shipments = wms.register_webhook(
        SHIPMENT_UPDATE,
        "http://omnistock/v1/webhooks/wms",
        "omnistock-wms",
    );
    let inventory = wms.register_webhook(
        INVENTORY_UPDATE,
        "http://omnistock/v1/webhooks/wms",
        "omnistock-wms",
    );
    let shop = shopify_with_mug(0).await;
    let outlet = receiver_with_mug("outlet", WMS_SECRET).await;
    let config = DaemonConfig::new()
        .location("wh", "wms")
        .location("wh-west", "3pl")
        .channel(
            "wms",
            Channel::shiphero(
                &wms.uri(),
                shiphero::DEFAULT_TOKEN,
                shiphero::DEFAULT_REFRESH_TOKEN,
            )
            .secret("webhook_secrets.shipment_update", &shipments)
            .secret("webhook_secrets.inventory_update", &inventory)
            .raw("warehouses", format!(r#"{{ "{WAREHOUSE}" = "wh" }}"#))
            .text("orders_from", "shopify-main")
            .raw("poll_interval_secs", 1)
            .sells_from(&["wh"])
            .raw("allow_adjustments", allow_adjustments),
        )
        .channel(
            "3pl",
            Channel::of_kind("file_feed")
                .text("directory", "drop")
                .raw(
                    "columns",
                    r#"{ sku = "item", quantity = "on_hand", location = "warehouse", time = "as_of" }"#,
                )
                .raw("locations", r#"{ "WEST" = "wh-west" }"#)
                // An hour: the drop folder is watched, so a file is picked up when it lands.
                .raw("poll_interval_secs", 3600)
                .sells_from(&["wh-west"]),
        )
        .channel(
            "shopify-main",
            Channel::shopify(&shop.uri(), SHOPIFY_TOKEN, SHOPIFY_CLIENT_SECRET)
                .raw("shopify_locations", shopify_locations())
                .sells_from(&["wh", "wh-west"])
                .text("default_location", "wh"),
        )
        .channel(
            "outlet",
            Channel::generic(WMS_SECRET)
                .sells_from(&["wh", "wh-west"])
                .push_url(outlet.url()),
        );
    let site = config.site();
    let drop_dir = site.dir.path().join("drop");
    std::fs::create_dir_all(&drop_dir).expect("drop folder");
    let Running { api, daemon, site } = config.start_at(site);
    World {
        api,
        drop: DropWriter::new(drop_dir),
        _daemon: daemon,
        site,
        wms,
        shop,
        outlet,
    }
}

impl World {
    /// Waits until Shopify and the outlet both show `n` MUGs.
    async fn channels_show(&self, what: &str, n: i64) {
        eventually(what, || {
            self.shop.level(MUG_ITEM, SHOPIFY_WH) == Some(n) && self.outlet.level("MUG") == Some(n)
        })
        .await;
    }

    /// An online order on Shopify for `quantity` MUGs against the warehouse: Shopify lowers
    /// its own number to `shopify_shows`, then sends `orders/create`, which the daemon takes.
    async fn shopify_order(&self, quantity: u32, shopify_shows: i64) {
        self.shop.set_available(MUG_ITEM, SHOPIFY_WH, shopify_shows);
        let mut order: Value =
            serde_json::from_slice(&self.shop.sample_body("orders/create")).expect("json");
        order["created_at"] = "2026-11-23T08:30:00Z".into();
        order["line_items"][0]["quantity"] = quantity.into();
        let (headers, body) = self
            .shop
            .webhook("orders/create", order.to_string().into_bytes());
        let (status, answer) = self.api.webhook("shopify-main", &headers, &body).await;
        assert_eq!(status, 200, "{answer}");
    }
}

/// `headers` with `X-ShipHero-HMAC-SHA256` of `body` under `secret` instead.
fn resign(headers: &[(String, String)], body: &[u8], secret: &str) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| match n.as_str() {
            "X-ShipHero-HMAC-SHA256" => (n.clone(), sign_base64(secret.as_bytes(), &[body])),
            _ => (n.clone(), v.clone()),
        })
        .collect()
}

async fn stock(api: &Api) -> Value {
    api.get("/v1/stock/MUG").await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipment_closes_the_online_reservation_and_the_on_hand_drop_counts_once() {
    let w = world(20, false).await;

    // ShipHero's count arrives by polling; Shopify and the outlet show it.
    w.channels_show("ShipHero's 20 reaches both channels", 20)
        .await;

    // An online order on Shopify against the warehouse: Shopify lowers its own number, then
    // sends orders/create. One unit is reserved at `wh`; the outlet drops to 19.
    w.shopify_order(1, 19).await;
    eventually("the outlet drops to 19", || {
        w.outlet.level("MUG") == Some(19)
    })
    .await;
    let s = stock(&w.api).await;
    assert_eq!(s["locations"]["wh"]["on_hand"], 20, "{s}");
    assert_eq!(s["locations"]["wh"]["reserved"], 1, "{s}");

    // A delivery that is not ShipHero's is refused and changes nothing.
    let (headers, body) = w.wms.webhook(shipment_update(
        1,
        "Shopify Store",
        &SAMPLE_ORDER_ID.to_string(),
        &[(&SAMPLE_LINE_ID.to_string(), "MUG", 1)],
    ));
    let forged: Vec<(String, String)> = headers
        .into_iter()
        .map(|(n, v)| match n.as_str() {
            "X-ShipHero-HMAC-SHA256" => (n, "bm90IHRoZSBzaWduYXR1cmU=".to_owned()),
            _ => (n, v),
        })
        .collect();
    let (status, answer) = w.api.webhook("wms", &forged, &body).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(stock(&w.api).await["locations"]["wh"]["reserved"], 1);

    // Nor is a Shipment Update signed with the Inventory Update webhook's secret, nor the
    // other way round: each webhook type is checked against its own.
    let inventory_secret = w.wms.webhooks()[1].secret.clone();
    let resigned = resign(&w.wms.webhook_headers(&body), &body, &inventory_secret);
    let (status, answer) = w.api.webhook("wms", &resigned, &body).await;
    assert_eq!(status, 401, "{answer}");
    let (headers, inventory_body) = w.wms.webhook(shiphero::inventory_update("MUG", 3));
    let shipment_secret = w.wms.webhooks()[0].secret.clone();
    let resigned = resign(&headers, &inventory_body, &shipment_secret);
    let (status, answer) = w.api.webhook("wms", &resigned, &inventory_body).await;
    assert_eq!(status, 401, "{answer}");
    let s = stock(&w.api).await;
    assert_eq!(
        (
            s["locations"]["wh"]["on_hand"].as_i64(),
            s["locations"]["wh"]["reserved"].as_i64()
        ),
        (Some(20), Some(1)),
        "{s}"
    );

    // ShipHero ships it: its on-hand drops when the label is made (its updated_at, before
    // the webhook), then Shipment Update names the Shopify order and line it fulfils.
    w.wms.count(WAREHOUSE, "MUG", 19, "2026-11-23T09:00:00Z");
    let (headers, body) = w.wms.webhook(shipment_update(
        315_518_042,
        "Shopify Store",
        &SAMPLE_ORDER_ID.to_string(),
        &[(&SAMPLE_LINE_ID.to_string(), "MUG", 1)],
    ));
    let (status, answer) = w.api.webhook("wms", &headers, &body).await;
    assert_eq!(status, 200, "{answer}");
    let key = format!("shopify-main/{SAMPLE_ORDER_ID}/{SAMPLE_LINE_ID}");
    let mut last = Value::Null;
    for _ in 0..400 {
        last = stock(&w.api).await;
        let closed = last["reservations"].as_array().is_some_and(|r| {
            r.iter()
                .any(|r| r["key"] == key.as_str() && r["state"] == "fulfilled")
        });
        if closed
            && last["locations"]["wh"]["on_hand"] == 19
            && last["locations"]["wh"]["reserved"] == 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last["locations"]["wh"]["on_hand"], 19, "{last}");
    assert_eq!(
        last["locations"]["wh"]["reserved"], 0,
        "released once the count caught up: {last}"
    );
    assert_eq!(
        last["locations"]["wh"]["available"], 19,
        "the unit is counted once: {last}"
    );

    // Delivered again: a duplicate; nothing moves. The outlet stays at 19, never 18.
    let (status, _) = w.api.webhook("wms", &headers, &body).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(w.outlet.level("MUG"), Some(19));
    assert_eq!(w.shop.level(MUG_ITEM, SHOPIFY_WH), Some(19));
    assert_eq!(stock(&w.api).await["locations"]["wh"]["available"], 19);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_snapshot_after_a_cycle_count_corrects_every_channel() {
    let w = world(20, false).await;
    w.channels_show("ShipHero's 20 reaches both channels", 20)
        .await;

    // The 3PL's first snapshot: 7 at its west warehouse. Both channels sell from it.
    w.drop
        .csv(
            "stock-0900.csv",
            &[CsvRow::new("MUG", 7, "WEST", "2026-11-23T09:00:00Z")],
        )
        .expect("drop");
    w.channels_show("the 3PL's 7 reaches both channels", 27)
        .await;

    // A cycle count finds 4: the next snapshot corrects every channel.
    w.drop
        .csv(
            "stock-1000.csv",
            &[
                CsvRow::new("MUG", 4, "WEST", "2026-11-23T10:00:00Z"),
                CsvRow::malformed("CAP", "WEST", "2026-11-23T10:00:00Z"),
            ],
        )
        .expect("drop");
    w.channels_show("the cycle count reaches both channels", 24)
        .await;

    // A late copy of the older snapshot is refused and changes nothing.
    w.drop
        .csv(
            "stock-0900-late.csv",
            &[CsvRow::new("MUG", 7, "WEST", "2026-11-23T09:00:00Z")],
        )
        .expect("drop");
    let rejected = w.site.dir.path().join("drop").join("rejected");
    eventually("the stale snapshot is rejected", || {
        std::fs::read_dir(&rejected).is_ok_and(|d| {
            d.filter_map(Result::ok).any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with("stock-0900-late.csv.reason.txt")
            })
        })
    })
    .await;
    assert_eq!(w.api.on_hand("MUG", "wh-west").await, 4);
    assert_eq!(w.outlet.level("MUG"), Some(24));
}

/// GET `/v1/stock/MUG` until `check` holds (20 s, a slow machine), or panics with the last.
async fn stock_until(api: &Api, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let last = stock(api).await;
        if check(&last) {
            return last;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (on hand, reserved, available) at `wh`.
fn at_wh(stock: &Value) -> (i64, i64, i64) {
    let wh = &stock["locations"]["wh"];
    let n = |field: &str| wh[field].as_i64().unwrap_or(i64::MIN);
    (n("on_hand"), n("reserved"), n("available"))
}

fn line_state(stock: &Value, key: &str) -> Option<String> {
    stock["reservations"]
        .as_array()?
        .iter()
        .find(|r| r["key"] == key)
        .and_then(|r| r["state"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_shipped_in_parts_keeps_the_rest_reserved_until_it_ships() {
    let w = world(20, false).await;
    w.channels_show("ShipHero's 20 reaches both channels", 20)
        .await;

    // A Shopify order for 3 mugs against the warehouse.
    w.shopify_order(3, 17).await;
    eventually("the outlet drops to 17", || {
        w.outlet.level("MUG") == Some(17)
    })
    .await;
    assert_eq!(at_wh(&stock(&w.api).await), (20, 3, 17));

    // ShipHero ships 2 of the 3: its count drops by 2, the third unit stays reserved, and
    // nobody's number rises (the oversell this guards against: 18 on hand, nothing held).
    let order_id = SAMPLE_ORDER_ID.to_string();
    let line = SAMPLE_LINE_ID.to_string();
    let first = w.wms.ship(
        1_001,
        "Shopify Store",
        &order_id,
        &[(&line, "MUG", 2)],
        "2026-11-23T09:00:00Z",
    );
    let (first_headers, first_body) = w.wms.webhook(first);
    let (status, answer) = w.api.webhook("wms", &first_headers, &first_body).await;
    assert_eq!(status, 200, "{answer}");
    // (A poll may show the count before the shipment's recount: 18 on hand, 3 held.)
    let s = stock_until(
        &w.api,
        "18 on hand with one unit still promised after the first part",
        |s| at_wh(s) == (18, 1, 17),
    )
    .await;
    let key = format!("shopify-main/{SAMPLE_ORDER_ID}/{SAMPLE_LINE_ID}");
    assert_eq!(line_state(&s, &key).as_deref(), Some("open"), "{s}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(w.shop.level(MUG_ITEM, SHOPIFY_WH), Some(17));
    assert_eq!(w.outlet.level("MUG"), Some(17));

    // The rest ships: the line is fulfilled, nothing is held, each unit left on hand once.
    let rest = w.wms.ship(
        1_002,
        "Shopify Store",
        &order_id,
        &[(&line, "MUG", 1)],
        "2026-11-23T09:30:00Z",
    );
    let (headers, body) = w.wms.webhook(rest);
    let (status, answer) = w.api.webhook("wms", &headers, &body).await;
    assert_eq!(status, 200, "{answer}");
    let s = stock_until(&w.api, "the line closed after the WMS count", |s| {
        at_wh(s) == (17, 0, 17)
    })
    .await;
    assert_eq!(line_state(&s, &key).as_deref(), Some("fulfilled"), "{s}");

    // The first shipment delivered again is a duplicate: nothing moves.
    let (status, _) = w.api.webhook("wms", &first_headers, &first_body).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(at_wh(&stock(&w.api).await), (17, 0, 17));
    assert_eq!(w.shop.level(MUG_ITEM, SHOPIFY_WH), Some(17));
    assert_eq!(w.outlet.level("MUG"), Some(17));
}

/// `POST /v1/adjustments` as the operator.
async fn adjust(api: &Api, id: &str, by: i64) {
    let response = api
        .http
        .post(format!("{}/v1/adjustments", api.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({
            "sku": "MUG", "location": "wh", "by": by, "reason": "cycle count", "id": id,
        }))
        .send()
        .await
        .expect("adjust");
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    assert!(
        (200..300).contains(&status),
        "adjust {by}: HTTP {status}: {body}"
    );
}

/// The GraphQL mutations (`inventory_add` / `inventory_remove`) ShipHero received, with
/// their quantities.
fn adjustments_received(wms: &FakeShipHero) -> Vec<(String, i64)> {
    wms.requests()
        .iter()
        .filter_map(|r| {
            let query = r["query"].as_str()?;
            let kind = ["inventory_add", "inventory_remove"]
                .into_iter()
                .find(|k| query.contains(k))?;
            Some((
                kind.to_owned(),
                r["variables"]["data"]["quantity"].as_i64()?,
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_count_recorded_in_omnistock_reaches_shiphero_when_allowed() {
    let w = world(20, true).await;
    w.channels_show("ShipHero's 20 reaches both channels", 20)
        .await;

    // The operator finds 2 fewer: ShipHero is told by inventory_remove, once.
    adjust(&w.api, "cycle-count-1", -2).await;
    eventually("ShipHero's on hand drops to 18", || {
        w.wms.on_hand(WAREHOUSE, "MUG") == Some(18)
    })
    .await;
    w.channels_show("the channels show 18", 18).await;
    // Then 5 more received: inventory_add.
    adjust(&w.api, "cycle-count-2", 5).await;
    eventually("ShipHero's on hand rises to 23", || {
        w.wms.on_hand(WAREHOUSE, "MUG") == Some(23)
    })
    .await;

    // ShipHero's own reads of what we pushed are not counted again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(at_wh(&stock(&w.api).await), (23, 0, 23));
    assert_eq!(w.wms.on_hand(WAREHOUSE, "MUG"), Some(23));
    assert_eq!(
        adjustments_received(&w.wms),
        vec![
            ("inventory_remove".to_owned(), 2),
            ("inventory_add".to_owned(), 5)
        ]
    );
    w.channels_show("the channels show 23", 23).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_registers_shipheros_webhooks_once_and_shows_each_secret_where_it_goes() {
    let wms = FakeShipHero::builder()
        .product(WAREHOUSE, "MUG", 5)
        .start()
        .await;
    // No webhook secrets yet: connect is how they are obtained.
    let config = DaemonConfig::new()
        .public_url("https://stock.example.com")
        .location("wh", "wms")
        .channel(
            "wms",
            Channel::shiphero(
                &wms.uri(),
                shiphero::DEFAULT_TOKEN,
                shiphero::DEFAULT_REFRESH_TOKEN,
            )
            .raw("warehouses", format!(r#"{{ "{WAREHOUSE}" = "wh" }}"#))
            .sells_from(&["wh"]),
        );
    let site = config.site();
    let config_path = site.config_path();
    let mut env = config.env();
    env.extend([
        ("OMNISTOCK_TEST_SH_SHIPMENTS", "the-first-shipments-secret"),
        ("OMNISTOCK_TEST_SH_INVENTORY", "the-first-inventory-secret"),
    ]);
    let (ok, out, err) = common::connect("wms", &config_path, &env).await;
    assert!(ok, "{err}");
    let hooks = wms.webhooks();
    assert_eq!(hooks.len(), 2, "{hooks:?}");
    for (hook, env) in hooks.iter().zip([
        "SHIPHERO_WMS_SHIPMENT_UPDATE_SECRET",
        "SHIPHERO_WMS_INVENTORY_UPDATE_SECRET",
    ]) {
        assert_eq!(hook.url, "https://stock.example.com/v1/webhooks/wms");
        assert!(
            out.contains(&format!("{}: created webhook", hook.name)),
            "{out}"
        );
        assert_eq!(
            out.matches(hook.secret.as_str()).count(),
            1,
            "shown once: {out}"
        );
        assert!(out.contains(env), "where it goes: {out}");
        assert!(!err.contains(hook.secret.as_str()), "never logged: {err}");
    }

    // Again: kept, nothing created, no secret shown; it says the config still lacks them.
    let (ok, out, err) = common::connect("wms", &config_path, &env).await;
    assert!(ok, "{err}");
    assert_eq!(wms.webhooks(), hooks);
    assert!(
        out.contains("already registered") && !out.contains("created webhook"),
        "{out}"
    );
    assert!(out.contains("no secret is configured"), "{out}");
    assert!(
        hooks.iter().all(|h| !out.contains(h.secret.as_str())),
        "{out}"
    );

    // The daemon moved, its secrets configured: ours are created anew at the new URL, and
    // each new secret goes where the config reads it.
    let moved = std::fs::read_to_string(&config_path)
        .expect("config")
        .replace("https://stock.example.com", "https://inventory.example.com")
        .replace(
            "sells_from = [\"wh\"]",
            "sells_from = [\"wh\"]\nwebhook_secrets = { shipment_update = { env = \"OMNISTOCK_TEST_SH_SHIPMENTS\" }, inventory_update = { env = \"OMNISTOCK_TEST_SH_INVENTORY\" } }",
        );
    std::fs::write(&config_path, moved).expect("rewrite config");
    let (ok, out, err) = common::connect("wms", &config_path, &env).await;
    assert!(ok, "{err}");
    let now = wms.webhooks();
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(
        now.iter()
            .all(|h| h.url == "https://inventory.example.com/v1/webhooks/wms")
    );
    for (hook, env) in now
        .iter()
        .zip(["OMNISTOCK_TEST_SH_SHIPMENTS", "OMNISTOCK_TEST_SH_INVENTORY"])
    {
        assert!(out.contains(hook.secret.as_str()), "{out}");
        assert!(
            out.contains(&format!("put it in env {env}, where webhook_secrets.")),
            "{out}"
        );
    }
    assert!(out.contains("deleted and created again"), "{out}");
}
