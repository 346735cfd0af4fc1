//! What each channel should show for a SKU, from its locations' ATP. Pure.
//!
//! `pooled`: the sum of the ATP of the locations the channel sells from, minus the channel's
//! buffer, never below 0. (`strict` escrow shares and adaptive buffers come with the sync
//! engine.)

use std::collections::BTreeMap;

use omnistock_sdk::{ChannelId, LocationId};
use serde::Serialize;

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

/// Computes every location's stock and every channel's number for one SKU.
pub fn availability(state: &SkuState, config: &Config) -> Availability {
    let locations: BTreeMap<LocationId, LocationStock> = config
        .locations
        .iter()
        .map(|(id, location)| (id.clone(), state.stock_at(id, location.safety)))
        .collect();
    let total = locations.values().map(|s| s.available).sum();
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
            let available = match channel.policy {
                Policy::Pooled => pooled.saturating_sub(channel.buffer).max(0),
            };
            let number = ChannelNumber {
                available,
                policy: "pooled",
                buffer: channel.buffer,
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
