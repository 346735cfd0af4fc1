//! The only module that speaks sled: ingest log, derived state, published values, outbox.
//!
//! Everything is written in a versioned encoding of our own (see `codec`), never in the
//! `crdts` types' serde form. `commit` is atomic (through the write-ahead log, `wal`) but not
//! yet durable. `sync_commits` makes every commit so far power-loss durable with one
//! fdatasync of the log, and the ingest acknowledges events only after one that covers them.
//! `sync` makes everything written so far durable (sled flush, then fsync of the store's
//! files): the pushers' attempts and confirmations, checkpoints, cursors; it also lets the
//! log drop the commits it covers.
//!
//! SKU states are derived from the log, so they are not written with every commit: the
//! ingest writes a `checkpoint` of the states it changed now and then, with the seq they
//! include (`checkpoint_seq`), and at start replays the log after it. A checkpoint needs no
//! sync of its own: until a sync covers it, the log it summarizes still rebuilds it.

//!
//! # Layout
//! - `codec`: keys and versioned values, the only place that knows what bytes are on disk.
//! - `open`: opening, creating and checking a store; refuses rather than resets.
//! - `durable`: fsync beyond sled's flush, and the marker file that detects lost data.
//! - `wal`: the write-ahead log of commits.
//! - `recover`: after a crash, the commits sled lost replayed from the log, and the part of
//!   an unacknowledged one it kept removed.
//! - `outbox`: the pushes' life after `commit`: attempts, confirmation, dead letters, and
//!   the per-channel pause flag.
//! - `error`: [`StoreError`].
//!
//! Trees: `log` (seq → event), `ids` (channel, event id → seq), `states` (SKU → state),
//! `published` (channel, SKU → quantity shown), `outbox` (channel, id → push), `dead`
//! (channel, id → push given up on), `channels` (channel → control flags), `meta` (format
//! version, node term, last logged seq, checkpoint seq, last outbox id, commit number).

#![allow(clippy::disallowed_types)] // The one module allowed to speak sled.

mod applier;
#[cfg(test)]
mod applier_tests;
mod codec;
mod cursors;
mod durable;
mod error;
mod open;
mod outbox;
mod recover;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_outbox;
mod wal;
#[cfg(test)]
mod wal_tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use omnistock_sdk::{ChannelId, EventId, Sku, StockEvent, Timestamp};
use sled::transaction::{ConflictableTransactionError, TransactionError};

pub use error::StoreError;

use crate::state::SkuState;
use applier::{Applier, Counters};
use durable::Durability;
use wal::{Appender, Synced, Wal, WalTree, Writes};

/// An event to append to the ingest log.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub channel: ChannelId,
    pub received_at: Timestamp,
    pub event: StockEvent,
}

/// An event as kept in the ingest log, with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedEvent {
    pub seq: u64,
    pub channel: ChannelId,
    pub received_at: Timestamp,
    pub event: StockEvent,
}

/// The quantity we last made a channel show for a SKU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub quantity: i64,
    pub at: Timestamp,
}

/// A push to be made, kept until the channel confirms it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    pub channel: ChannelId,
    pub sku: Sku,
    pub target: i64,
    pub created_at: Timestamp,
    /// The last push of this entry, recorded before it was sent; `None` until then.
    pub attempt: Option<Attempt>,
    /// A push of this entry given up on after its answer was lost: it may have applied.
    /// Set when the entry is dead-lettered, kept through `deadletter retry`.
    pub lost: Option<LostPush>,
}

/// What a push whose answer was lost asked the channel to show, and our published value
/// then (`None` before the first confirmed push): the channel may show `asked`, moved since
/// by as much as its own orders moved `published`. The escrow rebuilds its doubt from it at
/// start (`sync::escrow`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LostPush {
    pub asked: i64,
    pub published: Option<i64>,
}

impl LostPush {
    /// What the channel may show now that `published` is `now`: `asked`, moved as
    /// `published` moved since (by its own orders, or by a confirmed push, after which the
    /// doubt is too high until a push is confirmed again: never too low).
    pub fn may_show(&self, now: Option<i64>) -> i64 {
        match (self.published, now) {
            (Some(then), Some(now)) => self.asked + (now - then),
            _ => self.asked,
        }
    }

