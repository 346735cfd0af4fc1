//! The outbox after `commit`: attempts recorded before a push is sent, confirmation with the
//! published values it made true, dead letters for pushes given up on, and the per-channel
//! pause flag the pushers obey.
//!
//! An entry's id is its place in its channel's queue: ids come from one counter in meta and
//! are never reused, so a dead letter keeps the id it had, and one that is retried goes back
//! under a new id, behind everything already pending.

use std::collections::BTreeSet;

use omnistock_sdk::{ChannelId, Sku, Timestamp};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::wal::{WalTree, Writes};
use super::{
    Abort, Attempt, Counters, DeadLetter, LostPush, OutboxEntry, Published, Store, StoreError,
    TxResult, codec, tx_enqueue,
};

/// A record that failed to decode inside a transaction.
fn tx_bad(tree: &'static str, key: &[u8], detail: String) -> ConflictableTransactionError<Abort> {
    ConflictableTransactionError::Abort(Abort::Bad {
        tree,
        key: key.to_vec(),
        detail,
    })
}

/// Moves the pending entry under `key` to the dead letters, if it is still pending.
fn tx_bury(
    outbox: &TransactionalTree,
    dead: &TransactionalTree,
    key: &[u8],
    reason: &str,
    at: Timestamp,
    lost: Option<&LostPush>,
) -> TxResult<()> {
    let Some(value) = outbox.get(key)? else {
        return Ok(());
    };
    let letter =
        codec::outbox_to_dead(&value, reason, at, lost).map_err(|d| tx_bad("outbox", key, d))?;
    dead.insert(key, letter)?;
    outbox.remove(key)?;
    Ok(())
}

impl Store {
    /// Adds pushes to the outbox, returning their ids. Durable only after the next `sync`.
    ///
    /// Ids increase monotonically per store and are never reused: the counter is written in
    /// the same transaction as the entries. `commit` does the same along with events.
    /// Test setup only: the engine writes these through `commit` and `confirm`.
    #[cfg(test)]
    pub fn enqueue(&self, entries: &[OutboxEntry]) -> Result<Vec<u64>, StoreError> {
        let values = self.encode_outbox(entries)?;
        // Commits take outbox ids outside a transaction, under this lock.
        let _commits = self.wal.lock();
        self.applied("enqueueing pushes")?;
        (&self.outbox, &self.meta)
            .transaction(|(outbox, meta)| tx_enqueue(outbox, meta, &values))
            .map_err(|e| self.tx_error("enqueueing pushes", e))
    }

