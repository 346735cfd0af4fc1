//! The commit log ahead of sled: what makes a `commit` durable with one `fdatasync`.
//!
//! Why it exists: making a commit durable through sled meant a sled flush (which writes far
//! more than the commit: ~37 KB per event in the open-loop benchmark) and then an fsync of its
//! file, for every group of a few events. Here every `commit` also appends its writes as one
//! record to a segment file, and `Store::sync_commits` fdatasyncs that file: a few KB per group,
//! in a file whose length never changes while it is written, so the sync has no metadata to
//! record. A commit's record is appended first; then sled receives its writes (readers see
//! them) and makes them durable on its own schedule (`Store::sync`, every 10 s); segments
//! whose records sled has made durable are deleted then.
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
//! # On disk
//! `wal/<segment number, 20 digits>.wal`, each created full size (`SEGMENT_BYTES` of zeros,
//! fsynced, its directory entry fsynced) on a background thread before it is needed, so an
//! append never allocates. Segment header: `OMNIWAL1`, then the segment number (u64, big
//! endian). Then records: payload length (u32), CRC-32 of commit number and payload (u32),
//! commit number (u64), payload; a zero length ends the segment. Payload: the number of writes
//! (u32), then per write its tree (u8), key length (u32), key, value length (u32), value.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::StoreError;
use super::durable::sync_dir;

const MAGIC: &[u8; 8] = b"OMNIWAL1";
const HEADER_BYTES: u64 = 16;
const RECORD_HEADER_BYTES: usize = 16;
/// 16 MiB: about ten seconds of writes at 5,000 events/s, and a few milliseconds of
/// background work to create.
const SEGMENT_BYTES: u64 = 16 << 20;
const DIR_NAME: &str = "wal";

/// The sled trees a commit writes to, as recorded in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WalTree {
    Log = 0,
    Ids = 1,
    Meta = 2,
    Outbox = 3,
    Published = 4,
}

impl WalTree {
    fn from_byte(byte: u8) -> Option<WalTree> {
        [
            Self::Log,
            Self::Ids,
            Self::Meta,
            Self::Outbox,
            Self::Published,
        ]
        .into_iter()
        .find(|t| *t as u8 == byte)
    }
}

/// One commit's writes, encoded as a record's payload while the commit is made.
#[derive(Default)]
pub(super) struct Writes {
    count: u32,
    payload: Vec<u8>,
}

impl Writes {
    /// The writes in the order they were put, as (tree, key, value).
    pub(super) fn iter(&self) -> impl Iterator<Item = (WalTree, &[u8], &[u8])> {
        let mut at = 0;
        std::iter::from_fn(move || {
            let tree = WalTree::from_byte(*take(&self.payload, &mut at, 1)?.first()?)?;
            let key_len = take_u32(&self.payload, &mut at)? as usize;
            let key = take(&self.payload, &mut at, key_len)?;
            let value_len = take_u32(&self.payload, &mut at)? as usize;
            let value = take(&self.payload, &mut at, value_len)?;
            Some((tree, key, value))
        })
    }

    pub(super) fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub(super) fn put(&mut self, tree: WalTree, key: &[u8], value: &[u8]) {
        self.count += 1;
        self.payload.push(tree as u8);
        for part in [key, value] {
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            self.payload.extend_from_slice(&len.to_be_bytes());
            self.payload.extend_from_slice(part);
        }
    }
}

/// A commit read back from the log.
pub(super) struct Record {
    pub commit_no: u64,
    pub writes: Writes,
}

fn encode_record(commit_no: u64, writes: &Writes) -> Vec<u8> {
    let mut body = Vec::with_capacity(12 + writes.payload.len());
    body.extend_from_slice(&commit_no.to_be_bytes());
    body.extend_from_slice(&writes.count.to_be_bytes());
    body.extend_from_slice(&writes.payload);
    let payload_len = u32::try_from(body.len() - 8).unwrap_or(u32::MAX);
    let mut record = Vec::with_capacity(8 + body.len());
    record.extend_from_slice(&payload_len.to_be_bytes());
    record.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    record.extend_from_slice(&body);
    record
}

/// Reads `len` bytes at `*at`, moving `at` past them.
fn take<'a>(bytes: &'a [u8], at: &mut usize, len: usize) -> Option<&'a [u8]> {
    let part = bytes.get(*at..at.checked_add(len)?)?;
    *at += len;
    Some(part)
}

