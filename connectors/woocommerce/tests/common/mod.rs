//! Shared fixtures: a small shop and a connector pointed at it.
#![allow(dead_code)]

use std::time::Duration;

use omnistock_sdk::{ItemRef, LocationId};
use omnistock_woocommerce::fake::FakeWoo;
use omnistock_woocommerce::{WooConnector, WooSettings};

/// A simple product managing its stock.
pub const MUG: u64 = 93;
/// A variable product and its variations.
pub const TSHIRT: u64 = 40;
pub const TSHIRT_M: u64 = 41;
pub const TSHIRT_L: u64 = 42;
/// A variation without a SKU.
pub const TSHIRT_NO_SKU: u64 = 43;
/// A variation that uses its parent's stock.
pub const TSHIRT_PARENT_STOCK: u64 = 44;
/// A simple product without stock management.
pub const POSTER: u64 = 95;

pub fn loc(name: &str) -> LocationId {
    LocationId::new(name).expect("valid location")
}

pub fn item(text: &str) -> ItemRef {
    ItemRef::new(text).expect("valid item")
}

pub fn builder() -> omnistock_woocommerce::fake::FakeWooBuilder {
    FakeWoo::builder()
        .simple(MUG, "MUG", 10)
        .variable(
            TSHIRT,
            "TSHIRT",
            &[
                (TSHIRT_M, "TSHIRT-M", 3),
                (TSHIRT_L, "TSHIRT-L", 5),
                (TSHIRT_NO_SKU, "", 2),
            ],
        )
        .variation_using_parent_stock(TSHIRT, TSHIRT_PARENT_STOCK, "TSHIRT-XL")
        .unmanaged(POSTER, "POSTER")
}

/// The shop, ignoring `inventory_delta` unless `delta`.
pub async fn shop(delta: bool) -> FakeWoo {
    builder().inventory_delta(delta).start().await
}

/// Settings for `fake`: its numbers stand for `wh-eu`; short timeouts so a slow answer is
/// a timeout.
pub fn settings(fake: &FakeWoo) -> WooSettings {
    let mut s = fake.settings("woo-eu", loc("wh-eu"));
    s.http.timeout = Duration::from_millis(800);
    s.http.connect_timeout = Duration::from_millis(800);
    s
}

pub fn connector(settings: WooSettings) -> WooConnector {
    WooConnector::new(settings).expect("valid settings")
}
