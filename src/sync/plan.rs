//! Which pushes a change calls for: the writer's side of the sync engine. Pure.
//!
//! After every group commit the writer asks the planner, for each SKU it touched, what each
//! pushing channel should now show; a number that differs from the last one planned becomes
//! an outbox entry in the same atomic commit as the events that caused it. The planner also
//! lowers a channel's `published` value by the units of its own new orders: the channel
//! already lowered its number for them (DESIGN.md rule 5), so nothing is pushed back to it.

use std::collections::{BTreeSet, HashMap};

use omnistock_sdk::{ChannelId, Sku, Timestamp};

use crate::allocation;
use crate::config::Config;
use crate::state::{Lifecycle, SkuState};
use crate::store::{OutboxEntry, Published};

/// The last target planned per pushing channel and SKU.
#[derive(Debug, Default)]
pub struct Planner {
    pushing: BTreeSet<ChannelId>,
    last: HashMap<(ChannelId, Sku), i64>,
}

impl Planner {
    /// Starts from what the store holds: the newest pending target, else the published value.
    /// A SKU with neither gets planned on its first change (or by `plan_all`).
    pub fn new(
        pushing: BTreeSet<ChannelId>,
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
        Self { pushing, last }
    }

    /// The channels with a push side.
    pub fn pushing(&self) -> &BTreeSet<ChannelId> {
        &self.pushing
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
        for (sku, state) in skus {
            let numbers = allocation::availability(sku, state, config);
            for channel in &self.pushing {
                let Some(number) = numbers.channels.get(channel) else {
                    continue;
                };
                let key = (channel.clone(), sku.clone());
                if self.last.get(&key) == Some(&number.available) && !moved.contains(&key) {
                    continue;
                }
                entries.push(OutboxEntry {
                    channel: channel.clone(),
                    sku: sku.clone(),
                    target: number.available,
                    created_at: now,
                    attempt: None,
                });
            }
        }
        entries
    }

    /// Remembers entries the store committed.
    pub fn planned(&mut self, entries: &[OutboxEntry]) {
        for entry in entries {
            self.last
                .insert((entry.channel.clone(), entry.sku.clone()), entry.target);
        }
    }
}

/// Units sold on `channel` itself that it still keeps out of its own number: its order lines
/// that opened, unless cancelled with a restock. Fulfilment leaves the channel's number as
/// it is; a restocking cancellation puts the units back.
pub fn own_sold_units(state: &SkuState, channel: &ChannelId) -> i64 {
    state
        .replica
        .reservations
        .iter()
        .filter(|(key, r)| {
            &key.channel == channel
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
}
