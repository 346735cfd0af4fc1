//! `SkuState`: everything known about one SKU, and how an event changes it.

use std::collections::{BTreeMap, VecDeque};

use omnistock_sdk::{ChannelId, LineKey, LocationId, StockChange, StockEvent, Timestamp};
use serde::{Deserialize, Serialize};

use super::counter::{Actor, OnHandCounter};
use super::reservation::{Lifecycle, LineDetails, Reservation, Shipment};
use super::timeline::{Mark, OwnerTimeline, Placed};
use super::{Input, Owners};

/// How many recent changes a SKU remembers for `GET /v1/stock/{sku}`.
pub const HISTORY_LEN: usize = 20;

/// What a channel that does not own a location last showed there: only a fact about that
/// channel (for echo and drift detection), never a stock change (DESIGN.md rule 2).
/// Ordered by mark, so the latest observation wins a merge.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Observation {
    pub mark: Mark,
    pub quantity: i64,
}

/// One remembered change, for operators reading the stock of a SKU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub at: Timestamp,
    pub channel: ChannelId,
    pub event_id: String,
    pub summary: String,
}

/// The replicated part of a SKU's state: what nodes exchange and merge.
///
/// Laws: merge is commutative, associative and idempotent, field by field — counters by
/// PN-counter merge, reservations by lifecycle merge, count times and observations by max.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replica {
    pub on_hand: BTreeMap<LocationId, OnHandCounter>,
    pub reservations: BTreeMap<LineKey, Reservation>,
    /// When each location's owner last counted it (rule 3).
    pub counted_at: BTreeMap<LocationId, Timestamp>,
    pub observed: BTreeMap<(ChannelId, LocationId), Observation>,
}

impl Replica {
    #[must_use]
    pub fn merged(mut self, other: &Replica) -> Replica {
        for (location, counter) in &other.on_hand {
            let mine = self.on_hand.remove(location).unwrap_or_default();
            self.on_hand.insert(location.clone(), mine.merged(counter));
        }
        for (key, reservation) in &other.reservations {
            let merged = match self.reservations.remove(key) {
                Some(mine) => mine.merged(reservation),
                None => reservation.clone(),
            };
            self.reservations.insert(key.clone(), merged);
        }
        for (location, at) in &other.counted_at {
            let latest = self
                .counted_at
                .get(location)
                .map_or(*at, |mine| (*mine).max(*at));
            self.counted_at.insert(location.clone(), latest);
        }
        for (key, observation) in &other.observed {
            let newer = match self.observed.get(key) {
                Some(mine) if mine >= observation => continue,
                _ => observation.clone(),
            };
            self.observed.insert(key.clone(), newer);
        }
        self
    }
}

/// One SKU's stock state: the replica plus what this node needs to write it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SkuState {
    pub replica: Replica,
    /// Per location, the owner's counts and deltas as written by this node.
    pub timelines: BTreeMap<LocationId, OwnerTimeline>,
    /// The last changes, newest last; not replicated, not part of stock semantics.
    pub history: VecDeque<Change>,
    /// When the SKU last changed (on hand or reservations).
    pub last_change: Option<Timestamp>,
}

/// What applying an event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The state changed.
    Changed,
    /// Nothing to change: a duplicate, an older count, a repeated lifecycle step.
    Unchanged,
    /// Not a stock change by the rules: e.g. a non-owner's adjustment.
    Ignored(&'static str),
}

/// One location's numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LocationStock {
    pub on_hand: i64,
    pub reserved: i64,
    pub safety: i64,
    /// on hand − reserved − safety, never below 0.
    pub available: i64,
}

