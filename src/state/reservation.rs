//! `Reservation`: an order line's hold on units at a location, with a forward-only lifecycle.
//!
//! Laws (checked in `state::tests`): merge is commutative, associative and idempotent.
//! - The lifecycle only moves forward, `Open → Fulfilled → Cancelled` by rank, and merge keeps
//!   the further state; a cancellation that arrives before its order still ends cancelled. A
//!   cancellation outranks a fulfilment because a cancelled line never holds units, while a
//!   fulfilled one holds them until the owner's count shows them gone: either way each unit is
//!   counted once, and a fixed order makes the merge deterministic.
//! - Within one state the later time wins (a later fulfilment holds the units longer: safe).
//! - The line's details (location, quantity) are a last-writer-wins register by the opening
//!   event's mark, so an order edit re-sent with a new quantity replaces the old one.
//! - Partial shipments are a grow-only map keyed by the reporting channel and the shipment
//!   event's id (merge: union, the larger value if two replicas disagree about one id, which
//!   valid input never does), so a redelivered shipment counts once. What the line holds is
//!   a function of the merged parts, never of their arrival order. Per reporting channel,
//!   its parts in (time, id) order, each clamped to what is left of the line's quantity, are
//!   the units it says shipped, and those at or before the owner's last count are released
//!   (rule 3, per part). Two channels reporting the same line (the WMS that shipped it and
//!   the shop it fulfilled) describe the same units, so the line takes the most any one of
//!   them says, never their sum: shipped = max over reporters, released = max over reporters
//!   (each reporter's released parts have left and been counted, so the largest is safe).
//!   Held = shipped − released, plus the unshipped rest while the line is open or until the
//!   count after a whole-line fulfilment; a cancellation releases the unshipped rest at once.

use std::collections::BTreeMap;

use omnistock_sdk::{ChannelId, EventId, LocationId, Timestamp};
use serde::{Deserialize, Serialize};

use super::timeline::Mark;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lifecycle {
    Open,
    Fulfilled {
        at: Timestamp,
    },
    /// `restocked`: the selling channel put the units back into its own number.
    Cancelled {
        at: Timestamp,
        #[serde(default)]
        restocked: bool,
    },
}

impl Lifecycle {
    fn rank(&self) -> (u8, Timestamp, bool) {
        match self {
            Self::Open => (0, Timestamp::EPOCH, false),
            Self::Fulfilled { at } => (1, *at, false),
            Self::Cancelled { at, restocked } => (2, *at, *restocked),
        }
    }

    /// Name for the API and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Fulfilled { .. } => "fulfilled",
            Self::Cancelled { .. } => "cancelled",
        }
    }
}

/// Where and how many units the line holds, from its (latest) opening event.
/// Ordered by the opening mark first, so "latest opening wins"; the other fields only break
/// ties between (invalid) inputs that reuse one event id, keeping merge deterministic.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LineDetails {
    pub opened: Mark,
    pub location: LocationId,
    pub quantity: u32,
}

/// One partial shipment of a line: `quantity` units left at `at`.
/// Ordered so that two (invalid) shipments under one event id merge deterministically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shipment {
    pub at: Timestamp,
    pub quantity: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// `None` while only a fulfilment or cancellation has arrived.
    pub details: Option<LineDetails>,
    /// `Fulfilled` only for a whole-line fulfilment (one that names no quantity).
    pub lifecycle: Lifecycle,
    /// Partial shipments by the channel that reported them, then by their event's id (ids
    /// are unique per channel). Absent from records written before partial shipments
    /// existed (and from those that never had one), so those read and write as before.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shipments: BTreeMap<ChannelId, BTreeMap<EventId, Shipment>>,
}

impl Reservation {
    pub fn opened(details: LineDetails) -> Self {
        Self {
            details: Some(details),
            lifecycle: Lifecycle::Open,
            shipments: BTreeMap::new(),
        }
    }

    pub fn with_lifecycle(lifecycle: Lifecycle) -> Self {
        Self {
            details: None,
            lifecycle,
            shipments: BTreeMap::new(),
        }
    }

