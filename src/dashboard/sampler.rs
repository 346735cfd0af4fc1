//! Feeds the dashboard's series: every few seconds, each channel's counters from the
//! metrics and the age of its oldest pending push from the outbox.

use std::sync::Arc;
use std::time::Duration;

use omnistock_sdk::ChannelId;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::watch;

use super::{History, Totals};
use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::{ChannelLabels, EventLabels, Metrics};
use crate::store::Store;

/// How often the counters are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// What the sampler reads.
pub struct Sampler {
    pub history: History,
    pub config: watch::Receiver<Arc<Config>>,
    pub metrics: Arc<Metrics>,
    pub store: Arc<Store>,
    pub clock: Arc<dyn Clock>,
}

impl Sampler {
    /// Samples every [`SAMPLE_EVERY`] until the task is aborted.
    pub async fn run(self) {
        let mut ticks = tokio::time::interval(SAMPLE_EVERY);
        loop {
            ticks.tick().await;
            self.sample();
        }
    }

    /// One sample of every configured channel.
    pub fn sample(&self) {
        let config = self.config.borrow().clone();
        let now = self.clock.now();
        for id in config.channels.keys() {
            let lag_ms = match self.store.pending(id, 1) {
                Ok(oldest) => oldest.first().map_or(0, |(_, entry)| {
                    (now.as_millis() - entry.created_at.as_millis()).max(0)
                }),
                Err(error) => {
                    tracing::warn!(channel = %id, %error, "Dashboard: could not read the outbox; lag shows 0.");
                    0
                }
            };
            let totals = totals(&self.metrics, id);
            self.history.lock().record(now, id, totals, lag_ms);
        }
    }
}

/// The channel's counters, from the same metrics `/metrics` exports.
fn totals(metrics: &Metrics, channel: &ChannelId) -> Totals {
    let labels = ChannelLabels {
        channel: channel.to_string(),
    };
    let accepted = EventLabels {
        channel: channel.to_string(),
        outcome: "accepted".to_owned(),
    };
    // Read without creating: a channel nothing was counted for adds no series to /metrics.
    let count =
        |family: &Family<ChannelLabels, Counter>| family.get(&labels).map_or(0, |c| c.get());
    Totals {
        changes: metrics.events.get(&accepted).map_or(0, |c| c.get()),
        pushes: count(&metrics.pushes),
        errors: count(&metrics.retries) + count(&metrics.dead_letters),
        rate_limited: count(&metrics.rate_limited),
    }
}

#[cfg(test)]
mod tests {
    use omnistock_sdk::{Sku, Timestamp};

    use super::*;
    use crate::clock::ManualClock;
    use crate::store::{Commit, OutboxEntry};

    fn config() -> Config {
        crate::config::for_tests_owned("store", "pos", &["web"], "")
    }

    #[test]
    fn a_sample_reads_each_channels_counters_and_its_oldest_pending_push() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Arc::new(Store::open(dir.path()).expect("store"));
        let web = ChannelId::new("web").expect("id");
        let created = Timestamp::from_millis(60_000_000);
        let entry = OutboxEntry {
            channel: web.clone(),
            sku: Sku::new("MUG").expect("sku"),
            target: 3,
            created_at: created,
            attempt: None,
            lost: None,
        };
        store
            .commit(&Commit {
                events: &[],
                outbox: &[entry],
                published: &[],
            })
            .expect("committed");
        let metrics = Arc::new(Metrics::new());
        let labels = ChannelLabels {
            channel: "web".into(),
        };
        metrics.pushes.get_or_create(&labels).inc_by(3);
        metrics.rate_limited.get_or_create(&labels).inc();
        metrics.retries.get_or_create(&labels).inc();
        metrics.dead_letters.get_or_create(&labels).inc();
        let accepted = EventLabels {
            channel: "pos".into(),
            outcome: "accepted".into(),
        };
        metrics.events.get_or_create(&accepted).inc_by(2);
        let history = History::default();
        let (_config_tx, config_rx) = watch::channel(Arc::new(config()));
        let sampler = Sampler {
            history: history.clone(),
            config: config_rx,
            metrics: metrics.clone(),
            store,
            clock: Arc::new(ManualClock::at(Timestamp::from_millis(60_004_000))),
        };
        sampler.sample();

        let now = Timestamp::from_millis(60_004_000);
        let series = history.lock();
        let web_minute = series.last_minute(now, &web);
        assert_eq!(
            (
                web_minute.pushes,
                web_minute.rate_limited,
                web_minute.errors
            ),
            (3, 1, 2)
        );
        assert_eq!(
            web_minute.lag_ms, 4_000,
            "the oldest pending push waited 4 s"
        );
        let pos = series.last_minute(now, &ChannelId::new("pos").expect("id"));
        assert_eq!((pos.changes, pos.pushes, pos.lag_ms), (2, 0, 0));
        // Reading created no series for counters nothing was counted for.
        let exported = metrics.render();
        assert!(
            exported.contains("omnistock_pushes_total{channel=\"web\"} 3"),
            "{exported}"
        );
        assert!(
            !exported.contains("omnistock_pushes_total{channel=\"pos\"}"),
            "{exported}"
        );
    }
}