impl SkuState {
    /// Applies one event. Idempotent, and order-independent in its final result.
    pub fn apply(&mut self, input: &Input<'_>, owners: &dyn Owners) -> Effect {
        let event = input.event;
        let mark: Mark = (event.occurred_at, event.id.clone());
        let effect = match &event.change {
            StockChange::LevelObserved { location, quantity } => {
                if input.is_owner_of(location, owners) {
                    let placed = self.timeline(location).count(mark.clone(), *quantity);
                    if placed == Placed::Applied {
                        let counted = self
                            .replica
                            .counted_at
                            .entry(location.clone())
                            .or_insert(event.occurred_at);
                        *counted = (*counted).max(event.occurred_at);
                    }
                    self.settle(location, placed, input.actor)
                } else {
                    self.observe(
                        input.channel,
                        location,
                        Observation {
                            mark,
                            quantity: *quantity,
                        },
                    )
                }
            }
            StockChange::Adjusted { location, by, .. } => {
                if input.is_owner_of(location, owners) || input.manual {
                    let placed = self.timeline(location).delta(mark, *by);
                    self.settle(location, placed, input.actor)
                } else {
                    Effect::Ignored(
                        "only a location's owner or a manual adjustment changes its on hand",
                    )
                }
            }
            StockChange::OrderLineOpened {
                order,
                line,
                location,
                quantity,
            } => {
                let details = LineDetails {
                    opened: mark,
                    location: location.clone(),
                    quantity: *quantity,
                };
                self.reserve(input.line_key(order, line), Reservation::opened(details))
            }
            StockChange::OrderLineFulfilled {
                order,
                line,
                channel,
                quantity,
            } => self.reserve(
                LineKey {
                    channel: channel.clone().unwrap_or_else(|| input.channel.clone()),
                    order: order.clone(),
                    line: line.clone(),
                },
                match quantity {
                    Some(quantity) => Reservation::shipped(
                        input.channel.clone(),
                        event.id.clone(),
                        Shipment {
                            at: event.occurred_at,
                            quantity: *quantity,
                        },
                    ),
                    None => Reservation::with_lifecycle(Lifecycle::Fulfilled {
                        at: event.occurred_at,
                    }),
                },
            ),
            StockChange::OrderLineCancelled {
                order,
                line,
                restocked,
            } => self.reserve(
                input.line_key(order, line),
                Reservation::with_lifecycle(Lifecycle::Cancelled {
                    at: event.occurred_at,
                    restocked: *restocked,
                }),
            ),
        };
        if effect == Effect::Changed {
            self.remember(input, event);
        }
        effect
    }

    /// Merges another node's replica of this SKU.
    pub fn merge_replica(&mut self, other: &Replica) {
        self.replica = std::mem::take(&mut self.replica).merged(other);
    }

    /// On hand at `location`.
    pub fn on_hand(&self, location: &LocationId) -> i64 {
        self.replica
            .on_hand
            .get(location)
            .map_or(0, OnHandCounter::value)
    }

    /// Units held by open (or fulfilled but not yet counted) reservations at `location`.
    pub fn reserved(&self, location: &LocationId) -> i64 {
        let counted = self.replica.counted_at.get(location).copied();
        self.replica
            .reservations
            .values()
            .filter(|r| r.details.as_ref().is_some_and(|d| &d.location == location))
            .map(|r| i64::from(r.held(counted)))
            .sum()
    }

    /// The numbers at one location, with its safety stock.
    pub fn stock_at(&self, location: &LocationId, safety: i64) -> LocationStock {
        let on_hand = self.on_hand(location);
        let reserved = self.reserved(location);
        let available = on_hand
            .saturating_sub(reserved)
            .saturating_sub(safety)
            .max(0);
        LocationStock {
            on_hand,
            reserved,
            safety,
            available,
        }
    }

    /// Every location this SKU has a number or a reservation at.
    pub fn locations(&self) -> Vec<LocationId> {
        let mut locations: Vec<LocationId> = self.replica.on_hand.keys().cloned().collect();
        for reservation in self.replica.reservations.values() {
            if let Some(details) = &reservation.details {
                locations.push(details.location.clone());
            }
        }
        locations.sort();
        locations.dedup();
        locations
    }

    fn timeline(&mut self, location: &LocationId) -> &mut OwnerTimeline {
        self.timelines.entry(location.clone()).or_default()
    }

