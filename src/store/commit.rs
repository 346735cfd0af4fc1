//! Commits: a group's events, outbox entries and published values, logged as one record
//! and handed to the applier.

use std::collections::HashMap;

use super::applier::Counters;
use super::wal::{Appender, WalTree, Writes};
use super::{
    Commit, META_COMMIT_NO, META_LAST_OUTBOX_ID, META_LAST_SEQ, NewEvent, Store, StoreError, codec,
};

impl Store {
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
    pub(super) fn commit_inner(
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
    pub(super) fn log_and_queue(
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

    /// `counter` + 1, or the error that says which counter would overflow.
    pub(super) fn next(&self, counter: u64, action: &str) -> Result<u64, StoreError> {
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
}