    /// One record for two lost pushes of the same entry, `later` the newer: the higher of
    /// what either may have left, as of `later`'s published value.
    #[must_use]
    pub fn merged(self, later: LostPush) -> LostPush {
        LostPush {
            asked: self.may_show(later.published).max(later.asked),
            published: later.published,
        }
    }
}

/// A push as it was about to be sent: what the channel showed just before (`expected`) and
/// what we asked it to show (`value`). After a crash between sending and confirming, the
/// channel is re-read and compared with both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub expected: i64,
    pub value: i64,
    pub at: Timestamp,
}

/// A push given up on, kept for an operator to retry or drop. `id` is the id it had in the
/// outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    pub id: u64,
    pub entry: OutboxEntry,
    pub reason: String,
    pub at: Timestamp,
}

/// Everything one atomic `commit` writes. SKU states are not part of it: they go into a
/// [`Store::checkpoint`] (the log rebuilds them until then).
#[derive(Clone, Copy, Debug, Default)]
pub struct Commit<'a> {
    pub events: &'a [NewEvent],
    /// New outbox entries (ids assigned here).
    pub outbox: &'a [OutboxEntry],
    /// Published values to overwrite (channel, SKU, value), e.g. a channel's own sale.
    pub published: &'a [(ChannelId, Sku, Published)],
}

/// What one `sync` cost, for metrics and the benchmark.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SyncStats {
    pub flush_micros: u64,
    pub fsync_micros: u64,
}

const META_FORMAT: &[u8] = b"format";
const META_TERM: &[u8] = b"term";
/// The seq of the last event in the log. The key keeps the name it had when every commit
/// also wrote the states (format 1); `META_CHECKPOINT_SEQ` is what the states include now.
const META_LAST_SEQ: &[u8] = b"last_applied_seq";
/// The last seq whose effects the `states` tree includes; absent means 0 (format 2).
const META_CHECKPOINT_SEQ: &[u8] = b"checkpoint_seq";
const META_LAST_OUTBOX_ID: &[u8] = b"last_outbox_id";
/// How many commits the store holds (format 3): the write-ahead log's records after it are
/// the commits sled lost in a crash.
const META_COMMIT_NO: &[u8] = b"commit_no";

/// The open store. Holds sled's lock on its directory until dropped.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    log: sled::Tree,
    ids: sled::Tree,
    states: sled::Tree,
    published: sled::Tree,
    outbox: sled::Tree,
    dead: sled::Tree,
    channels: sled::Tree,
    meta: sled::Tree,
    durability: Arc<Durability>,
    wal: Arc<Wal>,
    /// Writes logged commits into sled (see `applier`); stopped when the store is dropped.
    applier: Applier,
}

impl Drop for Store {
    fn drop(&mut self) {
        self.applier.stop();
    }
}

/// Why a transaction gave up; turned into a [`StoreError`] once outside it.
enum Abort {
    Bad {
        tree: &'static str,
        key: Vec<u8>,
        detail: String,
    },
    SeqOverflow,
}

type TxResult<T> = Result<T, ConflictableTransactionError<Abort>>;

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

/// Reads a counter inside a transaction; absent is 0.
fn tx_counter(meta: &sled::transaction::TransactionalTree, key: &'static [u8]) -> TxResult<u64> {
    match meta.get(key)? {
        None => Ok(0),
        Some(bytes) => codec::decode_u64(&bytes).map_err(|detail| {
            ConflictableTransactionError::Abort(Abort::Bad {
                tree: "meta",
                key: key.to_vec(),
                detail,
            })
        }),
    }
}

