//! What each channel should show for a SKU, from its locations' ATP. Pure.
//!
//! `pooled`: the sum of the ATP of the locations the channel sells from, minus the channel's
//! buffer (fixed or adaptive, [`buffer`]), never below 0. `strict` ([`strict`]): the sum of
//! the channel's escrow shares of its locations' ATP, minus its buffer.

pub mod strict;

use std::collections::BTreeMap;

use omnistock_sdk::{ChannelId, LocationId, Sku};
use serde::Serialize;

pub mod buffer;

pub use buffer::Conditions;

use crate::config::{Config, Policy};
use crate::state::{LocationStock, SkuState};

/// One channel's number for a SKU, and what it was computed from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChannelNumber {
    pub available: i64,
    pub policy: &'static str,
    pub buffer: i64,
    pub locations: Vec<LocationId>,
}

/// A SKU's numbers per configured location and per channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Availability {
    /// Sum of the ATP of every configured location.
    pub total: i64,
    pub locations: BTreeMap<LocationId, LocationStock>,
    pub channels: BTreeMap<ChannelId, ChannelNumber>,
}

/// Computes every location's stock and every channel's number for one SKU, with its own
/// safety and buffer overrides where the config has them, and adaptive buffers from
/// `conditions`.
pub fn availability(
    sku: &Sku,
    state: &SkuState,
    config: &Config,
    conditions: &Conditions,
) -> Availability {
    let locations: BTreeMap<LocationId, LocationStock> = config
        .locations
        .keys()
        .map(|id| (id.clone(), state.stock_at(id, config.safety(sku, id))))
        .collect();
    let total = locations.values().map(|s| s.available).sum();
    let shares = strict::shares(state, config, &locations);
    let channels = config
        .channels
        .iter()
        .map(|(id, channel)| {
            let pooled: i64 = channel
                .sells_from
                .iter()
                .filter_map(|l| locations.get(l))
                .map(|s| s.available)
                .sum();
            let buffer = buffer::buffer(sku, id, state, config, conditions);
            let available = match channel.policy {
                Policy::Pooled => pooled.saturating_sub(buffer).max(0),
                Policy::Strict => strict::number(&shares, id, buffer),
            };
            let number = ChannelNumber {
                available,
                policy: channel.policy.name(),
                buffer,
                locations: channel.sells_from.clone(),
            };
            (id.clone(), number)
        })
        .collect();
    Availability {
        total,
        locations,
        channels,
    }
}

#[cfg(test)]
mod tests {
    use omnistock_sdk::{EventId, StockChange, StockEvent, Timestamp};

    use super::*;
    use crate::config::{Config, SkuOverrides};
    use crate::state::{Actor, Input};

    fn config() -> Config {
        let source = r#"
node_id = "n"
[api]
admin_token = { env = "T" }
[locations.store]
owner = "pos"
safety = 1
[channels.pos]
kind = "generic"
webhook_secret = { env = "T" }
sells_from = ["store"]
buffer = 2
"#;
        crate::config::for_tests(source)
    }

    fn counted(quantity: i64, config: &Config) -> SkuState {
        let channel = ChannelId::new("pos").expect("id");
        let event = StockEvent {
            id: EventId::new("e").expect("id"),
            occurred_at: Timestamp::EPOCH,
            sku: Sku::new("MUG").expect("sku"),
            change: StockChange::LevelObserved {
                location: LocationId::new("store").expect("id"),
                quantity,
            },
        };
        let actor = Actor::new("pos", 1);
        let mut state = SkuState::default();
        let input = Input {
            channel: &channel,
            actor: &actor,
            manual: false,
            received_at: Timestamp::EPOCH,
            event: &event,
        };
        let _ = state.apply(&input, config);
        state
    }

    #[test]
    fn pooled_is_atp_minus_buffer_with_per_sku_overrides() {
        let mut config = config();
        let mug = Sku::new("MUG").expect("sku");
        let state = counted(10, &config);
        let pos = ChannelId::new("pos").expect("id");
        assert_eq!(
            availability(&mug, &state, &config, &Conditions::default()).channels[&pos].available,
            10 - 1 - 2
        );
        let overrides = SkuOverrides {
            safety: [(LocationId::new("store").expect("id"), 5)].into(),
            buffer: [(pos.clone(), 0)].into(),
        };
        config.skus.insert(mug.clone(), overrides);
        let numbers = availability(&mug, &state, &config, &Conditions::default());
        assert_eq!(
            (
                numbers.total,
                numbers.channels[&pos].available,
                numbers.channels[&pos].buffer
            ),
            (5, 5, 0)
        );
        assert_eq!(
            availability(&mug, &counted(1, &config), &config, &Conditions::default()).channels
                [&pos]
                .available,
            0,
            "never below 0"
        );
    }
}
