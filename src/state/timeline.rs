//! `OwnerTimeline`: turns a location owner's absolute counts and deltas into one on-hand value.
//!
//! Owners report both absolute counts ("12 on the shelf") and deltas ("-1, till sale"), and
//! they arrive late and out of order (Square orders counts by the client's `occurred_at`, so
//! offline sales slot in late). The value is a function of the *set* of inputs, not of their
//! arrival order: the latest count (by `occurred_at`, then event id) plus every delta after it.
//! A delta at or before the latest count is already inside that count.
//!
//! Laws: applying the same input twice changes nothing, and any order of the same inputs
//! gives the same value (checked in `state::tests`).
//!
//! Deltas after the last count are kept individually so a late count can drop those it
//! already includes. To keep a record small when an owner sends deltas for a long time
//! without counting, the oldest are folded into one sum past [`MAX_KEPT_DELTAS`]; a count
//! older than the fold can no longer be placed and is ignored as stale. Deduplication of
//! inputs in the fold rests on the ingest log, which never admits an event id twice.

use std::collections::BTreeMap;

use omnistock_sdk::{EventId, Timestamp};
use serde::{Deserialize, Serialize};

/// How many individual deltas after the last count are kept before the oldest are folded.
///
/// A count taken before the oldest kept delta (that is, older than the 64 newest deltas
/// after the last placed count) can no longer be placed and is ignored as stale; deltas are
/// never lost (late ones inside the fold still add to it). 64 keeps a state's record a few
/// KB; the ingest rewrites it at every checkpoint and clones it when it changes.
pub const MAX_KEPT_DELTAS: usize = 64;

/// Where an input sits in the owner's timeline: its time, then its id to break ties.
pub type Mark = (Timestamp, EventId);

/// What an input did to the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placed {
    /// The input moved the timeline (the value may still be unchanged).
    Applied,
    /// Already seen: the same mark was applied before.
    Duplicate,
    /// Older than what the timeline already holds: inside the latest count, or before the fold.
    Stale,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerTimeline {
    /// The latest absolute count and its mark.
    count: Option<(Mark, i64)>,
    /// Deltas after `count` (and after `folded_through`), by mark.
    #[serde(with = "pairs")]
    deltas: BTreeMap<Mark, i64>,
    /// The sum of deltas folded away, all after `count` and at or before `folded_through`.
    folded: i64,
    folded_through: Option<Mark>,
}

impl OwnerTimeline {
    /// The on-hand value the inputs so far describe.
    pub fn value(&self) -> i64 {
        let base = self.count.as_ref().map_or(0, |(_, quantity)| *quantity);
        self.deltas
            .values()
            .fold(base.saturating_add(self.folded), |sum, d| {
                sum.saturating_add(*d)
            })
    }

    /// The time of the latest count, if any: rule 3 releases fulfilled reservations against it.
    pub fn counted_at(&self) -> Option<Timestamp> {
        self.count.as_ref().map(|((at, _), _)| *at)
    }

    /// An absolute count taken at `mark`.
    pub fn count(&mut self, mark: Mark, quantity: i64) -> Placed {
        if let Some((latest, _)) = &self.count {
            if *latest == mark {
                return Placed::Duplicate;
            }
            if *latest > mark {
                return Placed::Stale;
            }
        }
        if self
            .folded_through
            .as_ref()
            .is_some_and(|through| mark <= *through)
        {
            return Placed::Stale;
        }
        // Every kept or folded delta at or before the count is inside it.
        self.deltas = self.deltas.split_off(&mark);
        self.deltas.remove(&mark);
        self.folded = 0;
        self.folded_through = None;
        self.count = Some((mark, quantity));
        Placed::Applied
    }

