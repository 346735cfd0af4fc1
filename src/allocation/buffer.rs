//! A channel's buffer: the units held back from its number.
//!
//! Fixed (config, overridable per SKU), or adaptive: the units the channel is expected to sell
//! while a change is on its way to it — its recent sales velocity of the SKU times the sync
//! lag measured for it — so a slow or busy channel holds back more. The fixed buffer stays a
//! floor under the adaptive one.

use std::collections::BTreeMap;
use std::time::Duration;

use omnistock_sdk::{ChannelId, Sku, Timestamp};

use crate::config::Config;
use crate::state::SkuState;

/// How far back a channel's sales count towards its velocity.
pub const VELOCITY_WINDOW: Duration = Duration::from_secs(3600);

/// What a channel's number depends on beyond state and config: the time (for velocities) and
/// each channel's measured sync lag in seconds (for adaptive buffers).
#[derive(Clone, Debug, Default)]
pub struct Conditions {
    pub now: Timestamp,
    pub lag_seconds: BTreeMap<ChannelId, f64>,
}

/// The units held back from `channel`'s number for `sku`.
pub fn buffer(
    sku: &Sku,
    channel: &ChannelId,
    state: &SkuState,
    config: &Config,
    conditions: &Conditions,
) -> i64 {
    let fixed = config.buffer(sku, channel);
    let adaptive = config
        .channels
        .get(channel)
        .is_some_and(|c| c.adaptive_buffer);
    if !adaptive {
        return fixed;
    }
    let lag = conditions.lag_seconds.get(channel).copied().unwrap_or(0.0);
    let expected = units_per_second(state, channel, conditions.now) * lag;
    fixed.max(expected.round() as i64)
}

/// `channel`'s sales of this SKU per second over the last [`VELOCITY_WINDOW`]: the units of
/// its order lines opened in it, cancelled or not (a cancellation does not slow a channel
/// down).
pub fn units_per_second(state: &SkuState, channel: &ChannelId, now: Timestamp) -> f64 {
    let window = VELOCITY_WINDOW.as_millis() as i64;
    let since = now.as_millis() - window;
    let units: u64 = state
        .replica
        .reservations
        .iter()
        .filter(|(key, _)| &key.channel == channel)
        .filter_map(|(_, r)| r.details.as_ref())
        .filter(|d| d.opened.0.as_millis() > since && d.opened.0.as_millis() <= now.as_millis())
        .map(|d| u64::from(d.quantity))
        .sum();
    units as f64 / VELOCITY_WINDOW.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use omnistock_sdk::{EventId, LineKey, LocationId, OrderId};

    use super::*;
    use crate::state::{Lifecycle, LineDetails, Reservation};

    fn config(adaptive: bool) -> Config {
        let source = format!(
            r#"
node_id = "n"
[api]
admin_token = {{ env = "T" }}
[locations.wh]
owner = "wms"
[channels.wms]
kind = "generic"
webhook_secret = {{ env = "T" }}
sells_from = ["wh"]
[channels.web]
kind = "generic"
webhook_secret = {{ env = "T" }}
sells_from = ["wh"]
buffer = 1
adaptive_buffer = {adaptive}
"#
        );
        crate::config::for_tests(&source)
    }

    /// `web` sold `quantity` units per order at each of `minutes_ago`.
    fn sold(orders: &[(i64, u32)]) -> SkuState {
        let mut state = SkuState::default();
        for (i, (minutes_ago, quantity)) in orders.iter().enumerate() {
            let key = LineKey {
                channel: ChannelId::new("web").expect("id"),
                order: OrderId::new(format!("o{i}")).expect("id"),
                line: "1".into(),
            };
            let details = LineDetails {
                opened: (
                    Timestamp::from_millis(NOW - minutes_ago * 60_000),
                    EventId::new(format!("e{i}")).expect("id"),
                ),
                location: LocationId::new("wh").expect("id"),
                quantity: *quantity,
            };
            state.replica.reservations.insert(
                key,
                Reservation {
                    details: Some(details),
                    lifecycle: Lifecycle::Open,
                    shipments: Default::default(),
                },
            );
        }
        state
    }

    const NOW: i64 = 10 * 3_600_000;

    fn conditions(lag: f64) -> Conditions {
        Conditions {
            now: Timestamp::from_millis(NOW),
            lag_seconds: BTreeMap::from([(ChannelId::new("web").expect("id"), lag)]),
        }
    }

    fn web_buffer(state: &SkuState, config: &Config, lag: f64) -> i64 {
        buffer(
            &Sku::new("MUG").expect("sku"),
            &ChannelId::new("web").expect("id"),
            state,
            config,
            &conditions(lag),
        )
    }

    #[test]
    fn velocity_counts_the_last_hour_of_the_channels_own_orders() {
        // 3600 units in the last hour, 500 before it: one unit a second.
        let state = sold(&[(5, 1_800), (59, 1_800), (61, 500)]);
        let web = ChannelId::new("web").expect("id");
        let velocity = units_per_second(&state, &web, Timestamp::from_millis(NOW));
        assert!((velocity - 1.0).abs() < 1e-9, "{velocity}");
        let wms = ChannelId::new("wms").expect("id");
        assert_eq!(
            units_per_second(&state, &wms, Timestamp::from_millis(NOW)),
            0.0
        );
    }

    #[test]
    fn an_adaptive_buffer_holds_back_the_sales_expected_during_the_lag() {
        let state = sold(&[(5, 3_600)]);
        // One unit a second, 4.4 s of lag: 4 units, above the fixed buffer of 1.
        assert_eq!(web_buffer(&state, &config(true), 4.4), 4);
        // A fast channel keeps the fixed buffer as its floor.
        assert_eq!(web_buffer(&state, &config(true), 0.2), 1);
        // Without the switch the buffer is the fixed one, whatever the lag.
        assert_eq!(web_buffer(&state, &config(false), 30.0), 1);
    }

    #[test]
    fn the_channel_number_drops_by_the_adaptive_buffer() {
        let config = config(true);
        let state = sold(&[(5, 3_600)]);
        let numbers = crate::allocation::availability(
            &Sku::new("MUG").expect("sku"),
            &state,
            &config,
            &conditions(10.0),
        );
        let web = &numbers.channels[&ChannelId::new("web").expect("id")];
        assert_eq!(web.buffer, 10);
    }
}