/// Adds encoded outbox values (channel, value) under new ids, inside a transaction, and
/// advances the id counter with them.
fn tx_enqueue(
    outbox: &sled::transaction::TransactionalTree,
    meta: &sled::transaction::TransactionalTree,
    values: &[(&ChannelId, Vec<u8>)],
) -> TxResult<Vec<u64>> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let mut id = tx_counter(meta, META_LAST_OUTBOX_ID)?;
    let mut ids = Vec::with_capacity(values.len());
    for (channel, value) in values {
        id = id
            .checked_add(1)
            .ok_or(ConflictableTransactionError::Abort(Abort::SeqOverflow))?;
        outbox.insert(codec::outbox_key(channel, id), value.as_slice())?;
        ids.push(id);
    }
    meta.insert(META_LAST_OUTBOX_ID, &codec::encode_u64(id))?;
    Ok(ids)
}

/// How long a checkpoint writes before it pauses for `CHECKPOINT_PAUSE`.
const CHECKPOINT_SLICE: Duration = Duration::from_millis(1);
/// A checkpoint takes a seventh of a core at most (see `write_checkpoint_states`): written
/// at full speed, the ~100 ms of CPU and ~10 MB of sled writes that 1,000 states of a busy
/// store cost raised the acknowledgements' p99 on this 2-core machine. Paced, 1,000 states
/// take about half a second, which nobody waits for.
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(6);

/// Why a checkpoint through `through` may not follow one through `previous` with the log
/// ending at `last`; `None` if it may.
fn checkpoint_out_of_range(through: u64, previous: u64, last: u64) -> Option<String> {
    (through > last || through < previous).then(|| {
        format!(
            "a checkpoint through seq {through} is outside the range from the last \
             checkpoint's seq to the log's end, {previous}..={last}"
        )
    })
}

impl Store {
    /// Opens (or creates) the store in `dir`. A store that is corrupt, of an unknown format
    /// version, or in use by another process is an error naming the path; never reset.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        open::open(dir)
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a new term for this node (the previous term + 1), durably, and returns it.
    ///
    /// Blocks on a flush and fsync: meant for startup, before the node acts in the term.
    pub fn begin_term(&self) -> Result<u64, StoreError> {
        let term = self
            .meta
            .transaction(|meta| {
                let term = tx_counter(meta, META_TERM)?
                    .checked_add(1)
                    .ok_or(ConflictableTransactionError::Abort(Abort::SeqOverflow))?;
                meta.insert(META_TERM, &codec::encode_u64(term))?;
                Ok(term)
            })
            .map_err(|e| self.tx_error("starting a new term", e))?;
        self.sync_blocking()?;
        Ok(term)
    }

    /// Every SKU's state as of the last checkpoint (see [`Store::checkpoint_seq`]), each
    /// record checked as it is decoded. The log after `checkpoint_seq` is not in them.
    pub fn load_states(&self) -> Result<Vec<(Sku, SkuState)>, StoreError> {
        Ok(self
            .load_checkpoint()?
            .into_iter()
            .map(|(sku, state, _)| (sku, state))
            .collect())
    }

    /// Every SKU's checkpointed state with the last seq it includes: at least
    /// [`Store::checkpoint_seq`], more for a state written by a checkpoint that a crash
    /// interrupted. A replay applies to each state only the log entries after its own seq.
    pub fn load_checkpoint(&self) -> Result<Vec<(Sku, SkuState, u64)>, StoreError> {
        let checkpoint_seq = self.checkpoint_seq()?;
        self.states
            .iter()
            .map(|item| {
                let (key, value) = item.map_err(self.backend("reading the states"))?;
                let sku = codec::sku_from_key(&key).map_err(|d| self.bad("states", &key, d))?;
                let (seq, state) =
                    codec::decode_state(&value).map_err(|d| self.bad("states", &key, d))?;
                // A record without its own seq is format 1's, unchanged since the upgrade.
                Ok((
                    sku,
                    state,
                    seq.unwrap_or(checkpoint_seq).max(checkpoint_seq),
                ))
            })
            .collect()
    }

    /// Whether an event with this id from this channel is already in the log.
    pub fn contains_event(&self, channel: &ChannelId, id: &EventId) -> Result<bool, StoreError> {
        let key = codec::event_id_key(channel, id);
        // Queued first: the applier forgets an id only once sled has it.
        if self.applier.pending_seq(&key).is_some() {
            return Ok(true);
        }
        self.ids
            .contains_key(key)
            .map_err(self.backend("looking up an event id"))
    }

