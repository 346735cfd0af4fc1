//! The commit log ahead of sled: what makes a `commit` durable with one `fdatasync`.
//!
//! Why it exists: making a commit durable through sled meant a sled flush (which writes far
//! more than the commit: ~37 KB per event in the open-loop benchmark) and then an fsync of its
//! file, for every group of a few events. Here every `commit` also appends its writes as one
//! record to a segment file, and `Store::sync_commits` fdatasyncs that file: a few KB per group,
//! in a file whose length never changes while it is written, so the sync has no metadata to
//! record. A commit's record is appended first; then sled receives its writes (readers see
//! them) and makes them durable on its own schedule (`Store::sync`, every 10 s); segments
//! whose records sled has made durable are kept as spares for reuse then (see `segment`).
//!
//! # Recovery
//! sled comes back after a crash with a prefix of its writes. Each commit writes its number
//! (`commit_no` in meta) as its last write, so the records numbered after the one sled came
//! back with are exactly the commits it lost or has only part of; `Store::open` applies them
//! again, in order, before anyone reads the store (see `recover`). Records must be
//! consecutive: one missing between what sled has and what the log holds is a lost
//! acknowledged commit, reported as corruption. The log ends at the first record that is
//! absent, torn or out of sequence: such a record was never synced, so never acknowledged.
//!
//! # Layout
//! - `record`: a commit's record and its encoding.
//! - `segment`: the files records are appended to, made ahead of time and reused.
//!
//! # On disk
//! `wal/<segment number, 20 digits>.wal`, each made full size (from a spare, or `SEGMENT_BYTES`
//! of zeros), synced with its directory entry on a background thread before it is needed, so
//! an append never allocates. Segment header: `OMNIWAL2`, then the segment number (u64, big
//! endian). Then records: payload length (u32), CRC-32 of segment number, commit number and
//! payload (u32), commit number (u64), payload; a zero length or a CRC that does not match
//! ends the segment. Payload: the number of writes (u32), then per write its tree (u8), key
//! length (u32), key, value length (u32), value.

mod record;
mod segment;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::StoreError;
use super::durable::sync_dir;
pub(super) use record::{Record, WalTree, Writes};
use record::{encode_record, record_len};
use segment::{Fill, MAX_SPARES, Segment, prepare_segment, remove_quietly, retire_segment};

const DIR_NAME: &str = "wal";

/// The log's state; one lock, held while a commit is made so records go in commit order.
pub(super) struct Appender {
    dir: PathBuf,
    current: Segment,
    /// Full segments sled has not covered yet, oldest first.
    full: Vec<Segment>,
    /// The next segment, being created on a background thread (or ready).
    next: Option<std::thread::JoinHandle<Result<Segment, StoreError>>>,
    /// Retired segments' files, kept to be made into the next segments.
    spares: Vec<PathBuf>,
    /// A failed append: the commits from then on are not in the log, and until a sled sync
    /// covers them only that sync can make them durable.
    broken: Option<String>,
    /// Fails the next append as a full disk would (tests).
    #[cfg(test)]
    pub(super) fail_next: bool,
}

/// The write-ahead log of commits.
pub(super) struct Wal {
    appender: Mutex<Appender>,
}

/// What `Wal::sync` could make durable.
pub(super) enum Synced {
    /// Every commit appended so far.
    All,
    /// Not all: an append failed (the reason); a sled sync must cover the commits.
    Incomplete(String),
}

pub(super) fn io_err(dir: &Path, action: String) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: dir.to_path_buf(),
        action,
        source,
    }
}