    /// A relative change at `mark`.
    pub fn delta(&mut self, mark: Mark, by: i64) -> Placed {
        if self
            .count
            .as_ref()
            .is_some_and(|(latest, _)| mark <= *latest)
        {
            return Placed::Stale;
        }
        if self
            .folded_through
            .as_ref()
            .is_some_and(|through| mark <= *through)
        {
            self.folded = self.folded.saturating_add(by);
            return Placed::Applied;
        }
        if self.deltas.insert(mark, by).is_some() {
            return Placed::Duplicate;
        }
        self.fold_oldest();
        Placed::Applied
    }

    fn fold_oldest(&mut self) {
        while self.deltas.len() > MAX_KEPT_DELTAS {
            let Some((mark, by)) = self.deltas.pop_first() else {
                break;
            };
            self.folded = self.folded.saturating_add(by);
            self.folded_through = Some(mark);
        }
    }
}

/// JSON maps need string keys; marks are stored as a list of (mark, delta) pairs.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::Mark;

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<Mark, i64>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<Mark, i64>, D::Error> {
        Ok(Vec::<(Mark, i64)>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(ms: i64, id: &str) -> Mark {
        (
            Timestamp::from_millis(ms),
            EventId::new(id).expect("valid id"),
        )
    }

    #[test]
    fn a_count_includes_the_deltas_before_it() {
        let mut t = OwnerTimeline::default();
        assert_eq!(t.delta(mark(10, "sale-1"), -1), Placed::Applied);
        assert_eq!(t.count(mark(20, "count"), 9), Placed::Applied);
        assert_eq!(t.delta(mark(30, "sale-2"), -1), Placed::Applied);
        assert_eq!(t.value(), 8);
        // An offline sale made before the count arrives late: the count already has it.
        assert_eq!(t.delta(mark(15, "offline-sale"), -1), Placed::Stale);
        assert_eq!(t.value(), 8);
    }

    #[test]
    fn a_late_count_keeps_the_deltas_after_it() {
        let mut t = OwnerTimeline::default();
        t.count(mark(10, "count-1"), 10);
        t.delta(mark(30, "sale"), -1);
        assert_eq!(t.count(mark(20, "count-2"), 7), Placed::Applied);
        assert_eq!(t.value(), 6);
        assert_eq!(t.count(mark(5, "count-0"), 99), Placed::Stale);
        assert_eq!(t.count(mark(20, "count-2"), 7), Placed::Duplicate);
    }

    #[test]
    fn long_delta_runs_are_folded_without_changing_the_value() {
        let mut t = OwnerTimeline::default();
        for i in 0..(MAX_KEPT_DELTAS as i64 + 50) {
            t.delta(mark(i, &format!("d{i}")), 1);
        }
        assert_eq!(t.deltas.len(), MAX_KEPT_DELTAS);
        assert_eq!(t.value(), MAX_KEPT_DELTAS as i64 + 50);
        // A late delta inside the fold still counts; a count inside it cannot be placed.
        assert_eq!(t.delta(mark(3, "late"), 1), Placed::Applied);
        assert_eq!(t.value(), MAX_KEPT_DELTAS as i64 + 51);
        assert_eq!(t.count(mark(3, "late-count"), 0), Placed::Stale);
        // A count after everything resets the fold.
        assert_eq!(t.count(mark(10_000, "count"), 4), Placed::Applied);
        assert_eq!(t.value(), 4);
    }

    #[test]
    fn a_count_older_than_the_64_newest_deltas_is_stale() {
        assert_eq!(MAX_KEPT_DELTAS, 64);
        let mut t = OwnerTimeline::default();
        t.count(mark(0, "count-0"), 100);
        for i in 1..=65 {
            assert_eq!(
                t.delta(mark(i * 10, &format!("sale-{i}")), -1),
                Placed::Applied
            );
        }
        // The first sale (at 10) is folded: a count from before it cannot be placed.
        assert_eq!(t.count(mark(5, "late-count"), 50), Placed::Stale);
        assert_eq!(t.value(), 35);
        // A count after the fold can: it drops the deltas it includes and keeps the rest.
        assert_eq!(t.count(mark(25, "count-2"), 50), Placed::Applied);
        assert_eq!(t.value(), 50 - 63);
    }
}
