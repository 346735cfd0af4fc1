//! After a crash, before anything reads the store: bring sled to exactly the commits made.
//!
//! Commits reach sled as plain inserts after their record is appended to the write-ahead log
//! (see [`Store::commit`](super::Store::commit)), and sled comes back from a crash with a
//! prefix of its inserts. So it may lack whole commits, or have the first part of one:
//! - a commit whose record is in the log is applied again from it (writes are overwrites,
//!   so what sled already has of it changes nothing);
//! - a commit whose record is not in the log was never acknowledged (only power loss can
//!   leave sled ahead of the log: a kill leaves the log's appends in the page cache). What
//!   sled has of it is removed, so that its events are not taken for duplicates when their
//!   sender tries again. meta's counters are a commit's last writes, so that part is what
//!   lies beyond them: log entries after the last logged seq (and their ids), outbox entries
//!   after the last outbox id. A published value it wrote is left: it is what the channel
//!   shows after its own sale, which the retried event writes again.

use std::path::Path;

use super::applier::apply;
use super::wal::Record;
use super::{META_LAST_OUTBOX_ID, META_LAST_SEQ, StoreError, codec};

/// Replays `records` (the commits sled lost, in order) into `trees` (in `WalTree` order),
/// then removes what sled has of an unfinished commit. Whether anything was written: if so
/// the caller makes it durable before going on.
pub(super) fn recover(
    dir: &Path,
    records: &[Record],
    trees: [&sled::Tree; 5],
) -> Result<bool, StoreError> {
    for record in records {
        apply(trees, &record.writes, None).map_err(|e| StoreError::Backend {
            path: dir.to_path_buf(),
            action: format!(
                "applying commit {} from the write-ahead log",
                record.commit_no
            ),
            detail: e.to_string(),
        })?;
    }
    let removed = trim_unfinished_commit(dir, trees)?;
    if removed > 0 {
        tracing::warn!(
            records = removed,
            "Removed the part of an unacknowledged commit that sled kept from before a crash; its senders will send it again."
        );
    }
    Ok(!records.is_empty() || removed > 0)
}

/// Removes what lies beyond meta's counters in the log, ids and outbox; how many records.
fn trim_unfinished_commit(dir: &Path, trees: [&sled::Tree; 5]) -> Result<usize, StoreError> {
    let [log, ids, meta, outbox, _] = trees;
    let backend = |action: &str| {
        let action = action.to_owned();
        move |e: sled::Error| StoreError::Backend {
            path: dir.to_path_buf(),
            action,
            detail: e.to_string(),
        }
    };
    let bad = |tree: &'static str, key: &[u8], detail: String| StoreError::BadRecord {
        path: dir.to_path_buf(),
        tree,
        key: codec::describe_key(tree, key),
        detail,
    };
    let counter = |key: &'static [u8]| -> Result<u64, StoreError> {
        match meta.get(key).map_err(backend("reading meta"))? {
            None => Ok(0),
            Some(bytes) => codec::decode_u64(&bytes).map_err(|d| bad("meta", key, d)),
        }
    };
    let mut removed = 0;
    let last_seq = counter(META_LAST_SEQ)?;
    for item in log.range(codec::seq_key(last_seq.saturating_add(1))..) {
        let (key, value) = item.map_err(backend("reading the log"))?;
        let seq = codec::seq_from_key(&key).map_err(|d| bad("log", &key, d))?;
        let event = codec::decode_log(seq, &value).map_err(|d| bad("log", &key, d))?;
        let id_key = codec::event_id_key(&event.channel, &event.event.id);
        let points_here = ids
            .get(&id_key)
            .map_err(backend("reading the ids"))?
            .is_some_and(|v| codec::decode_u64(&v) == Ok(seq));
        if points_here {
            ids.remove(&id_key).map_err(backend("removing an id"))?;
            removed += 1;
        }
        log.remove(&key).map_err(backend("removing a log entry"))?;
        removed += 1;
    }
    let last_outbox_id = counter(META_LAST_OUTBOX_ID)?;
    for item in outbox.iter() {
        let (key, _) = item.map_err(backend("reading the outbox"))?;
        let (_, id) = codec::outbox_key_parts(&key).map_err(|d| bad("outbox", &key, d))?;
        if id > last_outbox_id {
            outbox
                .remove(&key)
                .map_err(backend("removing an outbox entry"))?;
            removed += 1;
        }
    }
    Ok(removed)
}
