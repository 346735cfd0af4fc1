//! The one writer: group commit of events, their merged states and the pushes they call for.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use omnistock_sdk::{ChannelId, EventId, Sku, Timestamp};
use tokio::sync::{mpsc, watch};

use super::{
    Answer, IngestError, Job, MAX_GROUP_EVENTS, Outcome, StockView, Submission, SyncHooks,
};
use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::{EventLabels, Metrics};
use crate::state::{Actor, Effect, Input, SkuState};
use crate::store::{Commit, NewEvent, OutboxEntry, Published, Store, StoreError};
use crate::sync::plan::own_sold_units;

pub(super) struct Writer {
    pub store: Arc<Store>,
    pub term: u64,
    pub config: watch::Receiver<Arc<Config>>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub view: StockView,
    pub sync: SyncHooks,
}

/// One group commit in the making.
#[derive(Default)]
struct Group {
    answers: Vec<(Answer, Vec<Outcome>)>,
    logged: Vec<NewEvent>,
    touched: HashMap<Sku, SkuState>,
    seen: HashSet<(ChannelId, EventId)>,
    /// Each pushing channel's own sold units per touched SKU, before the group.
    sold_before: HashMap<(ChannelId, Sku), i64>,
}

impl Writer {
    pub async fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        // Whatever changed while we were down (or was never pushed) is planned first.
        self.config.mark_unchanged();
        self.plan_everything().await;
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
            if self.config.has_changed().unwrap_or(false) {
                // A reload may move every number (buffers, safety): plan them all again.
                self.config.mark_unchanged();
                self.plan_everything().await;
            }
            self.commit_group(jobs).await;
        }
        tracing::debug!("Ingest writer drained and stopped.");
    }

    async fn commit_group(&mut self, jobs: Vec<Job>) {
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
        let result = match self.commit(&config, &group) {
            Ok(pushes) => {
                self.metrics.batch_events.observe(group.logged.len() as f64);
                self.install(group.touched);
                let result = self.sync().await;
                self.sync.waker.wake(pushes.iter());
                result
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
                let state = match group.touched.entry(event.sku.clone()) {
                    std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                    std::collections::hash_map::Entry::Vacant(entry) => {
                        let state = self
                            .view
                            .read()
                            .get(&event.sku)
                            .cloned()
                            .unwrap_or_default();
                        for channel in self.sync.planner.pushing() {
                            group.sold_before.insert(
                                (channel.clone(), event.sku.clone()),
                                own_sold_units(&state, channel),
                            );
                        }
                        entry.insert(state)
                    }
                };
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

    /// One atomic write of the group's log entries, ids, states, the pushes they call for and
    /// the published values the channels' own orders moved. Returns the channels to wake.
    fn commit(&mut self, config: &Config, group: &Group) -> Result<Vec<ChannelId>, IngestError> {
        if group.logged.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let states: Vec<(&Sku, &SkuState)> = group.touched.iter().collect();
        let mut book = self.sync.published.lock();
        let published = own_sales(group, &book, now);
        let moved: Vec<(ChannelId, Sku)> = published
            .iter()
            .map(|(c, s, _)| (c.clone(), s.clone()))
            .collect();
        let outbox = self
            .sync
            .planner
            .plan(config, group.touched.iter(), &moved, now);
        let commit = Commit {
            events: &group.logged,
            states: &states,
            outbox: &outbox,
            published: &published,
        };
        self.store
            .commit(&commit)
            .map_err(|e| self.store_failed(&e, group.logged.len()))?;
        for (channel, sku, value) in published {
            book.insert((channel, sku), value);
        }
        drop(book);
        self.sync.planner.planned(&outbox);
        Ok(channels_of(&outbox))
    }

    /// Plans every SKU for every pushing channel, as one commit without events.
    async fn plan_everything(&mut self) {
        let config = self.config.borrow().clone();
        let outbox = {
            let states = self.view.read();
            self.sync
                .planner
                .plan(&config, states.iter(), &[], self.clock.now())
        };
        if outbox.is_empty() {
            return;
        }
        let commit = Commit {
            events: &[],
            states: &[],
            outbox: &outbox,
            published: &[],
        };
        match self.store.commit(&commit) {
            Ok(_) => {
                self.sync.planner.planned(&outbox);
                tracing::info!(
                    pushes = outbox.len(),
                    "Planned pushes for every SKU whose channel numbers changed."
                );
                if self.sync().await.is_ok() {
                    self.sync.waker.wake(channels_of(&outbox).iter());
                }
            }
            Err(e) => {
                self.store_failed(&e, 0);
            }
        }
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

    fn store_failed(&self, error: &StoreError, events: usize) -> IngestError {
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

/// Published values lowered by the pushing channels' own new sales in this group: the
/// channel already lowered its number for them.
fn own_sales(
    group: &Group,
    book: &HashMap<(ChannelId, Sku), Published>,
    now: Timestamp,
) -> Vec<(ChannelId, Sku, Published)> {
    let mut moved = Vec::new();
    for ((channel, sku), before) in &group.sold_before {
        let Some(state) = group.touched.get(sku) else {
            continue;
        };
        let sold = own_sold_units(state, channel) - before;
        let key = (channel.clone(), sku.clone());
        if let (true, Some(value)) = (sold != 0, book.get(&key)) {
            moved.push((
                key.0,
                key.1,
                Published {
                    quantity: value.quantity - sold,
                    at: now,
                },
            ));
        }
    }
    moved
}

fn channels_of(outbox: &[OutboxEntry]) -> Vec<ChannelId> {
    let mut channels: Vec<ChannelId> = outbox.iter().map(|e| e.channel.clone()).collect();
    channels.sort();
    channels.dedup();
    channels
}

fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Accepted => "accepted",
        Outcome::Duplicate => "duplicate",
        Outcome::Unchanged => "unchanged",
        Outcome::Ignored { .. } => "ignored",
    }
}
