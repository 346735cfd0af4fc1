//! Stock semantics: on-hand counters, reservations, ATP. Pure: no clock, no I/O.
//!
//! Per SKU (`SkuState`): on hand per location is a `crdts::PNCounter` written by one actor per
//! channel and node term; the owner's counts and deltas become counter moves through an
//! `OwnerTimeline`; reservations are keyed by `channel/order/line` with a forward-only
//! lifecycle; ATP is on hand − held reservations − safety, never below 0. DESIGN.md rules 1–5
//! hold here; rule 6 (pushes) is the sync engine's.
//!
//! Every input is idempotent and order-independent: `tests` checks that any permutation and
//! duplication of an event sequence gives the same state, and that replica merge is
//! commutative, associative and idempotent.

mod codec;
mod counter;
mod reservation;
mod sku;
#[cfg(test)]
mod tests;
mod timeline;

use std::collections::BTreeMap;

use omnistock_sdk::{ChannelId, LineKey, LocationId, OrderId, StockEvent, Timestamp};

pub use codec::DecodeError;
pub use counter::{Actor, OnHandCounter};
pub use reservation::{Lifecycle, LineDetails, Reservation, Shipment};
pub use sku::{Change, Effect, HISTORY_LEN, LocationStock, Observation, Replica, SkuState};
pub use timeline::{OwnerTimeline, Placed};

/// Who owns (counts) each location.
pub trait Owners {
    fn owner(&self, location: &LocationId) -> Option<&ChannelId>;
}

impl Owners for BTreeMap<LocationId, ChannelId> {
    fn owner(&self, location: &LocationId) -> Option<&ChannelId> {
        self.get(location)
    }
}

/// An event with where it came from and who writes it.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The authenticated channel that reported it.
    pub channel: &'a ChannelId,
    /// The counter actor writing on its behalf: the channel (or node) and this node's term.
    pub actor: &'a Actor,
    /// A manual adjustment by an operator: changes on hand whoever owns the location.
    pub manual: bool,
    pub received_at: Timestamp,
    pub event: &'a StockEvent,
}

impl Input<'_> {
    fn is_owner_of(&self, location: &LocationId, owners: &dyn Owners) -> bool {
        owners.owner(location) == Some(self.channel)
    }

    fn line_key(&self, order: &OrderId, line: &str) -> LineKey {
        LineKey {
            channel: self.channel.clone(),
            order: order.clone(),
            line: line.to_owned(),
        }
    }
}