    /// Moves the location's counter to what its timeline now says, written as `actor`.
    fn settle(&mut self, location: &LocationId, placed: Placed, actor: &Actor) -> Effect {
        if placed != Placed::Applied {
            return Effect::Unchanged;
        }
        let target = self.timelines.get(location).map_or(0, OwnerTimeline::value);
        let counter = self.replica.on_hand.remove(location).unwrap_or_default();
        self.replica
            .on_hand
            .insert(location.clone(), counter.moved_to(target, actor));
        Effect::Changed
    }

    fn reserve(&mut self, key: LineKey, incoming: Reservation) -> Effect {
        let before = self.replica.reservations.get(&key).cloned();
        let after = match before.clone() {
            Some(existing) => existing.merged(&incoming),
            None => incoming,
        };
        if before.as_ref() == Some(&after) {
            return Effect::Unchanged;
        }
        self.replica.reservations.insert(key, after);
        Effect::Changed
    }

    fn observe(
        &mut self,
        channel: &ChannelId,
        location: &LocationId,
        observation: Observation,
    ) -> Effect {
        let key = (channel.clone(), location.clone());
        if self
            .replica
            .observed
            .get(&key)
            .is_some_and(|seen| seen.mark >= observation.mark)
        {
            return Effect::Unchanged;
        }
        self.replica.observed.insert(key, observation);
        Effect::Changed
    }

    fn remember(&mut self, input: &Input<'_>, event: &StockEvent) {
        self.last_change = Some(
            self.last_change
                .map_or(input.received_at, |t| t.max(input.received_at)),
        );
        self.history.push_back(Change {
            at: event.occurred_at,
            channel: input.channel.clone(),
            event_id: event.id.to_string(),
            summary: summarize(&event.change),
        });
        while self.history.len() > HISTORY_LEN {
            self.history.pop_front();
        }
    }
}

#[cfg(test)]
impl SkuState {
    /// A state with `quantity` units of `sku` counted at `location` by its owner: for the
    /// unit tests of what reads states (kits, the escrow).
    pub(crate) fn counted_for_tests(
        sku: &omnistock_sdk::Sku,
        location: &LocationId,
        quantity: i64,
        owners: &dyn Owners,
    ) -> Self {
        let owner = owners
            .owner(location)
            .expect("the location has an owner")
            .clone();
        let event = StockEvent {
            id: omnistock_sdk::EventId::new("count").expect("id"),
            occurred_at: Timestamp::from_millis(1_000),
            sku: sku.clone(),
            change: StockChange::LevelObserved {
                location: location.clone(),
                quantity,
            },
        };
        let input = Input {
            channel: &owner,
            actor: &Actor::new(owner.as_str(), 1),
            manual: false,
            received_at: Timestamp::from_millis(1_000),
            event: &event,
        };
        let mut state = Self::default();
        let _ = state.apply(&input, owners);
        state
    }
}

fn summarize(change: &StockChange) -> String {
    match change {
        StockChange::LevelObserved { location, quantity } => {
            format!("counted {quantity} at {location}")
        }
        StockChange::Adjusted {
            location,
            by,
            reason,
        } if reason.is_empty() => format!("adjusted {by:+} at {location}"),
        StockChange::Adjusted {
            location,
            by,
            reason,
        } => format!("adjusted {by:+} at {location} ({reason})"),
        StockChange::OrderLineOpened {
            order,
            line,
            location,
            quantity,
        } => {
            format!("order {order} line {line} reserves {quantity} at {location}")
        }
        StockChange::OrderLineFulfilled {
            order,
            line,
            channel,
            quantity,
        } => {
            let whose = channel.as_ref().map_or(String::new(), |c| format!("{c} "));
            match quantity {
                None => format!("{whose}order {order} line {line} fulfilled"),
                Some(units) => format!("{whose}order {order} line {line}: {units} shipped"),
            }
        }
        StockChange::OrderLineCancelled { order, line, .. } => {
            format!("order {order} line {line} cancelled")
        }
    }
}
