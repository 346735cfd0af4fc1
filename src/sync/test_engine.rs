//! The engine and its ingest writer wired together in one process, as the daemon wires them,
//! for the engine's own tests and simulations.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use omnistock_sdk::ChannelId;
use tokio::sync::watch;

use super::connectors::PushSide;
use super::poller::PollWaker;
use super::{Engine, EngineSetup, Planner, Tuning};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::ingest::{Ingest, IngestSetup, SyncHooks};
use crate::metrics::Metrics;
use crate::store::Store;

/// Timings short enough for a simulation to settle in milliseconds.
pub(super) fn fast_tuning() -> Tuning {
    Tuning {
        backoff_base: Duration::from_millis(2),
        backoff_max: Duration::from_millis(20),
        unhealthy_after: 5,
        idle_poll: Duration::from_millis(20),
        rise_grace: Duration::from_millis(150),
        unseen_sale_bound: Duration::from_secs(60),
    }
}

/// Starts pushers for `sides` and an ingest writer planning into their outboxes.
pub(super) fn start(
    config: &Arc<Config>,
    store: &Arc<Store>,
    sides: BTreeMap<ChannelId, PushSide>,
    tuning: Tuning,
    polls: PollWaker,
    seed: u64,
) -> (Engine, Ingest) {
    let metrics = Arc::new(Metrics::new());
    let engine = Engine::start(
        EngineSetup {
            config: config.clone(),
            store: store.clone(),
            metrics: metrics.clone(),
            clock: Arc::new(SystemClock),
            tuning,
            polls,
            seed,
        },
        sides,
    )
    .expect("engine");
    let (_config_tx, config_rx) = watch::channel(config.clone());
    let (ingest, _writer) = Ingest::start(IngestSetup {
        store: store.clone(),
        states: Vec::new(),
        term: 1,
        config: config_rx,
        clock: Arc::new(SystemClock),
        metrics,
        checkpoint_every: crate::ingest::CHECKPOINT_EVERY,
        sync: SyncHooks {
            planner: Planner::new(engine.shown(), &[], &[]),
            published: engine.published.clone(),
            waker: engine.waker(),
            feed: crate::feed::Feed::default(),
        },
    });
    (engine, ingest)
}

/// What the engine tests' in-memory channels answer alike: capabilities with one push form
/// and no limit worth measuring, and an empty listing (they are read, never reconciled).
pub(super) mod test_channel {
    use omnistock_sdk::{Capabilities, ItemLevel, ItemRef, ListPage, LocationId, PushForm};

    pub fn capabilities(form: PushForm, max_batch: usize) -> Capabilities {
        Capabilities {
            push_forms: vec![form],
            max_batch,
            calls_per_second: 10_000.0,
            burst: 1_000,
            webhook_topics: Vec::new(),
        }
    }

    pub fn empty_listing() -> ListPage {
        ListPage {
            levels: Vec::new(),
            next: None,
        }
    }

    /// `item` showing `available` at `location`.
    pub fn level(item: &ItemRef, location: &LocationId, available: i64) -> ItemLevel {
        ItemLevel {
            item: item.clone(),
            sku: None,
            location: location.clone(),
            available,
        }
    }
}
