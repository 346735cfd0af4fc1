//! The one writer: group commit of events, their merged states and the pushes they call for.
//!
//! The writer owns the authoritative copy of the states (`states`) and applies each group to
//! it in place; once the group is committed it applies the same events to the readers' copy
//! (the view) — applying is deterministic, so both stay equal, and no state is cloned or
//! dropped per group. A failed commit puts the touched states back from the view, which
//! holds only committed events. States reach the store through checkpoints (see `store`).
//!
//! Groups are pipelined: while group N's sync (an fdatasync of the store's write-ahead log,
//! `Store::sync_commits`) runs on its own task, the
//! writer takes, applies and commits group N+1; then it waits for N's sync, answers N, and
//! starts N+1's sync. Why an answer is still never sent before a sync covers it: a group's
//! answers travel with its own sync ([`Syncing`]) and are sent only when that sync succeeded;
//! that sync is started after the group's `Store::commit` returned, and
//! `Store::sync_commits` makes durable every commit made before it starts. Duplicates answered in a group were
//! committed by the same or an earlier group, so they are covered too. Syncs run one at a
//! time, in commit order.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use omnistock_sdk::{ChannelId, EventId, LocationId, Sku, StockChange, Timestamp};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{
    Answer, IngestError, IngestSetup, Job, MAX_GROUP_EVENTS, Outcome, StockView, Submission,
    SyncHooks, actor_of,
};
use crate::clock::Clock;
use crate::config::Config;
use prometheus_client::metrics::counter::Counter;

use crate::kits;
use crate::metrics::{EventLabels, Metrics};
use crate::state::{Actor, Effect, Input, SkuState};
use crate::store::{Commit, NewEvent, OutboxEntry, Published, Store, StoreError, SyncStats};
use crate::sync::escrow::CapInput;
use crate::sync::plan::{OwnMark, Planner};

/// How often, at most, a checkpoint also syncs all of sled, which lets the write-ahead log
/// drop the commits sled then holds. Not every checkpoint: sled's flush and fsync write much
/// more than the log and delay the log's own fdatasyncs on the same disk, so each one is a
/// spike in acknowledgement latency; every 10 s keeps the log to a few segments.
const FULL_SYNC_EVERY: Duration = Duration::from_secs(10);

/// A checkpoint starts sooner once this many SKUs changed since the last one.
const CHECKPOINT_DIRTY_SKUS: usize = 20_000;

pub(super) struct Writer {
    store: Arc<Store>,
    term: u64,
    config: watch::Receiver<Arc<Config>>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    view: StockView,
    sync: SyncHooks,
    /// The states of every committed event (and, during a group, of the group's events).
    states: HashMap<Sku, SkuState>,
    checkpoints: Checkpoints,
    /// The committed group whose sync is running, if any.
    syncing: Option<Syncing>,
    /// Each channel's `events` counters, by outcome (see `outcome_index`): one label set
    /// built per channel, not one per event.
    counters: HashMap<ChannelId, [Counter; 4]>,
}

/// A committed group whose sync runs; its answers wait for that sync.
struct Syncing {
    task: JoinHandle<Result<SyncStats, StoreError>>,
    answers: Vec<(Answer, Vec<Outcome>)>,
    /// The channels whose pushes the group planned: woken after the sync.
    pushes: Vec<ChannelId>,
}

/// What the writer's loop waits for.
enum Next {
    Job(Option<Job>),
    Synced(Result<Result<SyncStats, StoreError>, tokio::task::JoinError>),
    Checkpoint,
}

/// What the next checkpoint must write, and the one being written.
struct Checkpoints {
    /// How often, at most, changed states are checkpointed while events keep coming.
    every: Duration,
    /// SKUs changed since the last checkpoint started.
    dirty: HashSet<Sku>,
    /// The last committed seq: the view includes every event up to it.
    committed: u64,
    last_started: Instant,
    /// When a checkpoint last synced all of sled (see `FULL_SYNC_EVERY`).
    last_full_sync: Instant,
    running: Option<Running>,
}

