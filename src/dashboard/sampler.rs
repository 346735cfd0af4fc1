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
