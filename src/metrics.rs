//! The daemon's Prometheus metrics: one registry, built once, shared by reference.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub channel: String,
    /// accepted | duplicate | ignored
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabels {
    /// The error code answered: bad_signature, malformed, too_large, …
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabels {
    pub channel: String,
}

/// A histogram per channel, all with the same buckets.
pub type ChannelHistograms = Family<ChannelLabels, Histogram, fn() -> Histogram>;

fn lag_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

fn batch_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 9))
}

/// Every metric the daemon exports.
pub struct Metrics {
    registry: Registry,
    pub events: Family<EventLabels, Counter>,
    pub rejected_requests: Family<RejectLabels, Counter>,
    pub batch_events: Histogram,
    /// Time from a submission entering the writer's queue to its answer: what a channel
    /// waits for, less reading and answering the HTTP request.
    pub ack_seconds: Histogram,
    pub flush_seconds: Histogram,
    pub fsync_seconds: Histogram,
    pub store_errors: Counter,
    /// Set when scraped, from the store.
    pub applier_queued: Gauge,
    pub skus: Gauge,
    pub ready: Gauge,
    pub pushes: Family<ChannelLabels, Counter>,
    pub push_batch_size: ChannelHistograms,
    pub rate_limited: Family<ChannelLabels, Counter>,
    pub retries: Family<ChannelLabels, Counter>,
    pub stale_compares: Family<ChannelLabels, Counter>,
    pub dead_letters: Family<ChannelLabels, Counter>,
    pub outbox_depth: Family<ChannelLabels, Gauge>,
    pub sync_lag_seconds: ChannelHistograms,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("omnistock");
        let events = Family::<EventLabels, Counter>::default();
        registry.register(
            "events",
            "Stock events received, by channel and outcome",
            events.clone(),
        );
        let rejected_requests = Family::<RejectLabels, Counter>::default();
        registry.register(
            "rejected_requests",
            "Requests refused before touching state, by error code",
            rejected_requests.clone(),
        );
        let batch_events = Histogram::new(exponential_buckets(1.0, 2.0, 14));
        registry.register(
            "ingest_batch_events",
            "Events per group commit",
            batch_events.clone(),
        );
        // Steps of 1.5x from 0.25 ms: fine enough to tell 6 from 10 ms, up to ~3 s.
        let ack_seconds = Histogram::new(exponential_buckets(0.00025, 1.5, 24));
        registry.register(
            "ingest_ack_seconds",
            "Time from a submission of events entering the writer's queue to its acknowledgement",
            ack_seconds.clone(),
        );
        let flush_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "store_flush_seconds",
            "Time of sled's flush per group commit",
            flush_seconds.clone(),
        );
        let fsync_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "store_fsync_seconds",
            "Time of the fsync that makes a group commit power-loss durable",
            fsync_seconds.clone(),
        );
        let store_errors = Counter::default();
        registry.register(
            "store_errors",
            "Group commits that failed to write or sync",
            store_errors.clone(),
        );
        let applier_queued = Gauge::default();
        registry.register(
            "store_applier_queued",
            "Logged commits waiting to be written into sled; at its limit, ingest waits for sled",
            applier_queued.clone(),
        );
        let skus = Gauge::default();
        registry.register("skus", "SKUs with stock state", skus.clone());
        let ready = Gauge::default();
        registry.register("ready", "1 when the daemon accepts events", ready.clone());
        let pushes = Family::<ChannelLabels, Counter>::default();
        registry.register("pushes", "Quantities a channel confirmed", pushes.clone());
        let push_batch_size = ChannelHistograms::new_with_constructor(batch_histogram);
        registry.register(
            "push_batch_size",
            "Quantities per push call",
            push_batch_size.clone(),
        );
        let rate_limited = Family::<ChannelLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Calls a channel answered with 429 or THROTTLED",
            rate_limited.clone(),
        );
        let retries = Family::<ChannelLabels, Counter>::default();
        registry.register(
            "push_retries",
            "Push rounds that failed and were retried",
            retries.clone(),
        );
        let stale_compares = Family::<ChannelLabels, Counter>::default();
        registry.register(
            "stale_compares",
            "Pushes refused because the channel's number moved since our read",
            stale_compares.clone(),
        );
        let dead_letters = Family::<ChannelLabels, Counter>::default();
        registry.register(
            "dead_letters",
            "Pushes moved to the dead-letter list",
            dead_letters.clone(),
        );
        let outbox_depth = Family::<ChannelLabels, Gauge>::default();
        registry.register(
            "outbox_depth",
            "Pushes waiting for a channel",
            outbox_depth.clone(),
        );
        let sync_lag_seconds = ChannelHistograms::new_with_constructor(lag_histogram);
        registry.register(
            "sync_lag_seconds",
            "From the change that called for a push to the channel confirming it",
            sync_lag_seconds.clone(),
        );
        Self {
            registry,
            events,
            rejected_requests,
            batch_events,
            ack_seconds,
            flush_seconds,
            fsync_seconds,
            applier_queued,
            store_errors,
            skus,
            ready,
            pushes,
            push_batch_size,
            rate_limited,
            retries,
            stale_compares,
            dead_letters,
            outbox_depth,
            sync_lag_seconds,
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