/// A checkpoint being written on a blocking thread.
struct Running {
    task: JoinHandle<Result<(), StoreError>>,
    skus: Vec<Sku>,
}

/// One group commit in the making.
#[derive(Default)]
struct Group {
    answers: Vec<(Answer, Vec<Outcome>)>,
    logged: Vec<NewEvent>,
    /// For each logged event: its actor (an index into `actors`) and whether it is manual.
    inputs: Vec<(usize, bool)>,
    actors: Vec<Actor>,
    touched: HashSet<Sku>,
    seen: HashSet<(ChannelId, EventId)>,
    /// Each pushing channel's own sold units per touched SKU, before the group.
    own_before: HashMap<(ChannelId, Sku), OwnMark>,
    /// On hand moved by operators' adjustments in this group, per SKU and location: not the
    /// owner's own change, so an owner pushed at that location is told of it.
    manual_moves: HashMap<(Sku, LocationId), i64>,
    /// Each pushing channel's own sold kits, per kit whose first component was touched.
    kits_before: HashMap<(ChannelId, Sku), i64>,
}

impl Writer {
    pub fn new(setup: IngestSetup, view: StockView) -> Writer {
        let committed = setup.store.last_seq().unwrap_or_else(|e| {
            // Only a checkpoint's seq depends on it; a bad one is refused by the store.
            tracing::error!(error = %e, "Reading the last seq failed; checkpoints wait for the next commit.");
            0
        });
        Writer {
            store: setup.store,
            term: setup.term,
            config: setup.config,
            clock: setup.clock,
            metrics: setup.metrics,
            view,
            sync: setup.sync,
            states: setup.states.into_iter().collect(),
            checkpoints: Checkpoints {
                every: setup.checkpoint_every,
                dirty: HashSet::new(),
                committed,
                last_started: Instant::now(),
                last_full_sync: Instant::now(),
                running: None,
            },
            syncing: None,
            counters: HashMap::new(),
        }
    }

