//! Events in: verify → normalize → dedup → durable append (group commit) → merge.
//!
//! Every accepted event passes through one writer task. It takes whatever requests are
//! queued (many events), dedups them against the ingest log, applies them to copies of the
//! SKU states they touch, commits log + ids + states in one atomic store write, syncs once
//! (flush + fsync) and only then answers every request of the group. One fsync per group,
//! not per event, is what makes durable ingest fast; a request is never acknowledged before
//! a sync covered it.

mod check;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use omnistock_sdk::{ChannelId, EventId, LocationId, Sku, StockEvent};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use check::{Refused, check_events};

use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::{EventLabels, Metrics};
use crate::state::{Actor, Effect, Input, Owners, SkuState};
use crate::store::{Commit, NewEvent, Store};

/// The channel name under which manual adjustments are logged. Config refuses it as a
/// channel name.
pub const MANUAL_CHANNEL: &str = "@manual";

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
    /// An operator's adjustment: written as the node, allowed on any location.
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
    Ping(oneshot::Sender<()>),
}

/// The read side of the stock states, shared with the API.
#[derive(Clone, Default)]
pub struct StockView(Arc<RwLock<HashMap<Sku, SkuState>>>);

impl StockView {
    /// Reads the states; hold the guard briefly.
    pub fn read(&self) -> RwLockReadGuard<'_, HashMap<Sku, SkuState>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What the writer needs, fixed at start.
pub struct IngestSetup {
    pub store: Arc<Store>,
    pub states: Vec<(Sku, SkuState)>,
    /// This run's term: the actors it writes as are `channel#term` and `node#term`.
    pub term: u64,
    pub config: watch::Receiver<Arc<Config>>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
}

/// The handle submitters use; cheap to clone. The writer stops once every handle is dropped
/// and the queue is drained.
#[derive(Clone)]
pub struct Ingest {
    jobs: mpsc::Sender<Job>,
    view: StockView,
}

impl Ingest {
    /// Starts the writer task.
    pub fn start(setup: IngestSetup) -> (Ingest, JoinHandle<()>) {
        let (jobs, queue) = mpsc::channel(QUEUE_DEPTH);
        let view = StockView::default();
        {
            let mut states = view
                .0
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            states.extend(setup.states.iter().cloned());
            setup
                .metrics
                .skus
                .set(i64::try_from(states.len()).unwrap_or(i64::MAX));
        }
        let writer = Writer {
            store: setup.store,
            term: setup.term,
            config: setup.config,
            clock: setup.clock,
            metrics: setup.metrics,
            view: view.clone(),
        };
        let task = tokio::spawn(writer.run(queue));
        (Ingest { jobs, view }, task)
    }

    /// Logs the events durably and merges them; answers once a sync covers them.
    pub async fn submit(&self, submission: Submission) -> Result<Vec<Outcome>, IngestError> {
        let (answer, outcome) = oneshot::channel();
        self.jobs
            .send(Job::Submit(submission, answer))
            .await
            .map_err(|_| IngestError::Closed)?;
        outcome.await.map_err(|_| IngestError::Closed)?
    }

