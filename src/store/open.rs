//! Opening a store: create it if new, otherwise check it before anyone reads it.
//!
//! The rule is that a damaged store is reported, never silently reset. sled 0.34 does not
//! help: on a damaged `db` file it neither fails nor panics, it keeps the valid prefix of its
//! log (nothing, for garbage or an emptied file) and rewrites the rest. So the checks here are
//! ours: the marker file (see `durable`) against what sled came back with, the format version
//! in meta, the log's last seq against meta's last logged seq, and the checkpoint seq against
//! the log's end. sled has already rewritten the file by the time we refuse; the error says
//! so, for whoever restores the backup.

use std::io::ErrorKind;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use super::applier::{self, Applier};
use super::durable::{self, Durability, MARKER_NAME, Marker};
use super::wal::Wal;
use super::{
    META_CHECKPOINT_SEQ, META_COMMIT_NO, META_FORMAT, META_LAST_SEQ, Store, StoreError, codec,
    error, recover,
};

/// What to tell an operator after sled reopened a damaged file.
const REWRITTEN: &str = "sled has rewritten the damaged part of the db file on open; \
                         restore the store from a backup or move it away to start empty";

pub(super) fn open(dir: &Path) -> Result<Store, StoreError> {
    prepare_dir(dir)?;
    let marker = durable::read_marker(dir)?;
    let db_len = std::fs::metadata(dir.join("db")).map_or(0, |m| m.len());
    if let Some(marker) = marker {
        check_before_sled(dir, marker, db_len)?;
    }
    let db = open_sled(dir)?;
    let tree = |name: &str| {
        db.open_tree(name).map_err(|e| StoreError::Backend {
            path: dir.to_path_buf(),
            action: format!("opening tree {name}"),
            detail: e.to_string(),
        })
    };
    let (log, ids, states) = (tree("log")?, tree("ids")?, tree("states")?);
    let (published, outbox, meta) = (tree("published")?, tree("outbox")?, tree("meta")?);
    let (dead, channels) = (tree("dead")?, tree("channels")?);
    let opened = Opened {
        dir,
        db: &db,
        log: &log,
        meta: &meta,
        data: [&log, &ids, &states, &published, &outbox, &dead, &channels],
        db_len,
    };
    opened.check_format(marker)?;
    opened.check_durable(marker)?;
    let durability = Arc::new(Durability::open(dir, marker)?);
    let durable_commit = opened.meta_seq(META_COMMIT_NO, "commit number")?;
    let wal = Wal::open(dir, durable_commit, |records| {
        if recover::recover(dir, records, [&log, &ids, &meta, &outbox, &published])? {
            db.flush().map_err(|e| opened.backend(e))?;
            durability.sync_files()?;
        }
        Ok(())
    })?;
    opened.check_log()?;
    let applier = Applier::start(
        [
            log.clone(),
            ids.clone(),
            meta.clone(),
            outbox.clone(),
            published.clone(),
        ],
        opened.meta_seq(META_COMMIT_NO, "commit number")?,
        applier::MAX_QUEUED,
    )
    .map_err(|source| StoreError::Io {
        path: dir.to_path_buf(),
        action: "starting the thread that writes commits into sled".to_owned(),
        source,
    })?;
    Ok(Store {
        path: dir.to_path_buf(),
        db,
        log,
        ids,
        states,
        published,
        outbox,
        dead,
        channels,
        meta,
        durability,
        wal: Arc::new(wal),
        applier,
    })
}

/// Creates `dir` if missing; refuses a path that is not a readable directory.
fn prepare_dir(dir: &Path) -> Result<(), StoreError> {
    let io = |action: &str| {
        let action = action.to_owned();
        move |source| StoreError::Io {
            path: dir.to_path_buf(),
            action,
            source,
        }
    };
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io("creating the store directory"))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                durable::sync_dir(parent)?;
            }
        }
        Err(e) => return Err(io("reading the store directory's metadata")(e)),
        Ok(meta) if !meta.is_dir() => {
            return Err(StoreError::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        Ok(_) => {}
    }
    std::fs::read_dir(dir).map_err(io("listing the store directory"))?;
    Ok(())
}

/// Checks that need no sled, done first so that sled never touches a store we must refuse.
fn check_before_sled(dir: &Path, marker: Marker, db_len: u64) -> Result<(), StoreError> {
    if !(codec::OLDEST_FORMAT_VERSION..=codec::FORMAT_VERSION).contains(&marker.format) {
        return Err(StoreError::UnsupportedVersion {
            path: dir.to_path_buf(),
            found: marker.format,
            supported: codec::FORMAT_VERSION,
        });
    }
    if db_len == 0 {
        return Err(StoreError::Corrupt {
            path: dir.to_path_buf(),
            detail: format!(
                "{MARKER_NAME} says a store was created here, but its db file is missing or empty"
            ),
        });
    }
    Ok(())
}

