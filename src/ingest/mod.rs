//! Events in: verify → normalize → dedup → durable append (group commit) → merge.
//!
//! Every accepted event passes through one writer task. It takes whatever requests are
//! queued (many events), dedups them against the ingest log, applies them to its own copy of
//! the SKU states, commits log + ids (+ the pushes they call for) in one atomic store write,
//! applies the same events to the readers' states, syncs once (flush + fsync) and only then
//! answers every request of the group. One fsync per group, not per event, is what makes
//! durable ingest fast; a request is never acknowledged before a sync covered it.
//!
//! States are derived from the log (DESIGN.md, Storage): the writer does not write them with
//! each group but checkpoints the changed ones every 10 s (and at a clean stop), off
//! the acknowledgement path; at start, [`recover`] replays the log after the checkpoint.

mod check;
mod recover;
#[cfg(test)]
mod tests;
mod writer;

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use omnistock_sdk::{ChannelId, LocationId, Sku, StockEvent};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use check::{Refused, check_events};
pub use recover::recover;

use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::state::{Actor, Owners, SkuState};
use crate::store::Store;
use crate::sync::{Planner, PublishedBook, Waker};
use prometheus_client::metrics::histogram::Histogram;
use writer::Writer;

/// The channel name under which manual adjustments are logged. Config refuses it as a
/// channel name. The log keeps only the channel, so replay knows a manual adjustment by it.
pub const MANUAL_CHANNEL: &str = "@manual";

/// The counter actor an event is written as: the channel, or this node for a manual
/// adjustment, in this run's term. The writer and the replay at start both use it.
fn actor_of(config: &Config, channel: &ChannelId, manual: bool, term: u64) -> Actor {
    if manual {
        Actor::new(&config.node_id, term)
    } else {
        Actor::new(channel.as_str(), term)
    }
}

/// The most events one group commit takes; more wait for the next.
const MAX_GROUP_EVENTS: usize = 8192;
/// Requests queued for the writer before submitters wait (backpressure).
const QUEUE_DEPTH: usize = 4096;

impl Owners for Config {
    fn owner(&self, location: &LocationId) -> Option<&ChannelId> {
        self.locations.get(location).map(|l| &l.owner)
    }
}

/// Events from one authenticated source, applied in order.
#[derive(Clone, Debug)]
pub struct Submission {
    pub channel: ChannelId,
    /// An operator's adjustment: written as the node, allowed on any location. Comes with
    /// channel [`MANUAL_CHANNEL`], by which the replay at start recognizes it.
    pub manual: bool,
    pub events: Vec<StockEvent>,
}

/// What became of one event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Durably logged and merged.
    Accepted,
    /// Logged before (same channel and id): nothing changed.
    Duplicate,
    /// Durably logged, but by the rules it changes no stock (e.g. an older count).
    Unchanged,
    /// Durably logged, but it is not a stock change (e.g. a non-owner's adjustment).
    Ignored { reason: &'static str },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error("the store could not make the events durable: {0}")]
    Store(String),
    #[error("omnistock is shutting down and accepts no more events")]
    Closed,
}

/// Where a submission's answer goes.
type Answer = oneshot::Sender<Result<Vec<Outcome>, IngestError>>;

enum Job {
    Submit(Submission, Answer),
    /// Plan a push of each of these SKUs to the channel even if its target did not move: a
    /// reconciliation found the channel showing something else than we published.
    Replan(
        ChannelId,
        Vec<Sku>,
        oneshot::Sender<Result<usize, IngestError>>,
    ),
    Ping(oneshot::Sender<()>),
    /// Checkpoint now and answer once it is written (tests).
    #[cfg(test)]
    Checkpoint(oneshot::Sender<()>),
}

/// The read side of the stock states, shared with the API: the states of every committed
/// event. Each state is shared (`Arc`) so a checkpoint can take a snapshot without copying;
/// the writer changes them in place (`Arc::make_mut`), copying only one a snapshot holds.
#[derive(Clone, Default)]
pub struct StockView(Arc<RwLock<HashMap<Sku, Arc<SkuState>>>>);