    /// Whether the writer answers within `timeout`: the watchdog's and `/readyz`'s probe.
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
}

struct Writer {
    store: Arc<Store>,
    term: u64,
    config: watch::Receiver<Arc<Config>>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    view: StockView,
}

/// One group commit in the making.
#[derive(Default)]
struct Group {
    answers: Vec<(Answer, Vec<Outcome>)>,
    logged: Vec<NewEvent>,
    touched: HashMap<Sku, SkuState>,
    seen: HashSet<(ChannelId, EventId)>,
}

impl Writer {
    async fn run(self, mut queue: mpsc::Receiver<Job>) {
        while let Some(job) = queue.recv().await {
            let mut jobs = vec![job];
            let mut events = 0;
            while events < MAX_GROUP_EVENTS {
                match queue.try_recv() {
                    Ok(job) => {
                        if let Job::Submit(s, _) = &job {
                            events += s.events.len();
                        }
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            self.commit_group(jobs).await;
        }
        tracing::debug!("Ingest writer drained and stopped.");
    }

    async fn commit_group(&self, jobs: Vec<Job>) {
        let config = self.config.borrow().clone();
        let mut group = Group::default();
        for job in jobs {
            match job {
                Job::Ping(pong) => {
                    let _ = pong.send(());
                }
                Job::Submit(submission, answer) => {
                    match self.apply(&config, &submission, &mut group) {
                        Ok(outcomes) => group.answers.push((answer, outcomes)),
                        Err(e) => {
                            let _ = answer.send(Err(e));
                        }
                    }
                }
            }
        }
        if group.answers.is_empty() {
            return;
        }
        // Commit, then publish the states to readers (the store holds them from here on, so
        // a failed sync must not leave readers behind the store), then sync, then answer.
        let result = match self.commit(&group) {
            Ok(()) => {
                self.metrics.batch_events.observe(group.logged.len() as f64);
                self.install(group.touched);
                self.sync().await
            }
            Err(e) => Err(e),
        };
        for (answer, outcomes) in group.answers {
            let _ = answer.send(result.clone().map(|()| outcomes));
        }
    }

    /// Dedups and applies one submission to the group's copies of the states it touches.
    fn apply(
        &self,
        config: &Config,
        submission: &Submission,
        group: &mut Group,
    ) -> Result<Vec<Outcome>, IngestError> {
        let received_at = self.clock.now();
        let actor = if submission.manual {
            Actor::new(&config.node_id, self.term)
        } else {
            Actor::new(submission.channel.as_str(), self.term)
        };
        let mut outcomes = Vec::with_capacity(submission.events.len());
        for event in &submission.events {
            let key = (submission.channel.clone(), event.id.clone());
            let known = group.seen.contains(&key)
                || self
                    .store
                    .contains_event(&key.0, &key.1)
                    .map_err(|e| IngestError::Store(e.to_string()))?;
            let outcome = if known {
                Outcome::Duplicate
            } else {
                let state = group.touched.entry(event.sku.clone()).or_insert_with(|| {
                    self.view
                        .read()
                        .get(&event.sku)
                        .cloned()
                        .unwrap_or_default()
                });
                let input = Input {
                    channel: &submission.channel,
                    actor: &actor,
                    manual: submission.manual,
                    received_at,
                    event,
                };
                group.seen.insert(key);
                group.logged.push(NewEvent {
                    channel: submission.channel.clone(),
                    received_at,
                    event: event.clone(),
                });
                match state.apply(&input, config) {
                    Effect::Changed => Outcome::Accepted,
                    Effect::Unchanged => Outcome::Unchanged,
                    Effect::Ignored(reason) => Outcome::Ignored { reason },
                }
            };
            let labels = EventLabels {
                channel: submission.channel.to_string(),
                outcome: outcome_name(&outcome).to_owned(),
            };
            self.metrics.events.get_or_create(&labels).inc();
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// One atomic write of the group's log entries, ids and states.
    fn commit(&self, group: &Group) -> Result<(), IngestError> {
        if group.logged.is_empty() {
            return Ok(());
        }
        let states: Vec<(&Sku, &SkuState)> = group.touched.iter().collect();
        let commit = Commit {
            events: &group.logged,
            states: &states,
            outbox: &[],
            published: &[],
        };
        self.store
            .commit(&commit)
            .map(drop)
            .map_err(|e| self.store_failed(&e, group.logged.len()))
    }

    /// One sync for the whole group. Even a group of duplicates syncs: their first copy may
    /// still be in flight in an earlier, failed sync.
    async fn sync(&self) -> Result<(), IngestError> {
        let stats = self
            .store
            .sync()
            .await
            .map_err(|e| self.store_failed(&e, 0))?;
        self.metrics
            .flush_seconds
            .observe(stats.flush_micros as f64 / 1e6);
        self.metrics
            .fsync_seconds
            .observe(stats.fsync_micros as f64 / 1e6);
        Ok(())
    }

    fn store_failed(&self, error: &crate::store::StoreError, events: usize) -> IngestError {
        self.metrics.store_errors.inc();
        tracing::error!(%error, events, "Group commit failed; its requests are answered with an error, not acknowledged.");
        IngestError::Store(error.to_string())
    }

    /// Publishes the group's states to readers.
    fn install(&self, touched: HashMap<Sku, SkuState>) {
        let mut states = self
            .view
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        states.extend(touched);
        self.metrics
            .skus
            .set(i64::try_from(states.len()).unwrap_or(i64::MAX));
    }
}

fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Accepted => "accepted",
        Outcome::Duplicate => "duplicate",
        Outcome::Unchanged => "unchanged",
        Outcome::Ignored { .. } => "ignored",
    }
}