/// How long a lock conflict is retried before it is reported: sled's background threads
/// release the file lock a moment after the previous holder (a restart in the same process,
/// or a process that is just exiting) let go of it.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens sled, waiting briefly for a lock a previous holder is releasing.
fn open_sled(dir: &Path) -> Result<sled::Db, StoreError> {
    let started = std::time::Instant::now();
    loop {
        match open_sled_once(dir) {
            Err(StoreError::InUse { .. }) if started.elapsed() < LOCK_PATIENCE => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            result => return result,
        }
    }
}

/// How often sled's own thread writes what it buffered (its default is 500 ms). Commits are
/// durable through the write-ahead log, so this is not about durability but about the
/// disk's queue: at 5,000 events/s sled writes ~20 MB/s, and in 500 ms bursts of ~10 MB
/// the log's fdatasyncs (which acknowledgements wait for) queued behind them. In 20 ms
/// steps the acknowledgements' p99 fell from 14–31 ms to 5–6 ms (BENCHMARKS.md, round 5).
const SLED_FLUSH_EVERY_MS: u64 = 20;

/// Opens sled, turning a lock conflict into `InUse` and a panic into `Corrupt`.
fn open_sled_once(dir: &Path) -> Result<sled::Db, StoreError> {
    // Default mode (LowSpace) over HighThroughput: our write rate is modest, and disk
    // bloat is sled's known weakness.
    let config = sled::Config::new()
        .path(dir)
        .flush_every_ms(Some(SLED_FLUSH_EVERY_MS));
    match catch_unwind(AssertUnwindSafe(|| config.open())) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(classify_open_error(dir, e)),
        Err(panic) => Err(StoreError::Corrupt {
            path: dir.to_path_buf(),
            detail: format!(
                "sled panicked while opening it: {}",
                error::panic_message(&*panic)
            ),
        }),
    }
}

fn classify_open_error(dir: &Path, e: sled::Error) -> StoreError {
    let path = dir.to_path_buf();
    match e {
        // sled words a failed flock this way and gives no other sign of it.
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            StoreError::InUse {
                path,
                detail: io.to_string(),
            }
        }
        sled::Error::Io(source) => StoreError::Io {
            path,
            action: "opening the sled database".to_owned(),
            source,
        },
        sled::Error::Corruption { at, .. } => StoreError::Corrupt {
            path,
            detail: format!("sled found corruption at {at:?}"),
        },
        other => StoreError::Backend {
            path,
            action: "opening the sled database".to_owned(),
            detail: other.to_string(),
        },
    }
}

/// What sled came back with, to check before a `Store` is made of it.
struct Opened<'a> {
    dir: &'a Path,
    db: &'a sled::Db,
    log: &'a sled::Tree,
    meta: &'a sled::Tree,
    data: [&'a sled::Tree; 7],
    /// The db file's length before sled opened it.
    db_len: u64,
}