    /// A line of which shipment `id`, reported by `reporter`, took some units.
    pub fn shipped(reporter: ChannelId, id: EventId, shipment: Shipment) -> Self {
        Self {
            details: None,
            lifecycle: Lifecycle::Open,
            shipments: BTreeMap::from([(reporter, BTreeMap::from([(id, shipment)]))]),
        }
    }

    /// The merge of two replicas of the same line.
    #[must_use]
    pub fn merged(self, other: &Self) -> Self {
        let details = match (self.details, &other.details) {
            (Some(a), Some(b)) => Some(if *b > a { b.clone() } else { a }),
            (a, b) => a.or_else(|| b.clone()),
        };
        let lifecycle = if other.lifecycle.rank() > self.lifecycle.rank() {
            other.lifecycle.clone()
        } else {
            self.lifecycle
        };
        let mut shipments = self.shipments;
        for (reporter, parts) in &other.shipments {
            let mine = shipments.entry(reporter.clone()).or_default();
            for (id, shipment) in parts {
                let kept = mine.entry(id.clone()).or_insert(*shipment);
                *kept = (*kept).max(*shipment);
            }
        }
        Self {
            details,
            lifecycle,
            shipments,
        }
    }

    /// Per reporting channel, (units it says shipped, of those the ones at or before
    /// `counted`): its parts in (time, id) order, each clamped to what the earlier ones left
    /// of `ordered`, so over-shipping never goes past the line.
    fn reported(
        &self,
        ordered: u32,
        counted: Option<Timestamp>,
    ) -> impl Iterator<Item = (u32, u32)> {
        self.shipments.values().map(move |parts| {
            let mut in_order: Vec<(&Shipment, &EventId)> =
                parts.iter().map(|(id, s)| (s, id)).collect();
            in_order.sort_by_key(|(s, id)| (s.at, *id));
            let (mut shipped, mut released) = (0u32, 0u32);
            for (s, _) in in_order {
                let took = s.quantity.min(ordered - shipped);
                shipped += took;
                if counted.is_some_and(|c| c >= s.at) {
                    released += took;
                }
            }
            (shipped, released)
        })
    }

    /// (shipped, released) for the line: the most any one reporter says (see the module docs).
    fn shipped_and_released(&self, ordered: u32, counted: Option<Timestamp>) -> (u32, u32) {
        self.reported(ordered, counted)
            .fold((0, 0), |(s, r), (shipped, released)| {
                (s.max(shipped), r.max(released))
            })
    }

    /// Units the partial shipments took, at most the line's quantity; 0 before it opened.
    pub fn shipped_units(&self) -> u32 {
        self.details
            .as_ref()
            .map_or(0, |d| self.shipped_and_released(d.quantity, None).0)
    }

