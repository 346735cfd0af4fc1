//! The `strict` policy's rules across channels: what the escrow needs to keep its promise.
//!
//! - A strict channel sells from exactly one location. A channel selling from several picks
//!   the location of each order itself, so its number cannot be backed by per-location
//!   shares: all of it could be sold from one location whose share is smaller.
//! - No pooled channel sells from a location a strict channel sells from, except the
//!   location's owner. A pooled number is not part of the escrow: both would sell the same
//!   units, which gives up the no-oversell guarantee. The owner's own sales (a store's till)
//!   come off on hand directly; they are outside the escrow too, which is why strict is for
//!   locations that do not sell on their own (a warehouse), as documented in
//!   docs/design-notes.md.

use std::collections::BTreeMap;

use omnistock_sdk::{ChannelId, LocationId};

use super::lines::FieldPath;
use super::validate::Found;
use super::{ChannelConfig, LocationConfig, Policy};

/// Every problem with the strict channels of `channels` (at `path`).
pub(super) fn check(
    path: &FieldPath,
    channels: &BTreeMap<ChannelId, ChannelConfig>,
    locations: &BTreeMap<LocationId, LocationConfig>,
) -> Vec<Found> {
    let mut found = Vec::new();
    for (id, channel) in channels.iter().filter(|(_, c)| c.policy == Policy::Strict) {
        if channel.sells_from.len() != 1 {
            found.push(Found {
                path: path.key(id.as_str()).key("sells_from"),
                message: format!(
                    "a strict channel sells from exactly one location (it has {}): a channel \
                     selling from several chooses where each order is taken, so escrow shares \
                     of each location cannot back its number; use one strict channel per \
                     location or policy \"pooled\"",
                    channel.sells_from.len()
                ),
            });
        }
        for location in &channel.sells_from {
            let owner = locations.get(location).map(|l| &l.owner);
            let pooled = channels.iter().find(|(other, c)| {
                c.policy == Policy::Pooled
                    && c.sells_from.contains(location)
                    && Some(*other) != owner
            });
            if let Some((other, _)) = pooled {
                found.push(Found {
                    path: path.key(id.as_str()).key("policy"),
                    message: format!(
                        "strict channel {id} shares location {location} with pooled channel \
                         {other}: a pooled number is not part of the escrow, so together they \
                         could sell more than is there; make {other} strict too, or sell from \
                         different locations"
                    ),
                });
            }
        }
    }
    found
}