impl Opened<'_> {
    fn corrupt(&self, detail: String) -> StoreError {
        StoreError::Corrupt {
            path: self.dir.to_path_buf(),
            detail,
        }
    }

    fn backend(&self, e: sled::Error) -> StoreError {
        StoreError::Backend {
            path: self.dir.to_path_buf(),
            action: "checking the store".to_owned(),
            detail: e.to_string(),
        }
    }

    /// Whether the store holds nothing but, at most, meta's format record.
    fn is_empty(&self) -> bool {
        self.data.iter().all(|t| t.is_empty()) && self.meta.len() <= 1
    }

    /// Checks the format version and the marker; initializes a new store. The log is
    /// checked after the write-ahead log's recovery (`check_log`).
    fn check_format(&self, marker: Option<Marker>) -> Result<(), StoreError> {
        let format = self.meta.get(META_FORMAT).map_err(|e| self.backend(e))?;
        match (format.as_deref(), marker) {
            (Some([version]), _) if *version == codec::FORMAT_VERSION => {}
            (Some([1]), _) => self.upgrade_from_1()?,
            (Some([2]), _) => self.upgrade_from_2()?,
            (Some([version]), _) => {
                return Err(StoreError::UnsupportedVersion {
                    path: self.dir.to_path_buf(),
                    found: *version,
                    supported: codec::FORMAT_VERSION,
                });
            }
            (Some(other), _) => {
                return Err(self.corrupt(format!("meta's format record is {other:?}")));
            }
            (None, Some(_)) => {
                return Err(self.corrupt(format!(
                    "{MARKER_NAME} is there but sled came back without the store's meta: \
                     {REWRITTEN}"
                )));
            }
            (None, None) => self.initialize()?,
        }
        if marker.is_none() && !self.is_empty() {
            // This code writes the marker right after the format: someone removed it.
            return Err(self.corrupt(format!("it has data but {MARKER_NAME} is missing")));
        }
        Ok(())
    }

    /// Format 1 wrote the states with every commit: they include the whole log. Checked
    /// first, then recorded as a checkpoint at the log's end, with format 2, in one write.
    fn upgrade_from_1(&self) -> Result<(), StoreError> {
        let last = self.last_in_log()?;
        self.check_last_logged(last)?;
        let mut batch = sled::Batch::default();
        batch.insert(META_CHECKPOINT_SEQ, &codec::encode_u64(last));
        batch.insert(META_FORMAT, &[codec::FORMAT_VERSION]);
        self.meta.apply_batch(batch).map_err(|e| self.backend(e))?;
        self.db.flush().map_err(|e| self.backend(e))?;
        tracing::info!(path = %self.dir.display(), checkpoint_seq = last, "Store upgraded from format 1 to 3.");
        Ok(())
    }

    /// Format 2 had no write-ahead log and no commit numbers: it only needs its new version,
    /// so that a build without the log refuses it from now on.
    fn upgrade_from_2(&self) -> Result<(), StoreError> {
        self.meta
            .insert(META_FORMAT, &[codec::FORMAT_VERSION])
            .map_err(|e| self.backend(e))?;
        self.db.flush().map_err(|e| self.backend(e))?;
        tracing::info!(path = %self.dir.display(), "Store upgraded from format 2 to 3.");
        Ok(())
    }

    /// Writes the format version into a store that has none, if it is truly new.
    fn initialize(&self) -> Result<(), StoreError> {
        if !self.is_empty() {
            return Err(self.corrupt(format!(
                "it has data but neither a format version nor {MARKER_NAME}"
            )));
        }
        if self.db_len > 0 {
            return Err(self.corrupt(format!(
                "its db file had {} bytes but sled found no store in it (sled rewrites a \
                 damaged file on open); if a first start was interrupted while creating it, \
                 remove the directory",
                self.db_len
            )));
        }
        self.meta
            .insert(META_FORMAT, &[codec::FORMAT_VERSION])
            .map_err(|e| self.backend(e))?;
        self.db.flush().map_err(|e| self.backend(e))?;
        Ok(())
    }

    fn last_in_log(&self) -> Result<u64, StoreError> {
        match self.log.last().map_err(|e| self.backend(e))? {
            None => Ok(0),
            Some((key, _)) => codec::seq_from_key(&key).map_err(|d| {
                self.corrupt(format!("log key {}: {d}", codec::describe_key("log", &key)))
            }),
        }
    }

    fn meta_seq(&self, key: &'static [u8], name: &str) -> Result<u64, StoreError> {
        match self.meta.get(key).map_err(|e| self.backend(e))? {
            None => Ok(0),
            Some(bytes) => {
                codec::decode_u64(&bytes).map_err(|d| self.corrupt(format!("meta's {name}: {d}")))
            }
        }
    }

    /// The log's last seq must equal meta's last logged seq (both written by each commit).
    fn check_last_logged(&self, last_in_log: u64) -> Result<(), StoreError> {
        let last_logged = self.meta_seq(META_LAST_SEQ, "last logged seq")?;
        if last_in_log != last_logged {
            return Err(self.corrupt(format!(
                "the log ends at seq {last_in_log} but meta says seq {last_logged} was logged"
            )));
        }
        Ok(())
    }

    /// sled must have come back with everything the last full sync made durable (the
    /// marker's seq). Checked before the write-ahead log is replayed: the log holds the
    /// commits since then, not the other trees (attempts, confirmations, dead letters), so a
    /// log it completes would hide that sled lost those.
    fn check_durable(&self, marker: Option<Marker>) -> Result<(), StoreError> {
        let last_logged = self.meta_seq(META_LAST_SEQ, "last logged seq")?;
        if let Some(marker) = marker.filter(|m| last_logged < m.durable_seq) {
            return Err(self.corrupt(format!(
                "seq {} was made durable but the log ends at seq {last_logged}: {REWRITTEN}",
                marker.durable_seq
            )));
        }
        Ok(())
    }

    /// After recovery: the log must end where meta says and include the checkpoint.
    fn check_log(&self) -> Result<(), StoreError> {
        let last_in_log = self.last_in_log()?;
        self.check_last_logged(last_in_log)?;
        let checkpoint = self.meta_seq(META_CHECKPOINT_SEQ, "checkpoint seq")?;
        if checkpoint > last_in_log {
            return Err(self.corrupt(format!(
                "the states are checkpointed through seq {checkpoint} but the log ends at seq \
                 {last_in_log}: {REWRITTEN}"
            )));
        }
        Ok(())
    }
}
