//! The engine and its ingest writer wired together in one process, as the daemon wires them,
//! for the engine's own tests and simulations.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use omnistock_sdk::connector::Connector;
use omnistock_sdk::{ChannelId, LocationId, StockChange, StockEvent, Timestamp};

use super::simulation::id;
use tokio::sync::watch;

use super::connectors::PushSide;
use super::poller::PollWaker;
use super::pusher::Pusher;
use super::{Engine, EngineSetup, Planner, Tuning};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::ingest::{Ingest, IngestSetup, Submission, SyncHooks};
use crate::metrics::Metrics;
use crate::store::Store;

/// Timings short enough for a simulation to settle in milliseconds.
/// `channel` reports `change` of MUG as event `event_id`, occurred at `at_ms`.
pub(super) fn mug_submission(
    channel: &str,
    event_id: &str,
    at_ms: i64,
    change: StockChange,
) -> Submission {
    Submission {
        channel: id(channel),
        manual: false,
        events: vec![StockEvent {
            id: id(event_id),
            occurred_at: Timestamp::from_millis(at_ms),
            sku: id("MUG"),
            change,
        }],
    }
}

/// The push side of test channel `channel` selling from `location` and showing its
/// allocation, through `connector`, limited as its config says.
pub(super) fn allocation_side(
    config: &Config,
    channel: &ChannelId,
    location: LocationId,
    connector: Arc<dyn Connector>,
) -> PushSide {
    PushSide {
        connector,
        limiter: super::connectors::limiter(&config.channels[channel].limits),
        location,
        shown: super::plan::Shown::Allocation,
        listed: None,
    }
}

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
    let setup = setup(config, store, tuning, polls, seed, Arc::new(SystemClock));
    let (clock, metrics) = (setup.clock.clone(), setup.metrics.clone());
    let engine = Engine::start(setup, sides).expect("engine");
    let ingest = writer(config, store, &engine, clock, metrics);
    (engine, ingest)
}

/// Like [`start`], on `clock`, with the pushers handed back instead of running: the caller
/// steps them (`Pusher::step`) in an order of its choosing.
pub(super) fn start_stepped(
    config: &Arc<Config>,
    store: &Arc<Store>,
    sides: BTreeMap<ChannelId, PushSide>,
    clock: Arc<dyn Clock>,
    seed: u64,
) -> (Engine, Vec<(ChannelId, Pusher)>, Ingest) {
    let setup = setup(
        config,
        store,
        fast_tuning(),
        PollWaker::default(),
        seed,
        clock.clone(),
    );
    let metrics = setup.metrics.clone();
    let (engine, pushers) = Engine::build(setup, sides).expect("engine");
    let ingest = writer(config, store, &engine, clock, metrics);
    (engine, pushers, ingest)
}

fn setup(
    config: &Arc<Config>,
    store: &Arc<Store>,
    tuning: Tuning,
    polls: PollWaker,
    seed: u64,
    clock: Arc<dyn Clock>,
) -> EngineSetup {
    EngineSetup {
        config: config.clone(),
        store: store.clone(),
        metrics: Arc::new(Metrics::new()),
        clock,
        tuning,
        polls,
        seed,
    }
}

/// An ingest writer planning into `engine`'s outboxes, on the engine's clock, starting from
/// what the store holds as the daemon's does (so a test can restart on a reopened store).
fn writer(
    config: &Arc<Config>,
    store: &Arc<Store>,
    engine: &Engine,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
) -> Ingest {
    let term = store.begin_term().expect("a new term");
    let states = crate::ingest::recover(store, config, term).expect("the states");
    let planner = Planner::new(
        engine.shown(),
        &store.all_pending().expect("the outbox"),
        &store.all_published().expect("the published values"),
    );
    let (_config_tx, config_rx) = watch::channel(config.clone());
    let (ingest, _writer) = Ingest::start(IngestSetup {
        store: store.clone(),
        states,
        term,
        config: config_rx,
        clock,
        metrics,
        checkpoint_every: crate::ingest::CHECKPOINT_EVERY,
        sync: SyncHooks {
            planner,
            published: engine.published.clone(),
            waker: engine.waker(),
            feed: crate::feed::Feed::default(),
        },
    });
    ingest
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