    /// The seq of the last event in the log (0 for an empty log).
    pub fn last_seq(&self) -> Result<u64, StoreError> {
        Ok(self.logged_counters()?.last_seq)
    }

    /// Meta's counters as of the last logged commit (sled may not have it yet).
    fn logged_counters(&self) -> Result<Counters, StoreError> {
        match self.applier.counters() {
            Some(counters) => Ok(counters),
            None => Ok(Counters {
                last_seq: self.meta_counter(META_LAST_SEQ)?,
                last_outbox_id: self.meta_counter(META_LAST_OUTBOX_ID)?,
                commit_no: self.meta_counter(META_COMMIT_NO)?,
            }),
        }
    }

    /// Waits until sled has every commit logged before this call: before reading or
    /// writing, outside a commit, a tree that commits write (see `applier`).
    fn applied(&self, action: &str) -> Result<(), StoreError> {
        self.applier
            .wait_applied()
            .map_err(|reason| self.refused(action, &reason))
    }

    /// The last seq the checkpointed states include: the log after it must be replayed onto
    /// [`Store::load_states`] to get the current states.
    pub fn checkpoint_seq(&self) -> Result<u64, StoreError> {
        self.meta_counter(META_CHECKPOINT_SEQ)
    }

    /// Writes `states`, each tagged with `through_seq`, then records `through_seq` as the
    /// checkpoint seq.
    ///
    /// The caller promises that the given states include exactly the log up to `through_seq`
    /// and that every SKU left out changed in no event after the previous checkpoint. It
    /// may not go back (`through_seq` below the current checkpoint) nor ahead of the log.
    ///
    /// Not one atomic write: the states go one by one, paced, so that the commits made
    /// meanwhile keep their share of the CPU. That is safe because
    /// each record carries its own seq (a crash midway leaves some states newer than the
    /// checkpoint seq, and the replay skips what they hold), and the checkpoint seq moves
    /// only after every state is written. Durable only after the next `sync`, and needs
    /// none: the log rebuilds it until then.
    pub fn checkpoint(
        &self,
        states: &[(&Sku, &SkuState)],
        through_seq: u64,
    ) -> Result<(), StoreError> {
        // sled must hold the log the states summarize before they are written: it keeps a
        // prefix of its writes in a crash, so states never survive without their events.
        self.applied("writing a checkpoint of the states")?;
        self.check_checkpoint_range(through_seq)?;
        self.write_checkpoint_states(states, through_seq)?;
        self.record_checkpoint_seq(through_seq)
    }

    /// A checkpoint's states, each tagged `through_seq`, written in slices of
    /// `CHECKPOINT_SLICE` with a `CHECKPOINT_PAUSE` after each.
    fn write_checkpoint_states(
        &self,
        states: &[(&Sku, &SkuState)],
        through_seq: u64,
    ) -> Result<(), StoreError> {
        let mut slice = Instant::now();
        for (sku, state) in states {
            // Plain inserts: each record stands alone (it carries its seq), and a batch would
            // make sled write two IO buffers with a `sync_file_range` each (see `commit`).
            self.states
                .insert(codec::sku_key(sku), codec::encode_state(state, through_seq))
                .map_err(self.backend("writing a checkpoint of the states"))?;
            if slice.elapsed() >= CHECKPOINT_SLICE {
                std::thread::sleep(CHECKPOINT_PAUSE);
                slice = Instant::now();
            }
        }
        Ok(())
    }

    /// A checkpoint that a crash interrupts after its states: they are written, the
    /// checkpoint seq is not (tests).
    #[cfg(test)]
    pub(crate) fn checkpoint_interrupted(
        &self,
        states: &[(&Sku, &SkuState)],
        through_seq: u64,
    ) -> Result<(), StoreError> {
        self.write_checkpoint_states(states, through_seq)
    }