impl Wal {
    /// Opens the log in `store_dir`: hands every record after `durable_commit` (the last
    /// commit sled has) to `replay`, in order, then starts a fresh segment. Called before
    /// the store is used; `replay` must make what it applies durable before returning.
    pub(super) fn open(
        store_dir: &Path,
        durable_commit: u64,
        replay: impl FnOnce(&[Record]) -> Result<(), StoreError>,
    ) -> Result<Wal, StoreError> {
        let dir = store_dir.join(DIR_NAME);
        let mut lost: Vec<Record> = Vec::new();
        'segments: for (_, _, records) in segment::read_dir(&dir)?.segments {
            for record in records {
                // Segments sled already covers may be left in any order by a crash while
                // they were retired; only the commits after sled's must follow each other.
                if lost.is_empty() && record.commit_no <= durable_commit {
                    continue;
                }
                if lost
                    .last()
                    .is_some_and(|l| l.commit_no + 1 != record.commit_no)
                {
                    break 'segments;
                }
                lost.push(record);
            }
        }
        if let Some(first) = lost.first().map(|r| r.commit_no)
            && first != durable_commit + 1
        {
            return Err(StoreError::Corrupt {
                path: store_dir.to_path_buf(),
                detail: format!(
                    "the store has commits up to {durable_commit} and the write-ahead log in \
                     {} starts at commit {first}: the commits between were acknowledged and \
                     are gone",
                    dir.display()
                ),
            });
        }
        if !lost.is_empty() {
            tracing::info!(
                commits = lost.len(),
                from = durable_commit + 1,
                "Applying commits from the write-ahead log that the store lost in a crash."
            );
        }
        replay(&lost)?;
        Self::start_fresh(store_dir)
    }

    /// Retires every segment (sled covers them all now) and starts a new one after the
    /// highest number seen.
    fn start_fresh(store_dir: &Path) -> Result<Wal, StoreError> {
        let dir = store_dir.join(DIR_NAME);
        std::fs::create_dir_all(&dir).map_err(io_err(
            &dir,
            "creating the write-ahead log directory".to_owned(),
        ))?;
        let listing = segment::read_dir(&dir)?;
        let number = listing.next_number();
        let mut spares: Vec<PathBuf> = listing.spares.into_iter().map(|(_, path)| path).collect();
        for (old, path, _) in &listing.segments {
            spares.extend(retire_segment(&dir, *old, path, spares.len() < MAX_SPARES));
        }
        for extra in spares.split_off(spares.len().min(MAX_SPARES)) {
            remove_quietly(&extra);
        }
        sync_dir(&dir)?;
        let current = prepare_segment(&dir, number, 0, spares.pop(), Fill::AtOnce)?;
        Ok(Wal {
            appender: Mutex::new(Appender {
                dir,
                current,
                full: Vec::new(),
                next: None,
                spares,
                broken: None,
                #[cfg(test)]
                fail_next: false,
            }),
        })
    }

    /// Locks the log for a commit: the record must be appended in the order commits are made.
    pub(super) fn lock(&self) -> MutexGuard<'_, Appender> {
        self.appender.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// fdatasyncs every segment with records appended since the last sync. A sync running
    /// at the same time is not relied on: each call syncs what it found unsynced itself.
    pub(super) fn sync(&self) -> Result<Synced, StoreError> {
        let (dir, todo) = {
            let appender = self.lock();
            if let Some(reason) = &appender.broken {
                return Ok(Synced::Incomplete(reason.clone()));
            }
            let todo: Vec<(u64, u64, Arc<File>, PathBuf)> = appender
                .full
                .iter()
                .chain(std::iter::once(&appender.current))
                .filter(|s| s.synced < s.used)
                .map(|s| (s.number, s.used, Arc::clone(&s.file), s.path.clone()))
                .collect();
            (appender.dir.clone(), todo)
        };
        for (number, used, file, path) in todo {
            if let Err(e) = file.sync_data() {
                // The records may not be on disk: only a sled sync can cover them now.
                self.lock().broken = Some(format!("fdatasync of {}: {e}", path.display()));
                return Err(io_err(&dir, format!("fdatasync of {}", path.display()))(e));
            }
            let mut appender = self.lock();
            let appender = &mut *appender;
            if let Some(segment) = appender
                .full
                .iter_mut()
                .chain(std::iter::once(&mut appender.current))
                .find(|s| s.number == number)
            {
                segment.synced = segment.synced.max(used);
            }
        }
        Ok(Synced::All)
    }

    /// Forgets the segments whose every record sled has made durable (through
    /// `durable_commit`), keeping their files as spares (up to `MAX_SPARES`; others are
    /// deleted).
    pub(super) fn retire_through(&self, durable_commit: u64) {
        let (dir, retired, room) = {
            let mut appender = self.lock();
            let (retired, kept): (Vec<Segment>, _) = std::mem::take(&mut appender.full)
                .into_iter()
                .partition(|s| s.last_commit <= durable_commit);
            appender.full = kept;
            let room = MAX_SPARES.saturating_sub(appender.spares.len());
            (appender.dir.clone(), retired, room)
        };
        let spares: Vec<PathBuf> = retired
            .iter()
            .enumerate()
            .filter_map(|(i, s)| retire_segment(&dir, s.number, &s.path, i < room))
            .collect();
        self.lock().spares.extend(spares);
    }

    /// Whether an append failed since the log was last restarted.
    pub(super) fn is_broken(&self) -> bool {
        self.lock().broken.is_some()
    }
}

