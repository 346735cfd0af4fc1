//! Per-minute series of the last hour, per channel: what the dashboard's charts and rates
//! are drawn from. Pure: samples come in with their time.
//!
//! The sampler reads each channel's cumulative counters (events, pushes, failures, 429s)
//! every few seconds; the difference from the previous sample is added to the minute it
//! falls in. Lag is not a count: a minute keeps the largest lag sampled in it. Minutes older
//! than [`MINUTES`] are dropped; minutes nobody sampled read as zero.

use std::collections::{BTreeMap, HashMap, VecDeque};

use omnistock_sdk::{ChannelId, Timestamp};
use serde::Serialize;

/// How many minutes are kept: the last hour.
pub const MINUTES: usize = 60;
const MINUTE_MS: i64 = 60_000;

/// A channel's counters as the metrics hold them: totals since the daemon started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Events accepted from the channel.
    pub changes: u64,
    /// Quantities the channel confirmed.
    pub pushes: u64,
    /// Push rounds that failed, and pushes dead-lettered.
    pub errors: u64,
    /// Calls answered 429 (or throttled).
    pub rate_limited: u64,
}

/// One channel's minute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Bucket {
    pub changes: u64,
    pub pushes: u64,
    pub errors: u64,
    pub rate_limited: u64,
    /// The largest lag sampled: how long the oldest pending push had waited, in ms.
    pub lag_ms: i64,
}

impl Bucket {
    fn add(&mut self, delta: Totals, lag_ms: i64) {
        self.changes += delta.changes;
        self.pushes += delta.pushes;
        self.errors += delta.errors;
        self.rate_limited += delta.rate_limited;
        self.lag_ms = self.lag_ms.max(lag_ms);
    }
}

/// The last hour, as the summary sends it: minute starts (oldest first) and, per channel,
/// one bucket per minute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Window {
    pub minutes: Vec<Timestamp>,
    pub channels: BTreeMap<ChannelId, Vec<Bucket>>,
}

/// The series of every channel.
#[derive(Debug, Default)]
pub struct Series {
    /// Minute number (ms since the epoch / 60 000) → that minute's buckets, oldest first.
    minutes: VecDeque<(i64, BTreeMap<ChannelId, Bucket>)>,
    last: HashMap<ChannelId, Totals>,
}

impl Series {
    /// Adds a sample of `channel` taken at `at`: its totals, and the lag then.
    pub fn record(&mut self, at: Timestamp, channel: &ChannelId, totals: Totals, lag_ms: i64) {
        let before = self
            .last
            .insert(channel.clone(), totals)
            .unwrap_or_default();
        // A counter that went down was reset (a restart): count it from zero.
        let delta = |now: u64, then: u64| if now >= then { now - then } else { now };
        let delta = Totals {
            changes: delta(totals.changes, before.changes),
            pushes: delta(totals.pushes, before.pushes),
            errors: delta(totals.errors, before.errors),
            rate_limited: delta(totals.rate_limited, before.rate_limited),
        };
        let minute = at.as_millis().div_euclid(MINUTE_MS);
        if self.minutes.back().is_none_or(|(m, _)| *m < minute) {
            self.minutes.push_back((minute, BTreeMap::new()));
        }
        // A sample older than the newest minute (a clock step back) goes to the newest one.
        if let Some((_, buckets)) = self.minutes.back_mut() {
            buckets
                .entry(channel.clone())
                .or_default()
                .add(delta, lag_ms);
        }
        while self
            .minutes
            .front()
            .is_some_and(|(m, _)| *m <= minute - MINUTES as i64)
        {
            self.minutes.pop_front();
        }
    }