impl StockView {
    /// Reads the states; hold the guard briefly.
    pub fn read(&self) -> RwLockReadGuard<'_, HashMap<Sku, Arc<SkuState>>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<Sku, Arc<SkuState>>> {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What the writer needs, fixed at start.
pub struct IngestSetup {
    pub store: Arc<Store>,
    /// Every SKU's state as of the log's end: what [`recover`] returns.
    pub states: Vec<(Sku, SkuState)>,
    /// This run's term: the actors it writes as are `channel#term` and `node#term`.
    pub term: u64,
    pub config: watch::Receiver<Arc<Config>>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// The sync engine's side of each group commit.
    pub sync: SyncHooks,
    /// How often, at most, changed states are checkpointed while events keep coming
    /// ([`CHECKPOINT_EVERY`] in the daemon; tests that count checkpoints set it long).
    pub checkpoint_every: Duration,
}

/// How often the daemon checkpoints changed states while events keep coming: a crash then
/// replays at most about this much of the log. Each checkpoint slows the acknowledgements
/// around it (it shares sled and the cores with the commits): every second, that was the
/// largest part of the p99 at 5,000 req/s (27 ms; every 10 s, a median of about 11 ms over
/// six runs: BENCHMARKS.md, round 4).
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(10);

/// What the writer does for the sync engine: plan pushes into the same commit, keep
/// `published` in step with channels' own orders, wake pushers.
pub struct SyncHooks {
    pub planner: Planner,
    pub published: PublishedBook,
    pub waker: Waker,
    /// Told each committed group, for live subscribers.
    pub feed: crate::feed::Feed,
}

/// The handle submitters use; cheap to clone. The writer stops once every handle is dropped
/// and the queue is drained.
#[derive(Clone)]
pub struct Ingest {
    jobs: mpsc::Sender<Job>,
    view: StockView,
    ack_seconds: Histogram,
    /// Asked whether it takes commits (see [`Ingest::fault`]).
    store: Arc<Store>,
}

impl Ingest {
    /// Starts the writer task.
    pub fn start(setup: IngestSetup) -> (Ingest, JoinHandle<()>) {
        let (jobs, queue) = mpsc::channel(QUEUE_DEPTH);
        let view = StockView::default();
        {
            let mut states = view.write();
            states.extend(
                setup
                    .states
                    .iter()
                    .map(|(sku, state)| (sku.clone(), Arc::new(state.clone()))),
            );
            setup
                .metrics
                .skus
                .set(i64::try_from(states.len()).unwrap_or(i64::MAX));
        }
        let ack_seconds = setup.metrics.ack_seconds.clone();
        let store = Arc::clone(&setup.store);
        let writer = Writer::new(setup, view.clone());
        let task = tokio::spawn(writer.run(queue));
        (
            Ingest {
                jobs,
                view,
                ack_seconds,
                store,
            },
            task,
        )
    }

    /// Logs the events durably and merges them; answers once a sync covers them.
    pub async fn submit(&self, submission: Submission) -> Result<Vec<Outcome>, IngestError> {
        let started = std::time::Instant::now();
        let (answer, outcome) = oneshot::channel();
        self.jobs
            .send(Job::Submit(submission, answer))
            .await
            .map_err(|_| IngestError::Closed)?;
        let outcomes = outcome.await.map_err(|_| IngestError::Closed)??;
        self.ack_seconds.observe(started.elapsed().as_secs_f64());
        Ok(outcomes)
    }

    /// Plans a push of each of `skus` to `channel`, durably, even where the target did not
    /// move; returns how many were planned. The pusher then reads the channel and corrects
    /// it by the rules of DESIGN.md (an unseen sale stays, drift goes).
    pub async fn replan(&self, channel: ChannelId, skus: Vec<Sku>) -> Result<usize, IngestError> {
        let (answer, outcome) = oneshot::channel();
        self.jobs
            .send(Job::Replan(channel, skus, answer))
            .await
            .map_err(|_| IngestError::Closed)?;
        outcome.await.map_err(|_| IngestError::Closed)?
    }

    /// Why events cannot be taken now, if they cannot: the store refuses commits until
    /// omnistock restarts (a write into sled failed midway, e.g. on a full disk), or the
    /// writer does not answer within `timeout` (a hung disk). `/readyz` answers 503 with it,
    /// and the watchdog withholds its ping, so that systemd restarts the daemon: the restart
    /// completes the unfinished commit from the log.
    pub async fn fault(&self, timeout: Duration) -> Option<String> {
        if let Some(reason) = self.store.refusing_commits() {
            return Some(format!(
                "the store refuses commits until omnistock restarts: {reason}"
            ));
        }
        if !self.ping(timeout).await {
            return Some("the ingest writer does not answer (store stalled?)".to_owned());
        }
        None
    }

    /// Whether the writer answers within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> bool {
        let (answer, pong) = oneshot::channel();
        if self.jobs.send(Job::Ping(answer)).await.is_err() {
            return false;
        }
        matches!(tokio::time::timeout(timeout, pong).await, Ok(Ok(())))
    }

    pub fn view(&self) -> &StockView {
        &self.view
    }

    /// Has the writer checkpoint every changed state now; returns once it is written.
    #[cfg(test)]
    pub(crate) async fn checkpoint(&self) {
        let (answer, done) = oneshot::channel();
        if self.jobs.send(Job::Checkpoint(answer)).await.is_ok() {
            let _ = done.await;
        }
    }
}
