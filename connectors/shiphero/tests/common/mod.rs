//! Shared fixtures: a small account and a connector pointed at it.
#![allow(dead_code)]

use std::time::Duration;

use omnistock_sdk::{ChannelId, LocationId};
use omnistock_shiphero::fake::{FakeShipHero, WAREHOUSE};
use omnistock_shiphero::{ShipHeroConnector, ShipHeroSettings};

pub fn loc(name: &str) -> LocationId {
    LocationId::new(name).expect("valid location")
}

pub fn channel(name: &str) -> ChannelId {
    ChannelId::new(name).expect("valid channel")
}

pub async fn account() -> FakeShipHero {
    FakeShipHero::builder()
        .product(WAREHOUSE, "MUG", 10)
        .product(WAREHOUSE, "TSHIRT-RED-M", 3)
        .product("V2FyZWhvdXNlOjk5", "MUG", 4) // a warehouse the config does not map
        .slow_answer(Duration::from_secs(3))
        .start()
        .await
}

/// Settings for `fake`: its warehouse is `wh-east`, its orders are `shopify-main`'s, short
/// timeouts so a slow answer is a timeout.
pub fn settings(fake: &FakeShipHero) -> ShipHeroSettings {
    let mut s = fake.settings("wms-east", loc("wh-east"));
    s.orders_from = Some(channel("shopify-main"));
    s.http.timeout = Duration::from_millis(800);
    s.http.connect_timeout = Duration::from_millis(800);
    s.calls_per_second = 1000.0;
    s.burst = 1000;
    s
}

pub fn connector(settings: ShipHeroSettings) -> ShipHeroConnector {
    ShipHeroConnector::new(settings).expect("valid settings")
}