    /// Recording the checkpoint seq, the last step of a checkpoint. A plain insert, not a
    /// sled transaction: a transaction takes sled's global write lock and writes two IO
    /// buffers under it, which held every commit up by tens of milliseconds at the end of
    /// each checkpoint (measured). Nothing can move the range meanwhile: the log's end only
    /// grows, and only the one running checkpoint writes the checkpoint seq.
    fn record_checkpoint_seq(&self, through_seq: u64) -> Result<(), StoreError> {
        self.check_checkpoint_range(through_seq)?;
        self.meta
            .insert(META_CHECKPOINT_SEQ, &codec::encode_u64(through_seq))
            .map_err(self.backend("recording the checkpoint seq"))?;
        Ok(())
    }

    fn check_checkpoint_range(&self, through_seq: u64) -> Result<(), StoreError> {
        let (previous, last) = (self.checkpoint_seq()?, self.last_seq()?);
        match checkpoint_out_of_range(through_seq, previous, last) {
            None => Ok(()),
            Some(detail) => Err(StoreError::Backend {
                path: self.path.clone(),
                action: "writing a checkpoint of the states".to_owned(),
                detail,
            }),
        }
    }

    /// Appends `events` to the log (returning their sequence numbers), records their ids for
    /// dedup, adds the `outbox` entries (under new ids) and overwrites the `published` values,
    /// as one record of the write-ahead log. Durable after the next `sync_commits`.
    ///
    /// An event whose id is already recorded (in the log or earlier in `events`) fails the
    /// whole commit with [`StoreError::DuplicateEvent`]: writing it would apply it twice.
    /// Every check is made before anything is written, so a refused commit writes nothing.
    ///
    /// Atomic through the log, not through sled: the record is appended first, then its
    /// writes go into sled one by one, on the applier's thread (see `applier`), without a
    /// sled transaction. Each of those (and each `apply_batch`) made sled seal and write
    /// one of its IO buffers twice, with a `sync_file_range` each. A crash that leaves sled with
    /// part of a commit is repaired on open: by the record if it reached the log, else by
    /// removing the part (see `recover`); meta's counters are written
    /// last, so sled's prefix of a commit never moves them. A sled write that fails midway
    /// leaves the store refusing commits until it is reopened, which completes the commit
    /// from the log.
    pub fn commit(&self, commit: &Commit<'_>) -> Result<Vec<u64>, StoreError> {
        self.commit_inner(commit, None)
    }