fn take_u32(bytes: &[u8], at: &mut usize) -> Option<u32> {
    take(bytes, at, 4).and_then(|b| b.try_into().ok().map(u32::from_be_bytes))
}

fn decode_payload(commit_no: u64, payload: &[u8]) -> Option<Record> {
    let mut at = 0;
    let count = take_u32(payload, &mut at)?;
    let writes = Writes {
        count,
        payload: payload.get(at..)?.to_vec(),
    };
    // Whole: exactly `count` writes that use every byte.
    let (mut read, mut bytes) = (0, 0);
    for (_, key, value) in writes.iter() {
        read += 1;
        bytes += 9 + key.len() + value.len();
    }
    (read == count && bytes == writes.payload.len()).then_some(Record { commit_no, writes })
}

/// The records of one segment's bytes, up to the first that is absent or torn.
fn decode_segment(bytes: &[u8]) -> Vec<Record> {
    let mut records = Vec::new();
    let mut at = HEADER_BYTES as usize;
    while let Some(header) = bytes.get(at..at + RECORD_HEADER_BYTES) {
        let (len, rest) = header.split_at(4);
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let crc = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let Some(body) = bytes.get(at + 8..at + RECORD_HEADER_BYTES + len) else {
            break;
        };
        if len == 0 || crc32fast::hash(body) != crc {
            break;
        }
        let (commit_no, payload) = body.split_at(8);
        let commit_no = u64::from_be_bytes(commit_no.try_into().unwrap_or([0; 8]));
        let Some(record) = decode_payload(commit_no, payload) else {
            break;
        };
        records.push(record);
        at += RECORD_HEADER_BYTES + len;
    }
    records
}

/// A segment file being written or waiting for sled to cover it.
struct Segment {
    number: u64,
    file: Arc<File>,
    path: PathBuf,
    /// Bytes used: the header and the records appended.
    used: u64,
    capacity: u64,
    /// The last commit appended (0: none yet).
    last_commit: u64,
    /// Bytes an fdatasync has covered: records beyond it are not durable yet.
    synced: u64,
}

/// The log's state; one lock, held while a commit is made so records go in commit order.
pub(super) struct Appender {
    dir: PathBuf,
    current: Segment,
    /// Full segments sled has not covered yet, oldest first.
    full: Vec<Segment>,
    /// The next segment, being created on a background thread (or ready).
    next: Option<std::thread::JoinHandle<Result<Segment, StoreError>>>,
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

fn io_err(dir: &Path, action: String) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: dir.to_path_buf(),
        action,
        source,
    }
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}.wal"))
}

/// How a segment is zero-filled: at once (at open, or when the log needs it now), or paced
/// (ahead of time, on a background thread).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fill {
    AtOnce,
    /// 1 MiB at a time, each written back with an fdatasync and followed by a pause: written
    /// back in one go, the 16 MiB kept the disk busy long enough to delay the log's own
    /// fdatasyncs, which acknowledgements wait for, by tens of milliseconds.
    Paced,
}

const PACED_STEP: u64 = 1 << 20;
const PACED_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

/// Creates segment `number` full size and durably, for `needed` bytes of records at least.
fn create_segment(dir: &Path, number: u64, needed: u64, fill: Fill) -> Result<Segment, StoreError> {
    let path = segment_path(dir, number);
    let capacity = SEGMENT_BYTES.max(HEADER_BYTES + needed);
    let action = |what: &str| format!("{what} {}", path.display());
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io_err(dir, action("creating")))?;
    // In page-sized writes: the page cache then holds the file in 4 KiB folios, so a record
    // dirties (and an fdatasync writes back) its own pages only. Written in 1 MiB pieces, the
    // kernel may keep it in large folios, and every small record made a whole one dirty:
    // ~1 MB written per fdatasync, measured.
    let zeros = [0u8; 4096];
    let mut at = 0;
    while at < capacity {
        let len = (capacity - at).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..len], at)
            .map_err(io_err(dir, action("filling")))?;
        at += len as u64;
        if fill == Fill::Paced && at % PACED_STEP == 0 {
            file.sync_data()
                .map_err(io_err(dir, action("fdatasync of")))?;
            std::thread::sleep(PACED_PAUSE);
        }
    }
    let mut header = [0u8; HEADER_BYTES as usize];
    header[..8].copy_from_slice(MAGIC);
    header[8..].copy_from_slice(&number.to_be_bytes());
    file.write_all_at(&header, 0)
        .map_err(io_err(dir, action("writing the header of")))?;
    file.sync_all().map_err(io_err(dir, action("fsync of")))?;
    sync_dir(dir)?;
    Ok(Segment {
        number,
        file: Arc::new(file),
        path,
        used: HEADER_BYTES,
        capacity,
        last_commit: 0,
        synced: HEADER_BYTES,
    })
}