impl Appender {
    /// Appends a commit's record (not yet durable: see [`Wal::sync`]). After a failure
    /// nothing more is appended until [`Appender::restart`].
    pub(super) fn append(&mut self, commit_no: u64, writes: &Writes) {
        if self.broken.is_some() {
            return;
        }
        if let Err(e) = self.try_append(commit_no, writes) {
            tracing::error!(error = %e, commit_no, "Appending to the write-ahead log failed; commits are made durable by full store syncs until it is restarted.");
            self.broken = Some(e.to_string());
        }
    }

    fn try_append(&mut self, commit_no: u64, writes: &Writes) -> Result<(), StoreError> {
        #[cfg(test)]
        if std::mem::take(&mut self.fail_next) {
            return Err(io_err(&self.dir, "writing (injected)".to_owned())(
                std::io::Error::from(std::io::ErrorKind::StorageFull),
            ));
        }
        let len = record_len(writes);
        if self.current.used + len > self.current.capacity {
            self.rotate(len)?;
        }
        let record = encode_record(self.current.checksum(), commit_no, writes);
        let segment = &mut self.current;
        segment
            .file
            .write_all_at(&record, segment.used)
            .map_err(io_err(
                &self.dir,
                format!("writing to {}", segment.path.display()),
            ))?;
        segment.used += len;
        segment.last_commit = commit_no;
        // Half full: have the next segment made in the background by the time it is needed.
        if self.next.is_none() && segment.used > segment.capacity / 2 {
            let (dir, number, spare) = (self.dir.clone(), segment.number + 1, self.spares.pop());
            self.next = Some(std::thread::spawn(move || {
                prepare_segment(&dir, number, 0, spare, Fill::Paced)
            }));
        }
        Ok(())
    }

    /// Moves on to the next segment, big enough for a record of `needed` bytes.
    fn rotate(&mut self, needed: u64) -> Result<(), StoreError> {
        let number = self.current.number + 1;
        let prepared = match self.next.take() {
            Some(task) => task.join().unwrap_or_else(|_| {
                Err(StoreError::Backend {
                    path: self.dir.clone(),
                    action: "creating a write-ahead log segment".to_owned(),
                    detail: "the thread creating it panicked".to_owned(),
                })
            }),
            None => prepare_segment(&self.dir, number, needed, self.spares.pop(), Fill::AtOnce),
        };
        let next = match prepared {
            Ok(segment) if segment.capacity - segment.used >= needed => segment,
            Ok(small) => {
                remove_quietly(&small.path);
                prepare_segment(&self.dir, number, needed, None, Fill::AtOnce)?
            }
            Err(e) => return Err(e),
        };
        let full = std::mem::replace(&mut self.current, next);
        self.full.push(full);
        Ok(())
    }

    /// Starts the log again after a failed append, once a sled sync covered every commit
    /// through `durable_commit` (the caller holds this lock across that sync, so no commit
    /// came after it).
    pub(super) fn restart(&mut self) -> Result<(), StoreError> {
        let number = self.current.number + 1;
        if let Some(task) = self.next.take()
            && let Ok(Ok(segment)) = task.join()
        {
            remove_quietly(&segment.path);
        }
        let old: Vec<Segment> = std::mem::take(&mut self.full);
        let current = prepare_segment(&self.dir, number, 0, self.spares.pop(), Fill::AtOnce)?;
        let previous = std::mem::replace(&mut self.current, current);
        for segment in old.into_iter().chain(std::iter::once(previous)) {
            remove_quietly(&segment.path);
        }
        self.broken = None;
        tracing::info!(segment = number, "The write-ahead log restarted.");
        Ok(())
    }
}