    /// The [`MINUTES`] minutes ending with the one `now` is in, zero where nothing was
    /// sampled, for every channel in `channels`.
    pub fn window<'a>(
        &self,
        now: Timestamp,
        channels: impl IntoIterator<Item = &'a ChannelId>,
    ) -> Window {
        let current = now.as_millis().div_euclid(MINUTE_MS);
        let first = current - MINUTES as i64 + 1;
        let minutes = (first..=current)
            .map(|m| Timestamp::from_millis(m * MINUTE_MS))
            .collect();
        let channels = channels
            .into_iter()
            .map(|channel| {
                let buckets = (first..=current)
                    .map(|m| self.bucket(m, channel).unwrap_or_default())
                    .collect();
                (channel.clone(), buckets)
            })
            .collect();
        Window { minutes, channels }
    }

    /// The last 60 seconds of `channel` at `now`: the current minute so far plus the share
    /// of the previous minute that is still within 60 s (assuming it was spread evenly).
    /// Lag is the current minute's, else the previous one's.
    pub fn last_minute(&self, now: Timestamp, channel: &ChannelId) -> Bucket {
        let current = now.as_millis().div_euclid(MINUTE_MS);
        let elapsed = now.as_millis().rem_euclid(MINUTE_MS);
        let this = self.bucket(current, channel).unwrap_or_default();
        let Some(previous) = self.bucket(current - 1, channel) else {
            return this;
        };
        let share = |n: u64| {
            let kept = u128::from(n) * (MINUTE_MS - elapsed) as u128 / MINUTE_MS as u128;
            u64::try_from(kept).unwrap_or(u64::MAX)
        };
        Bucket {
            changes: this.changes + share(previous.changes),
            pushes: this.pushes + share(previous.pushes),
            errors: this.errors + share(previous.errors),
            rate_limited: this.rate_limited + share(previous.rate_limited),
            lag_ms: if self.bucket(current, channel).is_some() {
                this.lag_ms
            } else {
                previous.lag_ms
            },
        }
    }

    fn bucket(&self, minute: i64, channel: &ChannelId) -> Option<Bucket> {
        self.minutes
            .iter()
            .rev()
            .find(|(m, _)| *m == minute)
            .and_then(|(_, buckets)| buckets.get(channel).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> ChannelId {
        ChannelId::new("web").expect("channel id")
    }

    fn at(minute: i64, second: i64) -> Timestamp {
        Timestamp::from_millis(minute * MINUTE_MS + second * 1000)
    }

    fn pushes(n: u64) -> Totals {
        Totals {
            pushes: n,
            ..Totals::default()
        }
    }

    #[test]
    fn counters_become_per_minute_differences_and_lag_the_minutes_largest() {
        let mut series = Series::default();
        series.record(at(100, 5), &web(), pushes(3), 200);
        series.record(at(100, 30), &web(), pushes(10), 900);
        series.record(at(100, 55), &web(), pushes(12), 100);
        series.record(at(101, 10), &web(), pushes(20), 50);
        let window = series.window(at(101, 20), [&web()]);
        assert_eq!(window.minutes.len(), MINUTES);
        assert_eq!(window.minutes[MINUTES - 1], at(101, 0));
        let buckets = &window.channels[&web()];
        assert_eq!(
            (buckets[MINUTES - 2].pushes, buckets[MINUTES - 2].lag_ms),
            (12, 900)
        );
        assert_eq!(
            (buckets[MINUTES - 1].pushes, buckets[MINUTES - 1].lag_ms),
            (8, 50)
        );
        assert!(
            buckets[..MINUTES - 2]
                .iter()
                .all(|b| *b == Bucket::default())
        );
    }

    #[test]
    fn minutes_older_than_an_hour_are_dropped() {
        let mut series = Series::default();
        series.record(at(100, 0), &web(), pushes(5), 0);
        series.record(at(100 + MINUTES as i64, 0), &web(), pushes(6), 0);
        assert_eq!(series.minutes.len(), 1);
        let window = series.window(at(100 + MINUTES as i64, 1), [&web()]);
        assert_eq!(
            window.channels[&web()]
                .iter()
                .map(|b| b.pushes)
                .sum::<u64>(),
            1
        );
    }

    #[test]
    fn a_counter_that_went_down_counts_from_zero() {
        let mut series = Series::default();
        series.record(at(7, 0), &web(), pushes(50), 0);
        series.record(at(7, 10), &web(), pushes(4), 0);
        assert_eq!(series.last_minute(at(7, 20), &web()).pushes, 54);
    }

    #[test]
    fn the_last_minute_takes_the_previous_minutes_remaining_share() {
        let mut series = Series::default();
        series.record(at(7, 30), &web(), pushes(60), 400);
        series.record(at(8, 10), &web(), pushes(70), 0);
        // At 8:15, 45 s of minute 7 are still within the last 60 s: 45 of its 60 pushes.
        let last = series.last_minute(at(8, 15), &web());
        assert_eq!(last.pushes, 10 + 45);
        assert_eq!(last.lag_ms, 0);
        // A channel nobody sampled is all zero; an unsampled current minute shows the
        // previous minute's lag.
        let other = ChannelId::new("pos").expect("channel id");
        assert_eq!(series.last_minute(at(8, 15), &other), Bucket::default());
        let mut quiet = Series::default();
        quiet.record(at(7, 30), &web(), pushes(1), 400);
        assert_eq!(quiet.last_minute(at(8, 5), &web()).lag_ms, 400);
    }
}
