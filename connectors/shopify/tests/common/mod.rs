//! Shared fixtures: a small shop and a connector pointed at it.
#![allow(dead_code)]

use std::time::Duration;

use omnistock_sdk::{ItemRef, LocationId};
use omnistock_shopify::fake::FakeShopify;
use omnistock_shopify::{ShopifyConnector, ShopifySettings};

/// An inventory item id beyond 2^53, as Shopify's sample payloads have.
pub const TSHIRT: u64 = 271_878_346_596_884_015;
pub const MUG: u64 = 30_322_695;
pub const NO_SKU: u64 = 555;
/// The store's Shopify location, mapped to `store-1`.
pub const STORE: u64 = 24_826_418;
/// A Shopify location the config does not map.
pub const POPUP: u64 = 99;

pub fn loc(name: &str) -> LocationId {
    LocationId::new(name).expect("valid location")
}

pub fn item(id: u64) -> ItemRef {
    ItemRef::new(format!("gid://shopify/InventoryItem/{id}")).expect("valid item")
}

pub async fn shop() -> FakeShopify {
    FakeShopify::builder()
        .variant("TSHIRT-RED-M", TSHIRT, &[(STORE, 3), (POPUP, 1)])
        .variant("MUG", MUG, &[(STORE, 10)])
        .variant_without_sku(NO_SKU, &[(STORE, 2)])
        .slow_answer(Duration::from_secs(3))
        .start()
        .await
}

/// Settings for `fake`: `STORE` is `store-1`, online orders reserve at `store-1`, short
/// timeouts so a slow answer is a timeout.
pub fn settings(fake: &FakeShopify) -> ShopifySettings {
    let mut s = fake
        .settings("shopify-main")
        .location(format!("gid://shopify/Location/{STORE}"), loc("store-1"));
    s.default_location = Some(loc("store-1"));
    s.http.timeout = Duration::from_millis(800);
    s.http.connect_timeout = Duration::from_millis(800);
    s.max_throttle_wait = Duration::from_secs(2);
    s
}

pub fn connector(settings: ShopifySettings) -> ShopifyConnector {
    ShopifyConnector::new(settings).expect("valid settings")
}