    /// Entries encoded for `tx_enqueue`, outside the transaction (sled may run it again).
    pub(super) fn encode_outbox<'e>(
        &self,
        entries: &'e [OutboxEntry],
    ) -> Result<Vec<(&'e ChannelId, Vec<u8>)>, StoreError> {
        entries
            .iter()
            .map(|entry| {
                let prefix = codec::channel_prefix(&entry.channel);
                let value =
                    codec::encode_outbox(entry).map_err(|d| self.bad("outbox", &prefix, d))?;
                Ok((&entry.channel, value))
            })
            .collect()
    }

    /// Up to `limit` pending pushes for `channel`, oldest first.
    pub fn pending(
        &self,
        channel: &ChannelId,
        limit: usize,
    ) -> Result<Vec<(u64, OutboxEntry)>, StoreError> {
        self.applied("reading the outbox")?;
        self.outbox
            .scan_prefix(codec::channel_prefix(channel))
            .take(limit)
            .map(|item| {
                let (key, value) = item.map_err(self.backend("reading the outbox"))?;
                let bad = |d| self.bad("outbox", &key, d);
                let id = codec::outbox_id_from_key(channel, &key).map_err(bad)?;
                let entry = codec::decode_outbox(channel, &value).map_err(bad)?;
                Ok((id, entry))
            })
            .collect()
    }

    /// Every pending push of every channel, by channel then id (for the engine's start).
    pub fn all_pending(&self) -> Result<Vec<(u64, OutboxEntry)>, StoreError> {
        self.applied("reading the outbox")?;
        let mut all = self
            .outbox
            .iter()
            .map(|item| {
                let (key, value) = item.map_err(self.backend("reading the outbox"))?;
                let bad = |d| self.bad("outbox", &key, d);
                let (channel, id) = codec::outbox_key_parts(&key).map_err(bad)?;
                let entry = codec::decode_outbox(&channel, &value).map_err(bad)?;
                Ok((id, entry))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Keys order channels by name length first; callers expect names in order.
        all.sort_by(|a, b| (&a.1.channel, a.0).cmp(&(&b.1.channel, b.0)));
        Ok(all)
    }

    /// Records the pushes about to be made for pending entries (id, attempt), replacing any
    /// earlier attempt. An id that is no longer pending (confirmed or dead meanwhile) is not
    /// an error. Durable after the next `sync_commits`: sync before sending.
    ///
    /// Written as a commit of the write-ahead log, so that making it durable is one
    /// `fdatasync` of the log, not a flush and fsync of all of sled, which every push round
    /// paid before sending (on the propagation's critical path). Only this channel's pusher
    /// changes its pending entries, and it does so one round at a time, so reading them
    /// outside a transaction is safe; the log's lock orders this against every other commit.
    pub fn record_attempts(
        &self,
        channel: &ChannelId,
        attempts: &[(u64, Attempt)],
    ) -> Result<(), StoreError> {
        let action = "recording push attempts";
        let mut wal = self.wal.lock();
        self.applied(action)?;
        let mut writes = Writes::default();
        for (id, attempt) in attempts {
            let key = codec::outbox_key(channel, *id);
            let Some(value) = self
                .outbox
                .get(&key)
                .map_err(self.backend("reading a pending push"))?
            else {
                continue;
            };
            let updated = codec::outbox_with_attempt(&value, attempt)
                .map_err(|d| self.bad("outbox", &key, d))?;
            writes.put(WalTree::Outbox, &key, &updated);
        }
        if writes.is_empty() {
            return Ok(());
        }
        let counters = self.logged_counters()?;
        let after = Counters {
            commit_no: self.next(counters.commit_no, action)?,
            ..counters
        };
        self.log_and_queue(&mut wal, after, writes, Vec::new(), None, action)
    }

    /// Removes pushes the channel confirmed and records what it now shows, in one atomic
    /// write. Unknown ids are ignored (a confirmation may arrive twice); the published values
    /// are written regardless.
    pub fn confirm(
        &self,
        channel: &ChannelId,
        ids: &[u64],
        published: &[(Sku, Published)],
    ) -> Result<(), StoreError> {
        let values = published
            .iter()
            .map(|(sku, value)| {
                let key = codec::published_key(channel, sku);
                let bytes =
                    codec::encode_published(value).map_err(|d| self.bad("published", &key, d))?;
                Ok((key, bytes))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // After every commit logged so far, before any logged later (see `applier`).
        let _commits = self.wal.lock();
        self.applied("confirming pushes")?;
        (&self.outbox, &self.published)
            .transaction(|(outbox, published)| {
                for &id in ids {
                    outbox.remove(codec::outbox_key(channel, id))?;
                }
                for (key, value) in &values {
                    published.insert(key.as_slice(), value.as_slice())?;
                }
                Ok(())
            })
            .map_err(|e| self.tx_error("confirming pushes", e))
    }

    /// How many pushes are pending for `channel` (counts them: O(pending)).
    pub fn outbox_len(&self, channel: &ChannelId) -> Result<usize, StoreError> {
        self.applied("reading the outbox")?;
        self.count(&self.outbox, channel, "reading the outbox")
    }

    /// Moves pending entries to the dead letters, atomically, with why and when. Ids that
    /// are no longer pending are ignored. `lost`: the push given up on had lost its first
    /// answer and may have applied; each letter records it, so the escrow can hold it again
    /// after a restart.
    pub fn dead_letter(
        &self,
        channel: &ChannelId,
        ids: &[u64],
        reason: &str,
        at: Timestamp,
        lost: Option<&LostPush>,
    ) -> Result<(), StoreError> {
        let _commits = self.wal.lock();
        self.applied("moving pushes to the dead letters")?;
        (&self.outbox, &self.dead)
            .transaction(|(outbox, dead)| {
                for &id in ids {
                    let key = codec::outbox_key(channel, id);
                    tx_bury(outbox, dead, &key, reason, at, lost)?;
                }
                Ok(())
            })
            .map_err(|e| self.tx_error("moving pushes to the dead letters", e))
    }

    /// The dead letters of `channel`, or of every channel, oldest first (by when they were
    /// given up on, then by id).
    pub fn dead_letters(&self, channel: Option<&ChannelId>) -> Result<Vec<DeadLetter>, StoreError> {
        let items = match channel {
            Some(channel) => self.dead.scan_prefix(codec::channel_prefix(channel)),
            None => self.dead.iter(),
        };
        let mut all = items
            .map(|item| {
                let (key, value) = item.map_err(self.backend("reading the dead letters"))?;
                let bad = |d| self.bad("dead", &key, d);
                let (channel, id) = codec::outbox_key_parts(&key).map_err(bad)?;
                codec::decode_dead(&channel, id, &value).map_err(bad)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        all.sort_by_key(|letter| (letter.at, letter.id));
        Ok(all)
    }

    /// Puts a dead letter back in its channel's outbox, under a new id (behind everything
    /// pending) and without its attempt. `None` if there is no such dead letter.
    pub fn retry_dead(&self, channel: &ChannelId, id: u64) -> Result<Option<u64>, StoreError> {
        let key = codec::outbox_key(channel, id);
        // Commits take outbox ids outside a transaction, under this lock.
        let _commits = self.wal.lock();
        self.applied("retrying a dead letter")?;
        (&self.dead, &self.outbox, &self.meta)
            .transaction(|(dead, outbox, meta)| {
                let Some(letter) = dead.get(&key)? else {
                    return Ok(None);
                };
                let value = codec::dead_to_outbox(&letter).map_err(|d| tx_bad("dead", &key, d))?;
                dead.remove(key.as_slice())?;
                let ids = tx_enqueue(outbox, meta, &[(channel, value)])?;
                Ok(ids.first().copied())
            })
            .map_err(|e| self.tx_error("retrying a dead letter", e))
    }

    /// Forgets a dead letter; whether there was one.
    pub fn drop_dead(&self, channel: &ChannelId, id: u64) -> Result<bool, StoreError> {
        let removed = self
            .dead
            .remove(codec::outbox_key(channel, id))
            .map_err(self.backend("dropping a dead letter"))?;
        Ok(removed.is_some())
    }

    /// How many dead letters `channel` has (counts them: O(dead letters)).
    pub fn dead_len(&self, channel: &ChannelId) -> Result<usize, StoreError> {
        self.count(&self.dead, channel, "reading the dead letters")
    }

    /// Pauses or resumes pushes to `channel`. Durable only after the next `sync`.
    pub fn set_paused(&self, channel: &ChannelId, paused: bool) -> Result<(), StoreError> {
        let key = codec::channel_key(channel);
        let value = codec::encode_channel(paused).map_err(|d| self.bad("channels", &key, d))?;
        self.channels
            .insert(key, value)
            .map_err(self.backend("writing a channel's pause flag"))?;
        Ok(())
    }

    /// The channels whose pushes are paused.
    pub fn paused_channels(&self) -> Result<BTreeSet<ChannelId>, StoreError> {
        let mut paused = BTreeSet::new();
        for item in self.channels.iter() {
            let (key, value) = item.map_err(self.backend("reading the channels"))?;
            let bad = |d| self.bad("channels", &key, d);
            let channel = codec::channel_from_key(&key).map_err(bad)?;
            if codec::decode_channel_paused(&value).map_err(bad)? {
                paused.insert(channel);
            }
        }
        Ok(paused)
    }

    /// How many keys of `channel` a channel-keyed tree holds.
    fn count(
        &self,
        tree: &sled::Tree,
        channel: &ChannelId,
        action: &str,
    ) -> Result<usize, StoreError> {
        let mut count = 0;
        for item in tree.scan_prefix(codec::channel_prefix(channel)).keys() {
            item.map_err(self.backend(action))?;
            count += 1;
        }
        Ok(count)
    }
}
