//! Which pushes a change calls for: the writer's side of the sync engine. Pure.
//!
//! After every group commit the writer asks the planner, for each SKU it touched, what each
//! pushing channel should now show; a number that differs from the last one planned becomes
//! an outbox entry in the same atomic commit as the events that caused it. The planner also
//! lowers a channel's `published` value by the units of its own new orders: the channel
//! already lowered its number for them (DESIGN.md rule 5), so nothing is pushed back to it.
//!
//! A channel that owns a location and takes deltas there is shown *holds* ([`Shown::Holds`]):
//! its own count of the location, less the units other channels' open orders hold there.
//! Its own changes of that count (a sale at its till, a delivery) move its number and ours
//! together, so they move `published` like a channel's own orders do; a count it takes
//! replaces its number, our holds included, so `published` becomes the count.

use std::collections::{BTreeMap, HashMap};

use omnistock_sdk::{ChannelId, LocationId, Sku, Timestamp};

use super::book::StatusBoard;
use crate::config::Config;
use crate::state::{Lifecycle, SkuState};
use crate::store::{OutboxEntry, Published};
use crate::{allocation, kits};

/// What a pushing channel is made to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shown {
    /// Its allocation: its policy's number over the locations it sells from.
    Allocation,
    /// Holds at the location it owns: on hand there less the units open reservations hold
    /// (no safety stock, no buffer: the store's till sells what is on its shelves).
    Holds(LocationId),
    /// Its own count at the location it owns, moved by the adjustments made in omnistock
    /// (a WMS that takes cycle counts): on hand there. Pushed as the difference from what
    /// was last published, never from a number read back.
    Mirror(LocationId),
}

impl Shown {
    /// The location the channel owns and is pushed at, for the owner forms.
    fn owned(&self) -> Option<&LocationId> {
        match self {
            Shown::Allocation => None,
            Shown::Holds(location) | Shown::Mirror(location) => Some(location),
        }
    }
}

/// Where a channel's own activity stood before a group of events, to see how far the group
/// moved the number the channel shows by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnMark {
    /// Units the channel's own activity keeps out of its number.
    units: i64,
    /// For a holding channel, the time of the newest count merged at its location.
    counted_at: Option<Timestamp>,
    /// The channel's order lines whose end (a cancellation, a fulfilment) we saw but never
    /// their opening: a sale it made that we never heard of. A cancellation that restocks
    /// one moves the channel's number without moving `published` (we never lowered it), so
    /// a new one calls for a push even though the target stays.
    orphans: usize,
}

/// The last target planned per pushing channel and SKU.
#[derive(Debug, Default)]
pub struct Planner {
    pushing: BTreeMap<ChannelId, Shown>,
    last: HashMap<(ChannelId, Sku), i64>,
    /// Where the channels' measured sync lags are, for adaptive buffers.
    lags: Option<StatusBoard>,
}

impl Planner {
    /// Starts from what the store holds: the newest pending target, else the published value.
    /// A SKU with neither gets planned on its first change (or by `plan_all`).
    pub fn new(
        pushing: BTreeMap<ChannelId, Shown>,
        pending: &[(u64, OutboxEntry)],
        published: &[(ChannelId, Sku, Published)],
    ) -> Self {
        let mut last = HashMap::new();
        for (channel, sku, value) in published {
            last.insert((channel.clone(), sku.clone()), value.quantity);
        }
        // Pending entries come oldest first per channel: the newest wins.
        for (_, entry) in pending {
            last.insert((entry.channel.clone(), entry.sku.clone()), entry.target);
        }
        Self {
            pushing,
            last,
            lags: None,
        }
    }

    /// Reads the channels' sync lags from `status` when a channel's buffer is adaptive.
    pub fn with_lags(mut self, status: StatusBoard) -> Self {
        self.lags = Some(status);
        self
    }

    /// The channels with a push side.
    pub fn pushing(&self) -> impl Iterator<Item = &ChannelId> {
        self.pushing.keys()
    }

    /// Where `channel`'s own activity on this SKU stands; compare with
    /// [`Planner::published_after_own`] once a group has been applied.
    pub fn own_mark(&self, state: &SkuState, channel: &ChannelId) -> OwnMark {
        let sold = own_sold_units(state, channel);
        let orphans = state
            .replica
            .reservations
            .iter()
            .filter(|(key, r)| &key.channel == channel && r.details.is_none())
            .count();
        match self.pushing.get(channel).and_then(Shown::owned) {
            Some(location) => OwnMark {
                units: sold - state.on_hand(location),
                counted_at: state.replica.counted_at.get(location).copied(),
                orphans,
            },
            _ => OwnMark {
                units: sold,
                counted_at: None,
                orphans,
            },
        }
    }