    /// Name for the API and logs: a line whose partial shipments reach its quantity is
    /// fulfilled.
    pub fn state_name(&self) -> &'static str {
        let shipped_all = self
            .details
            .as_ref()
            .is_some_and(|d| !self.shipments.is_empty() && self.shipped_units() >= d.quantity);
        match self.lifecycle {
            Lifecycle::Open if shipped_all => "fulfilled",
            _ => self.lifecycle.name(),
        }
    }

    /// The units this line holds at its location, given when its owner last counted there.
    /// Rule 3: shipped units are held until an owner count at or after their shipment has
    /// been merged, so a shipped unit is subtracted exactly once; each partial shipment is
    /// released by its own count. The unshipped rest is held while the line is open; a
    /// whole-line fulfilment ships it, a cancellation releases it at once.
    pub fn held(&self, owner_counted_at: Option<Timestamp>) -> u32 {
        let Some(details) = &self.details else {
            return 0;
        };
        let (shipped, released) = self.shipped_and_released(details.quantity, owner_counted_at);
        let rest = details.quantity - shipped;
        let unshipped = match self.lifecycle {
            Lifecycle::Open => rest,
            Lifecycle::Fulfilled { at } if owner_counted_at.is_none_or(|counted| counted < at) => {
                rest
            }
            Lifecycle::Fulfilled { .. } | Lifecycle::Cancelled { .. } => 0,
        };
        (shipped - released) + unshipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn line(quantity: u32) -> Reservation {
        Reservation::opened(LineDetails {
            opened: (at(0), EventId::new("open").expect("id")),
            location: LocationId::new("wh").expect("id"),
            quantity,
        })
    }

    fn ship(id: &str, when: i64, quantity: u32) -> Reservation {
        reported_by("wms", id, when, quantity)
    }

    fn reported_by(channel: &str, id: &str, when: i64, quantity: u32) -> Reservation {
        Reservation::shipped(
            ChannelId::new(channel).expect("id"),
            EventId::new(id).expect("id"),
            Shipment {
                at: at(when),
                quantity,
            },
        )
    }

    #[test]
    fn each_part_is_held_until_a_count_after_it() {
        let r = line(3).merged(&ship("s1", 10, 2));
        assert_eq!(r.held(Some(at(5))), 3, "nothing counted since the shipment");
        assert_eq!(r.held(Some(at(10))), 1, "the count covers the part shipped");
        assert_eq!(r.state_name(), "open");
        let r = r.merged(&ship("s2", 20, 1));
        assert_eq!(r.state_name(), "fulfilled");
        assert_eq!(
            r.held(Some(at(15))),
            1,
            "the second part waits for its count"
        );
        assert_eq!(r.held(Some(at(20))), 0);
    }

    #[test]
    fn over_shipping_is_clamped_and_the_late_part_is_cut() {
        let r = line(3)
            .merged(&ship("s1", 10, 2))
            .merged(&ship("s2", 20, 5));
        assert_eq!(r.shipped_units(), 3);
        assert_eq!(r.held(None), 3);
        assert_eq!(r.held(Some(at(10))), 1);
        assert_eq!(r.held(Some(at(20))), 0);
    }

    #[test]
    fn a_cancellation_releases_only_the_unshipped_rest() {
        let cancelled = Reservation::with_lifecycle(Lifecycle::Cancelled {
            at: at(30),
            restocked: true,
        });
        let r = line(3).merged(&ship("s1", 10, 2)).merged(&cancelled);
        assert_eq!(r.held(Some(at(5))), 2);
        assert_eq!(r.held(Some(at(10))), 0);
    }

    #[test]
    fn a_whole_line_fulfilment_ships_what_the_parts_left() {
        let whole = Reservation::with_lifecycle(Lifecycle::Fulfilled { at: at(30) });
        let r = line(3).merged(&ship("s1", 10, 2)).merged(&whole);
        assert_eq!(r.held(Some(at(10))), 1);
        assert_eq!(r.held(Some(at(30))), 0);
    }

    #[test]
    fn the_same_shipment_reported_by_the_wms_and_the_shop_counts_once() {
        // The WMS ships 2 at 10 and the shop records its fulfillment of them at 12; later
        // the WMS ships the last one at 20 and the shop has not heard yet.
        let r = line(3)
            .merged(&reported_by("wms", "shipment/1/7", 10, 2))
            .merged(&reported_by("web", "fulfillment/1/7", 12, 2));
        assert_eq!(r.shipped_units(), 2, "not 4");
        assert_eq!(r.held(None), 3);
        assert_eq!(
            r.held(Some(at(11))),
            1,
            "the WMS's part is counted, the third unit still held"
        );
        let r = r.merged(&reported_by("wms", "shipment/2/7", 20, 1));
        assert_eq!(r.state_name(), "fulfilled");
        assert_eq!(r.held(Some(at(12))), 1);
        assert_eq!(r.held(Some(at(20))), 0);
    }

    #[test]
    fn a_duplicate_shipment_counts_once() {
        let r = line(3)
            .merged(&ship("s1", 10, 1))
            .merged(&ship("s1", 10, 1));
        assert_eq!(r.shipped_units(), 1);
        assert_eq!(r.held(Some(at(10))), 2);
    }
}
