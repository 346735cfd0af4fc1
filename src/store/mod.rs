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
//! - `commit`: a group's events, outbox entries and published values as one record of the
//!   log, with dedup and the counters checked before anything is written.
//! - `wal`: the write-ahead log of commits.
//! - `applier`: sled's copy of the commits, written on a thread of its own, in log order.
//! - `checkpoint`: the SKU states written down, paced, so a start replays less of the log.
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
mod checkpoint;
mod codec;
mod commit;
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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use omnistock_sdk::{ChannelId, EventId, Sku, StockEvent, Timestamp};
use sled::transaction::{ConflictableTransactionError, TransactionError};

pub use error::StoreError;

use applier::{Applier, Counters};
use durable::Durability;
use wal::{Synced, Wal};

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

impl Store {
    /// Opens (or creates) the store in `dir`. A store that is corrupt, of an unknown format
    /// version, or in use by another process is an error naming the path; never reset.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        open::open(dir)
    }

    /// How many logged commits wait for the applier to write them into sled: near
    /// `applier::MAX_QUEUED`, sled is what ingest waits for.
    pub fn applier_queued(&self) -> usize {
        self.applier.queued()
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

    /// Why the store refuses commits until omnistock restarts, if it does: a write into
    /// sled failed midway (a full disk, an I/O error), and only a reopen completes that
    /// commit from the log (see `Ingest::fault`, which makes systemd restart the daemon).
    pub fn refusing_commits(&self) -> Option<String> {
        self.applier.failure()
    }

    /// After a commit failed midway, sled holds part of it: only a reopen repairs that.
    fn refuse_if_interrupted(&self) -> Result<(), StoreError> {
        match self.refusing_commits() {
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