    /// `published` after the channel's own activity moved from `before` to what `state` now
    /// holds, or `None` if it did not move. `manual(location)`: what operators' adjustments
    /// moved on hand there meanwhile — not the owner's own change, so it is left to be pushed.
    /// The end of a line whose opening we never saw leaves `published` as it is but is
    /// still returned as a move: the channel may have put the unseen sale's units back, and
    /// only a push (which reads it) finds out.
    pub fn published_after_own(
        &self,
        state: &SkuState,
        channel: &ChannelId,
        before: OwnMark,
        published: i64,
        manual: &dyn Fn(&LocationId) -> i64,
    ) -> Option<i64> {
        let after = self.own_mark(state, channel);
        if let (Some(location), true) = (
            self.pushing.get(channel).and_then(Shown::owned),
            after.counted_at != before.counted_at,
        ) {
            // A newer count replaced the channel's number, our holds with it.
            return Some(state.on_hand(location) - own_sold_units(state, channel));
        }
        let by_operators = self
            .pushing
            .get(channel)
            .and_then(Shown::owned)
            .map_or(0, manual);
        let moved = after.units - before.units + by_operators;
        (moved != 0 || after.orphans != before.orphans).then_some(published - moved)
    }

    /// Outbox entries for every pushing channel whose number for one of `skus` changed since
    /// the last planned one, or whose published value moved (`moved`: a channel's own sale or
    /// restock changes what the next push must do even when the target stays). Call
    /// [`Planner::planned`] once they are committed.
    pub fn plan<'a>(
        &self,
        config: &Config,
        skus: impl IntoIterator<Item = (&'a Sku, &'a SkuState)>,
        moved: &[(ChannelId, Sku)],
        now: Timestamp,
    ) -> Vec<OutboxEntry> {
        let mut entries = Vec::new();
        let conditions = self.conditions(config, now);
        for (sku, state) in skus {
            let numbers = allocation::availability(sku, state, config, &conditions);
            for (channel, shown) in &self.pushing {
                let target = match shown {
                    Shown::Allocation => match numbers.channels.get(channel) {
                        Some(number) => number.available,
                        None => continue,
                    },
                    Shown::Holds(location) => held_number(state, location),
                    Shown::Mirror(location) => state.on_hand(location).max(0),
                };
                self.emit(&mut entries, channel, sku, target, moved, now);
            }
        }
        entries
    }

    /// The target last planned for `channel` and `sku` (or its published value at start).
    pub fn last_planned(&self, channel: &ChannelId, sku: &Sku) -> Option<i64> {
        self.last.get(&(channel.clone(), sku.clone())).copied()
    }

    /// Like [`Planner::plan`], for kits: each kit's numbers come from its components'
    /// states (`states`), which the group may have changed.
    pub fn plan_kits(
        &self,
        config: &Config,
        kits: &[Sku],
        states: &dyn Fn(&Sku) -> Option<SkuState>,
        moved: &[(ChannelId, Sku)],
        now: Timestamp,
    ) -> Vec<OutboxEntry> {
        let conditions = self.conditions(config, now);
        let mut entries = Vec::new();
        for sku in kits {
            let Some(kit) = config.kits.get(sku) else {
                continue;
            };
            let numbers = kits::availability(kit, states, config, &conditions);
            for (channel, shown) in &self.pushing {
                let target = match shown {
                    Shown::Allocation => match numbers.channels.get(channel) {
                        Some(number) => number.available,
                        None => continue,
                    },
                    // A kit has no count of its own to keep in step.
                    Shown::Mirror(_) => continue,
                    Shown::Holds(location) => kit
                        .components
                        .iter()
                        .map(|(c, count)| {
                            states(c).map_or(0, |s| held_number(&s, location)) / i64::from(*count)
                        })
                        .min()
                        .unwrap_or(0),
                };
                self.emit(&mut entries, channel, sku, target, moved, now);
            }
        }
        entries
    }

    /// What numbers depend on at `now`: the channels' lags only if a buffer is adaptive.
    fn conditions(&self, config: &Config, now: Timestamp) -> allocation::Conditions {
        let adaptive = config.channels.values().any(|c| c.adaptive_buffer);
        allocation::Conditions {
            now,
            lag_seconds: match (&self.lags, adaptive) {
                (Some(status), true) => status.lags(),
                _ => Default::default(),
            },
        }
    }

    /// An outbox entry for `channel` and `sku` if `target` differs from the last one planned
    /// or the channel's published value moved.
    fn emit(
        &self,
        entries: &mut Vec<OutboxEntry>,
        channel: &ChannelId,
        sku: &Sku,
        target: i64,
        moved: &[(ChannelId, Sku)],
        now: Timestamp,
    ) {
        let key = (channel.clone(), sku.clone());
        if self.last.get(&key) == Some(&target) && !moved.contains(&key) {
            return;
        }
        entries.push(OutboxEntry {
            channel: channel.clone(),
            sku: sku.clone(),
            target,
            created_at: now,
            attempt: None,
            lost: None,
        });
    }

    /// Remembers entries the store committed.
    pub fn planned(&mut self, entries: &[OutboxEntry]) {
        for entry in entries {
            self.last
                .insert((entry.channel.clone(), entry.sku.clone()), entry.target);
        }
    }
}