    pub async fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        // Whatever changed while we were down (or was never pushed) is planned first.
        self.config.mark_unchanged();
        self.plan_everything().await;
        self.plan_doubted().await;
        loop {
            let next = {
                let syncing = self.syncing.as_mut().map(|s| &mut s.task);
                let is_syncing = syncing.is_some();
                let pending = self.checkpoints.pending();
                tokio::select! {
                    biased;
                    done = async { syncing.expect("enabled only while syncing").await }, if is_syncing => Next::Synced(done),
                    job = queue.recv() => Next::Job(job),
                    () = tokio::time::sleep(self.checkpoints.every), if pending => Next::Checkpoint,
                }
            };
            let job = match next {
                Next::Synced(done) => {
                    if let Some(syncing) = self.syncing.take() {
                        self.answer(syncing, done);
                    }
                    continue;
                }
                Next::Checkpoint => {
                    self.maybe_checkpoint(false).await;
                    continue;
                }
                Next::Job(Some(job)) => job,
                Next::Job(None) => break,
            };
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
                self.finish_sync().await;
                self.plan_everything().await;
            }
            self.commit_group(jobs).await;
            self.maybe_checkpoint(false).await;
        }
        self.finish_sync().await;
        // A clean stop leaves nothing to replay at the next start.
        self.maybe_checkpoint(true).await;
        tracing::debug!("Ingest writer drained and stopped.");
    }

    /// Starts a checkpoint of the changed states if one is due (or `now`), unless one is
    /// still being written; `now` also waits for it to be written. The states are shared
    /// with the view, not copied: a state changed meanwhile is copied then (`make_mut`).
    async fn maybe_checkpoint(&mut self, now: bool) {
        let done = self
            .checkpoints
            .running
            .as_ref()
            .is_some_and(|r| r.task.is_finished());
        if now || done {
            self.finish_checkpoint().await;
        }
        let checkpoints = &mut self.checkpoints;
        if checkpoints.running.is_some() || checkpoints.dirty.is_empty() {
            return;
        }
        let due = checkpoints.last_started.elapsed() >= checkpoints.every
            || checkpoints.dirty.len() >= CHECKPOINT_DIRTY_SKUS;
        if !(now || due) {
            return;
        }
        let skus: Vec<Sku> = checkpoints.dirty.drain().collect();
        let snapshot: Vec<(Sku, Arc<SkuState>)> = {
            let view = self.view.read();
            skus.iter()
                .filter_map(|sku| view.get_key_value(sku))
                .map(|(sku, state)| (sku.clone(), Arc::clone(state)))
                .collect()
        };
        let (store, through) = (Arc::clone(&self.store), checkpoints.committed);
        let full_sync = now || checkpoints.last_full_sync.elapsed() >= FULL_SYNC_EVERY;
        if full_sync {
            checkpoints.last_full_sync = Instant::now();
        }
        let task = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let states = snapshot.len();
            write_checkpoint(&store, snapshot, through)?;
            let written = started.elapsed();
            if full_sync {
                // All of sled, so that the write-ahead log can drop the commits it holds.
                store.sync_blocking()?;
            }
            tracing::debug!(
                states,
                through_seq = through,
                written_ms = written.as_millis(),
                full_sync_ms = full_sync.then(|| (started.elapsed() - written).as_millis()),
                "Checkpoint written."
            );
            Ok(())
        });
        checkpoints.last_started = Instant::now();
        checkpoints.running = Some(Running { task, skus });
        if now {
            self.finish_checkpoint().await;
        }
    }

    /// Waits for the running checkpoint; a failed one leaves its SKUs for the next.
    async fn finish_checkpoint(&mut self) {
        let Some(running) = self.checkpoints.running.take() else {
            return;
        };
        let failure = match running.task.await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("the blocking task failed: {e}"),
        };
        self.metrics.store_errors.inc();
        tracing::warn!(error = %failure, skus = running.skus.len(), "Checkpoint of the states failed; the log still holds them, the next checkpoint retries.");
        self.checkpoints.dirty.extend(running.skus);
    }

    async fn commit_group(&mut self, jobs: Vec<Job>) {
        let config = self.config.borrow().clone();
        let mut group = Group::default();
        for job in jobs {
            match job {
                Job::Ping(pong) => {
                    let _ = pong.send(());
                }
                Job::Replan(channel, skus, answer) => {
                    let moved: Vec<(ChannelId, Sku)> =
                        skus.into_iter().map(|sku| (channel.clone(), sku)).collect();
                    let _ = answer.send(self.plan_and_commit(&moved).await);
                }
                #[cfg(test)]
                Job::Checkpoint(done) => {
                    self.maybe_checkpoint(true).await;
                    let _ = done.send(());
                }
                Job::Submit(submission, answer) => {
                    match self.apply(&config, submission, &mut group) {
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
        match self.commit(&config, &group) {
            Ok(pushes) => {
                self.metrics.batch_events.observe(group.logged.len() as f64);
                self.install(&config, &group);
                // The previous group's sync ran while this one was applied and committed.
                // Syncs go one at a time, so this one's starts only after it.
                self.finish_sync().await;
                let store = Arc::clone(&self.store);
                self.syncing = Some(Syncing {
                    // Started after this group's commit returned: it covers the group.
                    task: tokio::spawn(async move { store.sync_commits().await }),
                    answers: group.answers,
                    pushes,
                });
            }
            Err(e) => {
                self.roll_back(&group.touched);
                for (answer, _) in group.answers {
                    let _ = answer.send(Err(e.clone()));
                }
            }
        }
    }

    /// Waits for the running sync, if any, and answers its group.
    async fn finish_sync(&mut self) {
        if let Some(mut syncing) = self.syncing.take() {
            let done = (&mut syncing.task).await;
            self.answer(syncing, done);
        }
    }

    /// Answers a group once its sync ended: acknowledged if the sync succeeded.
    fn answer(
        &self,
        syncing: Syncing,
        done: Result<Result<SyncStats, StoreError>, tokio::task::JoinError>,
    ) {
        let result = match done {
            Ok(Ok(stats)) => {
                self.observe_sync(stats);
                Ok(())
            }
            Ok(Err(e)) => Err(self.store_failed(&e, 0)),
            Err(e) => {
                self.metrics.store_errors.inc();
                tracing::error!(error = %e, "The sync task failed; its group is answered with an error, not acknowledged.");
                Err(IngestError::Store(format!("the sync task failed: {e}")))
            }
        };
        self.sync.waker.wake(syncing.pushes.iter());
        for (answer, outcomes) in syncing.answers {
            let _ = answer.send(result.clone().map(|()| outcomes));
        }
    }

    /// Dedups and applies one submission to the writer's states.
    fn apply(
        &mut self,
        config: &Config,
        submission: Submission,
        group: &mut Group,
    ) -> Result<Vec<Outcome>, IngestError> {
        let received_at = self.clock.now();
        debug_assert!(
            !submission.manual || submission.channel.as_str() == super::MANUAL_CHANNEL,
            "a manual submission must come as {}: the replay knows it by its channel",
            super::MANUAL_CHANNEL
        );
        let actor = actor_of(config, &submission.channel, submission.manual, self.term);
        let actor_index = group.actors.len();
        let counters = self.counters_of(&submission.channel);
        let mut outcomes = Vec::with_capacity(submission.events.len());
        for original in submission.events {
            // A kit's order line stands for its components' (src/kits.rs).
            let parts = match kits::expand(config, original) {
                Ok(parts) => parts,
                Err(reason) => {
                    let outcome = Outcome::Ignored { reason };
                    counters[outcome_index(&outcome)].inc();
                    outcomes.push(outcome);
                    continue;
                }
            };
            let mut folded: Option<Outcome> = None;
            for event in parts {
                let key = (submission.channel.clone(), event.id.clone());
                let known = group.seen.contains(&key)
                    || self
                        .store
                        .contains_event(&key.0, &key.1)
                        .map_err(|e| IngestError::Store(e.to_string()))?;
                let outcome = if known {
                    Outcome::Duplicate
                } else {
                    group.seen.insert(key);
                    // The event moves into the log entry; it is applied from there.
                    group.logged.push(NewEvent {
                        channel: submission.channel.clone(),
                        received_at,
                        event,
                    });
                    let event = &group.logged.last().expect("just pushed").event;
                    let state = self.states.entry(event.sku.clone()).or_default();
                    if !group.touched.contains(&event.sku) {
                        group.touched.insert(event.sku.clone());
                        for channel in self.sync.planner.pushing() {
                            group.own_before.insert(
                                (channel.clone(), event.sku.clone()),
                                self.sync.planner.own_mark(state, channel),
                            );
                        }
                        // A kit's own sales are counted on its first component.
                        for (kit_sku, kit) in &config.kits {
                            if kit.components.first().map(|(c, _)| c) != Some(&event.sku) {
                                continue;
                            }
                            for channel in self.sync.planner.pushing() {
                                group.kits_before.insert(
                                    (channel.clone(), kit_sku.clone()),
                                    kits::own_sold_kits(kit_sku, kit, state, channel),
                                );
                            }
                        }
                    }
                    let input = Input {
                        channel: &submission.channel,
                        actor: &actor,
                        manual: submission.manual,
                        received_at,
                        event,
                    };
                    group.inputs.push((actor_index, submission.manual));
                    let effect = state.apply(&input, config);
                    if let (true, Effect::Changed, StockChange::Adjusted { location, by, .. }) =
                        (submission.manual, &effect, &event.change)
                    {
                        *group
                            .manual_moves
                            .entry((event.sku.clone(), location.clone()))
                            .or_default() += by;
                    }
                    match effect {
                        Effect::Changed => Outcome::Accepted,
                        Effect::Unchanged => Outcome::Unchanged,
                        Effect::Ignored(reason) => Outcome::Ignored { reason },
                    }
                };
                counters[outcome_index(&outcome)].inc();
                folded = Some(match folded {
                    None => outcome,
                    Some(earlier) => fold(earlier, outcome),
                });
            }
            outcomes.push(folded.unwrap_or(Outcome::Unchanged));
        }
        group.actors.push(actor);
        Ok(outcomes)
    }

    /// The channel's `events` counters by outcome, created once per channel.
    fn counters_of(&mut self, channel: &ChannelId) -> [Counter; 4] {
        if let Some(counters) = self.counters.get(channel) {
            return counters.clone();
        }
        let counters = OUTCOMES.map(|outcome| {
            let labels = EventLabels {
                channel: channel.to_string(),
                outcome: outcome.to_owned(),
            };
            self.metrics.events.get_or_create(&labels).clone()
        });
        self.counters.insert(channel.clone(), counters.clone());
        counters
    }

    /// One atomic write of the group's log entries, ids, the pushes they call for and the
    /// published values the channels' own orders moved. Returns the channels to wake.
    fn commit(&mut self, config: &Config, group: &Group) -> Result<Vec<ChannelId>, IngestError> {
        if group.logged.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let mut book = self.sync.published.lock();
        let OwnMoved {
            mut published,
            unpublished,
        } = own_moves(group, &self.states, &self.sync.planner, &book, now);
        published.extend(own_kit_moves(config, group, &self.states, &book, now));
        let moved: Vec<(ChannelId, Sku)> = published
            .iter()
            .map(|(c, s, _)| (c.clone(), s.clone()))
            .chain(unpublished.iter().map(|(c, s, _)| (c.clone(), s.clone())))
            .collect();
        let touched = group
            .touched
            .iter()
            .filter_map(|sku| self.states.get_key_value(sku));
        let mut outbox = self.sync.planner.plan(config, touched, &moved, now);
        let kits: BTreeSet<Sku> = group
            .touched
            .iter()
            .flat_map(|sku| kits::kits_of(config, sku).cloned())
            .collect();
        let kits: Vec<Sku> = kits.into_iter().collect();
        outbox.extend(self.plan_kits(config, &kits, &moved, now));
        let escrow = self.sync.published.escrow().clone();
        for (channel, sku, value) in &published {
            let before = book.get(&(channel.clone(), sku.clone()));
            let by = before.map_or(0, |b| value.quantity - b.quantity);
            escrow.own_moved(channel, sku, by);
        }
        for (channel, sku, by) in &unpublished {
            escrow.own_moved(channel, sku, *by);
        }
        let after_own = |c: &ChannelId, s: &Sku| {
            let moved = published.iter().find(|(mc, ms, _)| mc == c && ms == s);
            moved
                .map(|(_, _, p)| p.quantity)
                .or_else(|| book.get(&(c.clone(), s.clone())).map(|p| p.quantity))
        };
        let outbox = self.cap_strict(outbox, config, &after_own, &moved);
        let commit = Commit {
            events: &group.logged,
            outbox: &outbox,
            published: &published,
        };
        let seqs = self.store.commit(&commit).map_err(|e| {
            escrow.unplanned(&outbox);
            self.store_failed(&e, group.logged.len())
        })?;
        if let Some(&last) = seqs.last() {
            self.checkpoints.committed = last;
        }
        for (channel, sku, value) in published {
            book.insert((channel, sku), value);
        }
        drop(book);
        self.sync.planner.planned(&outbox);
        Ok(channels_of(&outbox))
    }

    /// The pushes `kits` call for: their numbers come from their components' states.
    fn plan_kits(
        &self,
        config: &Config,
        kits: &[Sku],
        moved: &[(ChannelId, Sku)],
        now: Timestamp,
    ) -> Vec<OutboxEntry> {
        if kits.is_empty() {
            return Vec::new();
        }
        let states = |sku: &Sku| self.states.get(sku).cloned();
        self.sync
            .planner
            .plan_kits(config, kits, &states, moved, now)
    }

    /// Caps strict channels' raises by what their givers still hold, and counts the entries
    /// as pending before they are committed (`sync::escrow`).
    fn cap_strict(
        &self,
        outbox: Vec<OutboxEntry>,
        config: &Config,
        published: &dyn Fn(&ChannelId, &Sku) -> Option<i64>,
        moved: &[(ChannelId, Sku)],
    ) -> Vec<OutboxEntry> {
        let escrow = self.sync.published.escrow();
        let input = CapInput {
            config,
            states: &self.states,
            published,
            moved,
        };
        let planner = &self.sync.planner;
        let outbox = escrow.cap(outbox, &input, |c, s| planner.last_planned(c, s));
        escrow.planned(&outbox);
        outbox
    }

    /// Plans every SKU for every pushing channel, as one commit without events.
    async fn plan_everything(&mut self) {
        if let Ok(planned) = self.plan_and_commit(&[]).await
            && planned > 0
        {
            tracing::info!(
                pushes = planned,
                "Planned pushes for every SKU whose channel numbers changed."
            );
        }
    }

    /// Plans a push of each SKU whose hold keeps what a lost push may have left on its
    /// channel (the escrow rebuilt it at start from the dead letters): only a confirmed push
    /// clears that doubt, and the store cannot tell whether one came after the letter.
    async fn plan_doubted(&mut self) {
        let doubted = self.sync.published.escrow().doubted();
        if doubted.is_empty() {
            return;
        }
        if let Ok(planned) = self.plan_and_commit(&doubted).await {
            tracing::info!(
                doubted = doubted.len(),
                pushes = planned,
                "Planned pushes for the SKUs a lost push may have left higher on their channel."
            );
        }
    }

    /// Plans pushes outside a group of events: for every SKU and kit when `moved` is empty
    /// (at start, and after a reload), else for the SKUs in `moved` (a kit from its
    /// components' states), each pushed to its channel even if its target did not move.
    /// Commits and syncs them, wakes their pushers, and returns how many.
    async fn plan_and_commit(&mut self, moved: &[(ChannelId, Sku)]) -> Result<usize, IngestError> {
        let config = self.config.borrow().clone();
        let now = self.clock.now();
        // Kits have no state of their own: they are planned from their components' (a
        // strict channel's kit raise the escrow capped is planned again this way).
        let (kits, states): (Vec<Sku>, Vec<(&Sku, &SkuState)>) = if moved.is_empty() {
            (
                config.kits.keys().cloned().collect(),
                self.states.iter().collect(),
            )
        } else {
            let skus: BTreeSet<&Sku> = moved.iter().map(|(_, sku)| sku).collect();
            let (kits, skus): (Vec<&Sku>, Vec<&Sku>) = skus
                .into_iter()
                .partition(|sku| config.kits.contains_key(*sku));
            let states = skus
                .into_iter()
                .filter_map(|sku| self.states.get_key_value(sku))
                .collect();
            (kits.into_iter().cloned().collect(), states)
        };
        let mut outbox = self.sync.planner.plan(&config, states, moved, now);
        outbox.extend(self.plan_kits(&config, &kits, moved, now));
        let published = self.sync.published.clone();
        let outbox = {
            let book = published.lock();
            let now_published =
                |c: &ChannelId, s: &Sku| book.get(&(c.clone(), s.clone())).map(|p| p.quantity);
            self.cap_strict(outbox, &config, &now_published, moved)
        };
        if outbox.is_empty() {
            return Ok(0);
        }
        let commit = Commit {
            events: &[],
            outbox: &outbox,
            published: &[],
        };
        self.store.commit(&commit).map_err(|e| {
            published.escrow().unplanned(&outbox);
            self.store_failed(&e, 0)
        })?;
        self.sync.planner.planned(&outbox);
        self.sync().await?;
        self.sync.waker.wake(channels_of(&outbox).iter());
        Ok(outbox.len())
    }

    /// One sync for the whole group. Even a group of duplicates syncs: their first copy may
    /// still be in flight in an earlier, failed sync.
    async fn sync(&self) -> Result<(), IngestError> {
        let stats = self
            .store
            .sync_commits()
            .await
            .map_err(|e| self.store_failed(&e, 0))?;
        self.observe_sync(stats);
        Ok(())
    }

    fn observe_sync(&self, stats: SyncStats) {
        self.metrics
            .flush_seconds
            .observe(stats.flush_micros as f64 / 1e6);
        self.metrics
            .fsync_seconds
            .observe(stats.fsync_micros as f64 / 1e6);
    }

    fn store_failed(&self, error: &StoreError, events: usize) -> IngestError {
        self.metrics.store_errors.inc();
        tracing::error!(%error, events, "Group commit failed; its requests are answered with an error, not acknowledged.");
        IngestError::Store(error.to_string())
    }

    /// Publishes the committed group to readers: the same events, applied the same way to
    /// the view's states, which then equal the writer's. The lock is taken per event, so a
    /// large group does not hold readers off for long.
    fn install(&mut self, config: &Config, group: &Group) {
        for (logged, &(actor, manual)) in group.logged.iter().zip(&group.inputs) {
            let input = Input {
                channel: &logged.channel,
                actor: &group.actors[actor],
                manual,
                received_at: logged.received_at,
                event: &logged.event,
            };
            let mut view = self.view.write();
            let shared = view.entry(logged.event.sku.clone()).or_default();
            let _ = Arc::make_mut(shared).apply(&input, config);
        }
        let view = self.view.read();
        debug_assert!(
            group
                .touched
                .iter()
                .all(|sku| view.get(sku).map(|s| &**s) == self.states.get(sku)),
            "the view and the writer's states differ after the same events"
        );
        self.metrics
            .skus
            .set(i64::try_from(view.len()).unwrap_or(i64::MAX));
        drop(view);
        let events = group.logged.iter().map(|l| (&l.channel, &l.event));
        let states = group
            .touched
            .iter()
            .filter_map(|s| self.states.get_key_value(s));
        self.sync
            .feed
            .committed(config, self.clock.now(), events, states);
        self.checkpoints.dirty.extend(group.touched.iter().cloned());
    }

    /// Puts the touched states back as they were before a group that was not committed: the
    /// view's, which include only committed events.
    fn roll_back(&mut self, touched: &HashSet<Sku>) {
        let view = self.view.read();
        for sku in touched {
            match view.get(sku) {
                Some(state) => {
                    self.states.insert(sku.clone(), SkuState::clone(state));
                }
                None => {
                    self.states.remove(sku);
                }
            }
        }
    }
}

impl Checkpoints {
    /// Whether a checkpoint is owed or being written.
    fn pending(&self) -> bool {
        !self.dirty.is_empty() || self.running.is_some()
    }
}

/// What the pushing channels' own activity in this group moved: their own orders (the
/// channel already lowered its number for them) and, for a holding owner, its own changes of
/// its count.
#[derive(Default)]
struct OwnMoved {
    /// The published values moved.
    published: Vec<(ChannelId, Sku, Published)>,
    /// By how much the number of a channel moved that has no published value yet (no push
    /// of the SKU confirmed): the escrow counts it, and the first push's confirmation adds
    /// what moved since its read (`Escrow::unpublished_moves`).
    unpublished: Vec<(ChannelId, Sku, i64)>,
}

fn own_moves(
    group: &Group,
    states: &HashMap<Sku, SkuState>,
    planner: &Planner,
    book: &HashMap<(ChannelId, Sku), Published>,
    now: Timestamp,
) -> OwnMoved {
    let mut moved = OwnMoved::default();
    for ((channel, sku), before) in &group.own_before {
        let Some(state) = states.get(sku) else {
            continue;
        };
        let manual = |location: &LocationId| {
            group
                .manual_moves
                .get(&(sku.clone(), location.clone()))
                .copied()
                .unwrap_or(0)
        };
        let value = book
            .get(&(channel.clone(), sku.clone()))
            .map(|p| p.quantity);
        // Without a published value, moved from 0: what comes back is the move itself.
        let Some(quantity) =
            planner.published_after_own(state, channel, *before, value.unwrap_or(0), &manual)
        else {
            continue;
        };
        let (channel, sku) = (channel.clone(), sku.clone());
        match value {
            Some(_) => moved
                .published
                .push((channel, sku, Published { quantity, at: now })),
            None => moved.unpublished.push((channel, sku, quantity)),
        }
    }
    moved
}

/// Published values of kits lowered by the pushing channels' own kit sales in this group.
fn own_kit_moves(
    config: &Config,
    group: &Group,
    states: &HashMap<Sku, SkuState>,
    book: &HashMap<(ChannelId, Sku), Published>,
    now: Timestamp,
) -> Vec<(ChannelId, Sku, Published)> {
    let mut moved = Vec::new();
    for ((channel, kit_sku), before) in &group.kits_before {
        let Some(kit) = config.kits.get(kit_sku) else {
            continue;
        };
        let first = kit.components.first().and_then(|(c, _)| states.get(c));
        let key = (channel.clone(), kit_sku.clone());
        let (Some(first), Some(value)) = (first, book.get(&key)) else {
            continue;
        };
        let sold = kits::own_sold_kits(kit_sku, kit, first, channel) - before;
        if sold != 0 {
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

/// One answer for a kit's event from its components': accepted if any part was.
fn fold(earlier: Outcome, part: Outcome) -> Outcome {
    match (earlier, part) {
        (Outcome::Accepted, _) | (_, Outcome::Accepted) => Outcome::Accepted,
        (Outcome::Duplicate, Outcome::Duplicate) => Outcome::Duplicate,
        (Outcome::Duplicate, other) => other,
        (earlier, _) => earlier,
    }
}

fn channels_of(outbox: &[OutboxEntry]) -> Vec<ChannelId> {
    let mut channels: Vec<ChannelId> = outbox.iter().map(|e| e.channel.clone()).collect();
    channels.sort();
    channels.dedup();
    channels
}

/// The `outcome` label values, in `outcome_index` order.
const OUTCOMES: [&str; 4] = ["accepted", "duplicate", "unchanged", "ignored"];

fn outcome_index(outcome: &Outcome) -> usize {
    match outcome {
        Outcome::Accepted => 0,
        Outcome::Duplicate => 1,
        Outcome::Unchanged => 2,
        Outcome::Ignored { .. } => 3,
    }
}

/// Writes a checkpoint on a thread of its own at background priority
/// ([`crate::background`]), and waits for it. Not on the blocking pool's thread that calls
/// this: its priority could not be raised again for the fdatasyncs that also run there.
fn write_checkpoint(
    store: &Arc<Store>,
    snapshot: Vec<(Sku, Arc<SkuState>)>,
    through: u64,
) -> Result<(), StoreError> {
    let writer = Arc::clone(store);
    let thread = std::thread::Builder::new()
        .name("store-checkpoint".to_owned())
        .spawn(move || {
            crate::background::lower_this_thread();
            let states: Vec<(&Sku, &SkuState)> = snapshot.iter().map(|(k, v)| (k, &**v)).collect();
            writer.checkpoint(&states, through)
        })
        .map_err(|source| StoreError::Io {
            path: store.path().to_path_buf(),
            action: "starting the thread that writes a checkpoint".to_owned(),
            source,
        })?;
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