    /// `commit`, with sled failing after `fail_after` of its writes if given (tests only;
    /// always `None` otherwise).
    fn commit_inner(
        &self,
        commit: &Commit<'_>,
        fail_after: Option<usize>,
    ) -> Result<Vec<u64>, StoreError> {
        let events = commit.events;
        let mut log_values = Vec::with_capacity(events.len());
        for event in events {
            let id_key = codec::event_id_key(&event.channel, &event.event.id);
            let value = codec::encode_log(event).map_err(|d| self.bad("log", &id_key, d))?;
            log_values.push((id_key, value));
        }
        let outbox_values = self.encode_outbox(commit.outbox)?;
        let published_values = commit
            .published
            .iter()
            .map(|(channel, sku, value)| {
                let key = codec::published_key(channel, sku);
                let bytes =
                    codec::encode_published(value).map_err(|d| self.bad("published", &key, d))?;
                Ok((key, bytes))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;

        // Held until sled has every write: commits (and anything else that takes a counter
        // from meta) go one at a time, and into the log in the order they are made.
        let mut wal = self.wal.lock();
        self.refuse_if_interrupted()?;
        let counters = self.logged_counters()?;
        let mut writes = Writes::default();
        let mut seq = counters.last_seq;
        let mut seqs = Vec::with_capacity(log_values.len());
        let mut in_commit = HashMap::with_capacity(log_values.len());
        for (index, (id_key, value)) in log_values.iter().enumerate() {
            let logged = match in_commit.get(id_key) {
                Some(&seq) => Some(seq),
                None => match self.applier.pending_seq(id_key) {
                    Some(seq) => Some(seq),
                    None => self
                        .ids
                        .get(id_key)
                        .map_err(self.backend("looking up an event id"))?
                        .map(|existing| codec::decode_u64(&existing).unwrap_or(0)),
                },
            };
            if let Some(seq) = logged {
                return Err(self.duplicate(events, index, seq));
            }
            seq = self.next(seq, "committing events")?;
            let (seq_key, seq_value) = (codec::seq_key(seq), codec::encode_u64(seq));
            writes.put(WalTree::Log, &seq_key, value);
            writes.put(WalTree::Ids, id_key, &seq_value);
            in_commit.insert(id_key, seq);
            seqs.push(seq);
        }
        let mut outbox_id = counters.last_outbox_id;
        for (channel, value) in &outbox_values {
            outbox_id = self.next(outbox_id, "committing events")?;
            writes.put(
                WalTree::Outbox,
                &codec::outbox_key(channel, outbox_id),
                value,
            );
        }
        for (key, value) in &published_values {
            writes.put(WalTree::Published, key, value);
        }
        let commit_no = self.next(counters.commit_no, "committing events")?;
        if !outbox_values.is_empty() {
            writes.put(
                WalTree::Meta,
                META_LAST_OUTBOX_ID,
                &codec::encode_u64(outbox_id),
            );
        }
        writes.put(WalTree::Meta, META_LAST_SEQ, &codec::encode_u64(seq));
        let ids = log_values
            .into_iter()
            .zip(&seqs)
            .map(|((id_key, _), &seq)| (id_key, seq))
            .collect();
        let after = Counters {
            last_seq: seq,
            last_outbox_id: outbox_id,
            commit_no,
        };
        self.log_and_queue(
            &mut wal,
            after,
            writes,
            ids,
            fail_after,
            "committing events",
        )?;
        Ok(seqs)
    }

    /// The end of every commit, with the log held: numbers it `after.commit_no` (meta's
    /// counter, written last), appends it to the log, then hands it to the applier, with
    /// `ids` (its events' keys in the `ids` tree, and seqs) and the counters it leaves
    /// (`after`). With `fail_after` (tests), waits for the applier, which fails midway.
    fn log_and_queue(
        &self,
        wal: &mut Appender,
        after: Counters,
        mut writes: Writes,
        ids: Vec<(Vec<u8>, u64)>,
        fail_after: Option<usize>,
        action: &str,
    ) -> Result<(), StoreError> {
        writes.put(
            WalTree::Meta,
            META_COMMIT_NO,
            &codec::encode_u64(after.commit_no),
        );
        wal.append(after.commit_no, &writes);
        self.applier.queue(after, writes, ids, fail_after);
        if fail_after.is_some() {
            self.applied(action)?;
        }
        Ok(())
    }

    /// After a commit failed midway, sled holds part of it: only a reopen repairs that.
    fn refuse_if_interrupted(&self) -> Result<(), StoreError> {
        match self.applier.failure() {
            None => Ok(()),
            Some(reason) => Err(self.refused("committing events", &reason)),
        }
    }

    /// The error for `action` once the applier stopped on a failed write (`reason`).
    fn refused(&self, action: &str, reason: &str) -> StoreError {
        StoreError::Backend {
            path: self.path.clone(),
            action: action.to_owned(),
            detail: format!(
                "the store refuses commits until omnistock restarts, which completes or \
                 removes the unfinished commit: {reason}"
            ),
        }
    }

    /// `counter` + 1, or the error that says which counter would overflow.
    fn next(&self, counter: u64, action: &str) -> Result<u64, StoreError> {
        counter.checked_add(1).ok_or_else(|| StoreError::Corrupt {
            path: self.path.clone(),
            detail: format!("{action}: a counter in meta would overflow u64"),
        })
    }

    /// The error for `events[index]`, already logged as `seq`.
    fn duplicate(&self, events: &[NewEvent], index: usize, seq: u64) -> StoreError {
        let (channel, id) = events
            .get(index)
            .map(|e| (e.channel.to_string(), e.event.id.to_string()))
            .unwrap_or_default();
        StoreError::DuplicateEvent {
            path: self.path.clone(),
            channel,
            id,
            seq,
        }
    }

    /// Makes every `commit` so far power-loss durable: an fdatasync of the write-ahead log
    /// (see `wal`), not of sled. Other writes (attempts, confirmations, checkpoints, cursors)
    /// need [`Store::sync`]. Falls back to `sync` if an append to the log failed.
    pub async fn sync_commits(&self) -> Result<SyncStats, StoreError> {
        let started = Instant::now();
        let wal = Arc::clone(&self.wal);
        let synced = tokio::task::spawn_blocking(move || wal.sync())
            .await
            .map_err(|e| StoreError::Backend {
                path: self.path.clone(),
                action: "fdatasync of the write-ahead log".to_owned(),
                detail: format!("the blocking task failed: {e}"),
            })??;
        match synced {
            Synced::All => Ok(SyncStats {
                flush_micros: 0,
                fsync_micros: micros(started.elapsed()),
            }),
            Synced::Incomplete(reason) => {
                tracing::warn!(%reason, "The write-ahead log is missing commits; syncing the whole store instead.");
                self.sync().await
            }
        }
    }

    /// Makes everything committed so far power-loss durable.
    ///
    /// sled's flush writes its buffers with `sync_file_range`, which leaves the disk's write
    /// cache and the file's new size unsynced; so the flush is followed by an fsync of the
    /// data file (and of any blob files sled wrote), on a blocking thread. Then the marker
    /// records the last seq this covered, so a later `open` can tell if sled lost it.
    /// `flush_micros` is sled's flush; `fsync_micros` the fsyncs and the marker write.
    pub async fn sync(&self) -> Result<SyncStats, StoreError> {
        if self.wal.is_broken() {
            // Rare (a failed write to the log): done in place, commits wait for it anyway.
            return self.restart_wal();
        }
        // What sled has, read before the flush starts: everything up to here is covered by it.
        self.applied("flushing")?;
        let covered = self.meta_counter(META_LAST_SEQ)?;
        let covered_commit = self.meta_counter(META_COMMIT_NO)?;
        let started = Instant::now();
        self.db
            .flush_async()
            .await
            .map_err(self.backend("flushing"))?;
        let flush_micros = micros(started.elapsed());

        let started = Instant::now();
        let (durability, wal) = (Arc::clone(&self.durability), Arc::clone(&self.wal));
        tokio::task::spawn_blocking(move || {
            durability.sync_files()?;
            durability.write_marker(covered, false)?;
            wal.retire_through(covered_commit);
            Ok::<_, StoreError>(())
        })
        .await
        .map_err(|e| StoreError::Backend {
            path: self.path.clone(),
            action: "fsync of the store's files".to_owned(),
            detail: format!("the blocking task failed: {e}"),
        })??;
        Ok(SyncStats {
            flush_micros,
            fsync_micros: micros(started.elapsed()),
        })
    }

    /// After a failed append: with the log locked (no commit can come in), syncs all of sled,
    /// then starts the log again.
    fn restart_wal(&self) -> Result<SyncStats, StoreError> {
        let started = Instant::now();
        let mut wal = self.wal.lock();
        self.applied("flushing")?;
        let covered = self.meta_counter(META_LAST_SEQ)?;
        self.db.flush().map_err(self.backend("flushing"))?;
        self.durability.sync_files()?;
        self.durability.write_marker(covered, true)?;
        wal.restart()?;
        Ok(SyncStats {
            flush_micros: micros(started.elapsed()),
            fsync_micros: 0,
        })
    }

    /// `sync` for callers outside async code: flush, fsync, and an fsynced marker.
    pub fn sync_blocking(&self) -> Result<(), StoreError> {
        self.applied("flushing")?;
        let covered = self.meta_counter(META_LAST_SEQ)?;
        let covered_commit = self.meta_counter(META_COMMIT_NO)?;
        self.db.flush().map_err(self.backend("flushing"))?;
        self.durability.sync_files()?;
        self.durability.write_marker(covered, true)?;
        self.wal.retire_through(covered_commit);
        Ok(())
    }

    /// The ingest log from `from_seq` on, in order.
    pub fn log_from(
        &self,
        from_seq: u64,
    ) -> impl Iterator<Item = Result<LoggedEvent, StoreError>> + '_ {
        let waited = self.applied("reading the log").err();
        let log = waited
            .is_none()
            .then(|| self.log.range(codec::seq_key(from_seq)..));
        waited
            .map(Err)
            .into_iter()
            .chain(log.into_iter().flatten().map(|item| {
                let (key, value) = item.map_err(self.backend("reading the log"))?;
                let seq = codec::seq_from_key(&key).map_err(|d| self.bad("log", &key, d))?;
                codec::decode_log(seq, &value).map_err(|d| self.bad("log", &key, d))
            }))
    }

    /// The quantity we last made `channel` show for `sku`, if any.
    /// Test setup only: the engine writes these through `commit` and `confirm`.
    #[cfg(test)]
    pub fn published(
        &self,
        channel: &ChannelId,
        sku: &Sku,
    ) -> Result<Option<Published>, StoreError> {
        self.applied("reading a published value")?;
        let key = codec::published_key(channel, sku);
        let value = self
            .published
            .get(&key)
            .map_err(self.backend("reading a published value"))?;
        value
            .map(|v| codec::decode_published(&v).map_err(|d| self.bad("published", &key, d)))
            .transpose()
    }

    /// Records what `channel` now shows for `sku`. Durable only after the next `sync`.
    /// Test setup only: the engine writes these through `commit` and `confirm`.
    #[cfg(test)]
    pub fn set_published(
        &self,
        channel: &ChannelId,
        sku: &Sku,
        value: &Published,
    ) -> Result<(), StoreError> {
        let key = codec::published_key(channel, sku);
        let bytes = codec::encode_published(value).map_err(|d| self.bad("published", &key, d))?;
        let _commits = self.wal.lock();
        self.applied("writing a published value")?;
        self.published
            .insert(key, bytes)
            .map_err(self.backend("writing a published value"))?;
        Ok(())
    }

    /// Every published value, by channel then SKU (for the engine's start).
    pub fn all_published(&self) -> Result<Vec<(ChannelId, Sku, Published)>, StoreError> {
        self.applied("reading the published values")?;
        let mut all = self
            .published
            .iter()
            .map(|item| {
                let (key, value) = item.map_err(self.backend("reading the published values"))?;
                let bad = |d| self.bad("published", &key, d);
                let (channel, sku) = codec::published_key_parts(&key).map_err(bad)?;
                let value = codec::decode_published(&value).map_err(bad)?;
                Ok((channel, sku, value))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Keys order channels by name length first; callers expect names in order.
        all.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Ok(all)
    }

    fn meta_counter(&self, key: &'static [u8]) -> Result<u64, StoreError> {
        match self.meta.get(key).map_err(self.backend("reading meta"))? {
            None => Ok(0),
            Some(bytes) => codec::decode_u64(&bytes).map_err(|d| self.bad("meta", key, d)),
        }
    }

    fn backend(&self, action: &str) -> impl FnOnce(sled::Error) -> StoreError + '_ {
        let action = action.to_owned();
        move |e| StoreError::Backend {
            path: self.path.clone(),
            action,
            detail: e.to_string(),
        }
    }

    fn bad(&self, tree: &'static str, key: &[u8], detail: String) -> StoreError {
        StoreError::BadRecord {
            path: self.path.clone(),
            tree,
            key: codec::describe_key(tree, key),
            detail,
        }
    }

    /// Turns a failed transaction into an error.
    fn tx_error(&self, action: &str, e: TransactionError<Abort>) -> StoreError {
        match e {
            TransactionError::Storage(e) => self.backend(action)(e),
            TransactionError::Abort(Abort::Bad { tree, key, detail }) => {
                self.bad(tree, &key, detail)
            }
            TransactionError::Abort(Abort::SeqOverflow) => StoreError::Corrupt {
                path: self.path.clone(),
                detail: format!("{action}: a counter in meta would overflow u64"),
            },
        }
    }
}