/// The segments in `dir` by number, with their records; files that are not segments are
/// left alone.
fn read_segments(dir: &Path) -> Result<Vec<(u64, PathBuf, Vec<Record>)>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        other => other.map_err(io_err(dir, "listing the write-ahead log".to_owned()))?,
    };
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(dir, "listing the write-ahead log".to_owned()))?;
        let path = entry.path();
        let Some(number) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let bytes =
            std::fs::read(&path).map_err(io_err(dir, format!("reading {}", path.display())))?;
        let header_ok = bytes.get(..8) == Some(MAGIC.as_slice())
            && bytes.get(8..16) == Some(number.to_be_bytes().as_slice());
        // A segment whose creation a crash interrupted has no header and was never used.
        let records = if header_ok {
            decode_segment(&bytes)
        } else {
            Vec::new()
        };
        segments.push((number, path, records));
    }
    segments.sort_by_key(|(number, ..)| *number);
    Ok(segments)
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
        let mut expected = None::<u64>;
        let mut lost = Vec::new();
        'segments: for (_, _, records) in read_segments(&dir)? {
            for record in records {
                if expected.is_some_and(|e| e != record.commit_no) {
                    break 'segments;
                }
                expected = Some(record.commit_no + 1);
                if record.commit_no > durable_commit {
                    lost.push(record);
                }
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

    /// Deletes every segment and starts a new one after the highest number seen.
    fn start_fresh(store_dir: &Path) -> Result<Wal, StoreError> {
        let dir = store_dir.join(DIR_NAME);
        std::fs::create_dir_all(&dir).map_err(io_err(
            &dir,
            "creating the write-ahead log directory".to_owned(),
        ))?;
        let segments = read_segments(&dir)?;
        let number = segments.last().map_or(1, |(n, ..)| n + 1);
        for (_, path, _) in &segments {
            std::fs::remove_file(path)
                .map_err(io_err(&dir, format!("removing {}", path.display())))?;
        }
        sync_dir(store_dir)?;
        let current = create_segment(&dir, number, 0, Fill::AtOnce)?;
        Ok(Wal {
            appender: Mutex::new(Appender {
                dir,
                current,
                full: Vec::new(),
                next: None,
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
    /// `durable_commit`), deleting their files.
    pub(super) fn retire_through(&self, durable_commit: u64) {
        let retired: Vec<Segment> = {
            let mut appender = self.lock();
            let (retired, kept) = std::mem::take(&mut appender.full)
                .into_iter()
                .partition(|s| s.last_commit <= durable_commit);
            appender.full = kept;
            retired
        };
        for segment in retired {
            if let Err(e) = std::fs::remove_file(&segment.path) {
                // Harmless: its records are all durable in sled and are skipped on open.
                tracing::warn!(path = %segment.path.display(), error = %e, "Could not remove a write-ahead log segment.");
            }
        }
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
                std::io::Error::from(ErrorKind::StorageFull),
            ));
        }
        let record = encode_record(commit_no, writes);
        let len = record.len() as u64;
        if self.current.used + len > self.current.capacity {
            self.rotate(len)?;
        }
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
            let (dir, number) = (self.dir.clone(), segment.number + 1);
            self.next = Some(std::thread::spawn(move || {
                create_segment(&dir, number, 0, Fill::Paced)
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
            None => create_segment(&self.dir, number, needed, Fill::AtOnce),
        };
        let next = match prepared {
            Ok(segment) if segment.capacity - segment.used >= needed => segment,
            Ok(small) => {
                let _ = std::fs::remove_file(&small.path);
                create_segment(&self.dir, number, needed, Fill::AtOnce)?
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
            let _ = std::fs::remove_file(&segment.path);
        }
        let old: Vec<Segment> = std::mem::take(&mut self.full);
        let current = create_segment(&self.dir, number, 0, Fill::AtOnce)?;
        let previous = std::mem::replace(&mut self.current, current);
        for segment in old.into_iter().chain(std::iter::once(previous)) {
            let _ = std::fs::remove_file(&segment.path);
        }
        self.broken = None;
        tracing::info!(segment = number, "The write-ahead log restarted.");
        Ok(())
    }
}
