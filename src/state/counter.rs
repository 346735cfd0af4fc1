//! `OnHandCounter`: a location's on-hand units as a `crdts::PNCounter`, one writer per actor.
//!
//! Laws (inherited from the PN-counter, checked in `state::tests`): merge is commutative,
//! associative and idempotent; each actor's increments and decrements only grow and merge by
//! max, so the value after any merge order is the same.
//!
//! Why one writer per actor: an entry only grows, so an actor that restarted from lost state
//! would see its new increments swallowed by the max. An actor is therefore a channel (or the
//! node, for manual adjustments) *plus the term of the node that holds it*; a restart starts a
//! new term.

use std::collections::BTreeMap;
use std::fmt;

use crdts::{CmRDT, CvRDT, PNCounter};
use num_traits::{Signed, ToPrimitive};
use serde::{Deserialize, Serialize};

/// A writer of counter increments: `shopify-main#3`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Actor(String);

impl Actor {
    /// The actor of `source` (a channel or node name) during `term`.
    pub fn new(source: &str, term: u64) -> Self {
        Self(format!("{source}#{term}"))
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// On-hand units at one location.
///
/// The value is kept beside the counter: `PNCounter::read` sums every actor's entries into a
/// `BigInt` (allocating), and the ingest reads the value at every owner event. `value` is a
/// function of the counter, recomputed after every change, so the derived equality still
/// compares counters only in effect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OnHandCounter {
    counter: PNCounter<Actor>,
    value: i64,
}

impl OnHandCounter {
    fn new(counter: PNCounter<Actor>) -> Self {
        let value = read(&counter);
        Self { counter, value }
    }

    /// The current value (sum of increments minus decrements of every actor).
    pub fn value(&self) -> i64 {
        self.value
    }

    /// Moves the value to `target`, writing the difference as `actor`.
    #[must_use]
    pub fn moved_to(mut self, target: i64, actor: &Actor) -> Self {
        let diff = i128::from(target) - i128::from(self.value);
        let steps = u64::try_from(diff.unsigned_abs()).unwrap_or(u64::MAX);
        if diff == 0 {
            return self;
        }
        let op = if diff > 0 {
            self.counter.inc_many(actor.clone(), steps)
        } else {
            self.counter.dec_many(actor.clone(), steps)
        };
        self.counter.apply(op);
        // Exact unless the value left i64 (saturated, as `read` does).
        self.value =
            i64::try_from(i128::from(self.value) + diff).unwrap_or_else(|_| read(&self.counter));
        debug_assert_eq!(self.value, read(&self.counter));
        self
    }

    /// Merges another replica of the same counter.
    #[must_use]
    pub fn merged(mut self, other: &Self) -> Self {
        self.counter.merge(other.counter.clone());
        self.value = read(&self.counter);
        self
    }

    /// Each actor's (increments, decrements): the form we store.
    pub fn parts(&self) -> BTreeMap<Actor, (u64, u64)> {
        // crdts keeps the per-actor totals private; its serde form (pinned by `crdts = "=7.3.2"`)
        // is the only way to read them. This is the one place that depends on that form, and
        // `counter_parts_round_trip` guards it when the crate is upgraded.
        let mut parts: BTreeMap<Actor, (u64, u64)> = BTreeMap::new();
        let form = serde_json::to_value(&self.counter).unwrap_or_default();
        for (side, pick) in [("p", 0), ("n", 1)] {
            let dots = form[side]["inner"]["dots"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for (actor, count) in dots {
                let entry = parts.entry(Actor(actor)).or_default();
                let count = count.as_u64().unwrap_or(0);
                if pick == 0 {
                    entry.0 = count;
                } else {
                    entry.1 = count;
                }
            }
        }
        parts
    }

    /// Rebuilds a counter from each actor's (increments, decrements).
    pub fn from_parts(parts: &BTreeMap<Actor, (u64, u64)>) -> Self {
        let mut counter = PNCounter::new();
        for (actor, &(p, n)) in parts {
            if p > 0 {
                let op = counter.inc_many(actor.clone(), p);
                counter.apply(op);
            }
            if n > 0 {
                let op = counter.dec_many(actor.clone(), n);
                counter.apply(op);
            }
        }
        Self::new(counter)
    }
}

/// The counter's value, saturated to i64 (beyond it only by a bug upstream).
fn read(counter: &PNCounter<Actor>) -> i64 {
    let value = counter.read();
    value.to_i64().unwrap_or(if value.is_negative() {
        i64::MIN
    } else {
        i64::MAX
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_parts_round_trip() {
        let a = Actor::new("pos", 1);
        let b = Actor::new("node-1", 2);
        let counter = OnHandCounter::default()
            .moved_to(7, &a)
            .moved_to(3, &b)
            .moved_to(5, &a);
        assert_eq!(counter.value(), 5);
        let parts = counter.parts();
        assert_eq!(parts[&a], (9, 0));
        assert_eq!(parts[&b], (0, 4));
        assert_eq!(OnHandCounter::from_parts(&parts), counter);
    }

    #[test]
    fn moving_to_the_same_value_writes_nothing() {
        let a = Actor::new("pos", 1);
        let counter = OnHandCounter::default().moved_to(4, &a);
        assert_eq!(counter.clone().moved_to(4, &a), counter);
    }
}