/// What a holding owner shows at its location: on hand less what open reservations hold
/// there, never below 0.
pub fn held_number(state: &SkuState, location: &LocationId) -> i64 {
    let stock = state.stock_at(location, 0);
    stock.on_hand.saturating_sub(stock.reserved).max(0)
}

/// Units sold on `channel` itself that it still keeps out of its own number: its order lines
/// that opened, unless cancelled with a restock. A kit's lines on its components are not the
/// component's sales on that channel (it lowered the kit's number, not theirs). Fulfilment leaves the channel's number as
/// it is; a restocking cancellation puts the units back.
pub fn own_sold_units(state: &SkuState, channel: &ChannelId) -> i64 {
    state
        .replica
        .reservations
        .iter()
        .filter(|(key, r)| {
            &key.channel == channel
                && !kits::is_kit_line(&key.line)
                && !matches!(
                    r.lifecycle,
                    Lifecycle::Cancelled {
                        restocked: true,
                        ..
                    }
                )
        })
        .filter_map(|(_, r)| r.details.as_ref())
        .map(|d| i64::from(d.quantity))
        .sum()
}

#[cfg(test)]
mod tests {
    use omnistock_sdk::{EventId, LineKey, LocationId, OrderId};

    use super::*;
    use crate::state::{Lifecycle, LineDetails, Reservation};

    fn line(
        channel: &str,
        order: &str,
        quantity: u32,
        lifecycle: Lifecycle,
    ) -> (LineKey, Reservation) {
        let key = LineKey {
            channel: ChannelId::new(channel).expect("id"),
            order: OrderId::new(order).expect("id"),
            line: "1".into(),
        };
        let details = LineDetails {
            opened: (
                Timestamp::EPOCH,
                EventId::new(format!("{channel}-{order}")).expect("id"),
            ),
            location: LocationId::new("wh").expect("id"),
            quantity,
        };
        (
            key,
            Reservation {
                details: Some(details),
                lifecycle,
                shipments: Default::default(),
            },
        )
    }

    #[test]
    fn own_sales_count_until_a_restocking_cancellation() {
        let mut state = SkuState::default();
        let cancelled = |restocked| Lifecycle::Cancelled {
            at: Timestamp::EPOCH,
            restocked,
        };
        for (key, r) in [
            line("web", "1", 2, Lifecycle::Open),
            line("web", "2", 1, cancelled(true)),
            line("web", "5", 16, cancelled(false)),
            line(
                "web",
                "3",
                4,
                Lifecycle::Fulfilled {
                    at: Timestamp::EPOCH,
                },
            ),
            line("pos", "4", 8, Lifecycle::Open),
        ] {
            state.replica.reservations.insert(key, r);
        }
        assert_eq!(
            own_sold_units(&state, &ChannelId::new("web").expect("id")),
            2 + 16 + 4
        );
    }

    #[test]
    fn the_end_of_a_sale_never_seen_calls_for_a_push() {
        // `web` sold a unit whose order never reached us, then cancelled it and put the unit
        // back: `published` stays, but the channel may show more than its target now.
        let web = ChannelId::new("web").expect("id");
        let planner = Planner::new(BTreeMap::from([(web.clone(), Shown::Allocation)]), &[], &[]);
        let mut state = SkuState::default();
        let (other_key, _) = line("pos", "8", 1, Lifecycle::Open);
        state.replica.reservations.insert(
            other_key,
            Reservation::with_lifecycle(Lifecycle::Fulfilled {
                at: Timestamp::EPOCH,
            }),
        );
        let before = planner.own_mark(&state, &web);
        let none = |_: &LocationId| 0;
        assert_eq!(
            planner.published_after_own(&state, &web, before, 5, &none),
            None,
            "another channel's line is not its own activity"
        );
        let (key, _) = line("web", "9", 1, Lifecycle::Open);
        state.replica.reservations.insert(
            key,
            Reservation::with_lifecycle(Lifecycle::Cancelled {
                at: Timestamp::EPOCH,
                restocked: true,
            }),
        );
        assert_eq!(
            planner.published_after_own(&state, &web, before, 5, &none),
            Some(5)
        );
    }
}
