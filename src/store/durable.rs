//! Power-loss durability: fsync of sled's files, and the marker file that lets `open` tell a
//! damaged store from a new one.
//!
//! sled's flush writes its log with `sync_file_range`, which neither flushes the disk's cache
//! nor the file's size, and writes `conf` and blob files without any fsync. So after every
//! flush we fsync the `db` file (a second handle: fsync acts on the file, not the descriptor,
//! and sled's lock is an `flock` on its own descriptor, so closing ours never drops it), fsync
//! blob files sled has written since, and the `blobs` directory when it gained entries.
//!
//! The marker (`OMNISTOCK_STORE`, ours) holds the format version and the highest seq that a
//! `sync` made durable. sled 0.34 does not refuse a damaged `db`: it keeps the valid prefix
//! and rewrites the rest, losing data without an error. The marker is how `open` notices:
//! a marker with a missing or empty `db`, a store whose meta has vanished, or a log that ends
//! before the marker's seq is corrupt. The marker is written after the fsync it records, so
//! it can lag behind the data (a crash between the two) but never run ahead of it.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use super::StoreError;

pub(super) const MARKER_NAME: &str = "OMNISTOCK_STORE";
const MAGIC: &[u8; 8] = b"OMNISTK\0";
const SLOT_LEN: usize = 32;
/// Two slots, each in its own disk sector, written in turn: a torn write spoils only one.
const SLOT_OFFSETS: [u64; 2] = [0, 512];

/// What the marker says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Marker {
    pub format: u8,
    pub durable_seq: u64,
}

fn io_err(path: &Path, action: String) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// FNV-1a: enough to tell a torn or overwritten slot from a written one.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn encode_slot(marker: Marker) -> [u8; SLOT_LEN] {
    let mut slot = [0u8; SLOT_LEN];
    slot[..8].copy_from_slice(MAGIC);
    slot[8] = marker.format;
    slot[16..24].copy_from_slice(&marker.durable_seq.to_be_bytes());
    let sum = checksum(&slot[..24]);
    slot[24..].copy_from_slice(&sum.to_be_bytes());
    slot
}

fn decode_slot(slot: &[u8]) -> Option<Marker> {
    let slot: &[u8; SLOT_LEN] = slot.get(..SLOT_LEN)?.try_into().ok()?;
    let (head, sum) = slot.split_at(24);
    if &head[..8] != MAGIC || sum != checksum(head).to_be_bytes() {
        return None;
    }
    let seq: [u8; 8] = head[16..24].try_into().ok()?;
    Some(Marker {
        format: head[8],
        durable_seq: u64::from_be_bytes(seq),
    })
}

/// The marker in `dir`, `None` if there is none yet.
pub(super) fn read_marker(dir: &Path) -> Result<Option<Marker>, StoreError> {
    let path = dir.join(MARKER_NAME);
    let mut bytes = Vec::new();
    match File::open(&path) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(dir, format!("opening {}", path.display()))(e)),
        Ok(mut file) => file
            .read_to_end(&mut bytes)
            .map_err(io_err(dir, format!("reading {}", path.display())))?,
    };
    let best = SLOT_OFFSETS
        .iter()
        .filter_map(|&at| bytes.get(usize::try_from(at).ok()?..).and_then(decode_slot))
        .max_by_key(|m| m.durable_seq);
    match best {
        Some(marker) => Ok(Some(marker)),
        None => Err(StoreError::Corrupt {
            path: dir.to_path_buf(),
            detail: format!("{} holds no valid record", path.display()),
        }),
    }
}

/// fsyncs a directory, so the entries created in it survive power loss.
pub(super) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir, format!("fsync of directory {}", dir.display())))
}

struct MarkerFile {
    file: File,
    next_slot: usize,
    written: u64,
}

/// The store's handles for making writes durable.
pub(super) struct Durability {
    dir: PathBuf,
    db_file: File,
    marker: Mutex<MarkerFile>,
    synced_blobs: Mutex<HashSet<OsString>>,
}

impl Durability {
    /// Opens the handles; creates the marker (durably, with seq 0) if there is none yet.
    pub(super) fn open(dir: &Path, existing: Option<Marker>) -> Result<Durability, StoreError> {
        let create_marker = existing.is_none();
        let db_path = dir.join("db");
        let db_file =
            File::open(&db_path).map_err(io_err(dir, format!("opening {}", db_path.display())))?;
        let marker_path = dir.join(MARKER_NAME);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create_marker)
            .truncate(false)
            .open(&marker_path)
            .map_err(io_err(dir, format!("opening {}", marker_path.display())))?;
        let durability = Durability {
            dir: dir.to_path_buf(),
            db_file,
            marker: Mutex::new(MarkerFile {
                file,
                next_slot: 0,
                written: existing.map_or(0, |m| m.durable_seq),
            }),
            synced_blobs: Mutex::new(HashSet::new()),
        };
        if create_marker {
            durability.write_marker(0, true)?;
            sync_dir(dir)?;
        }
        // sled wrote `conf` and created its files without fsync; cover them once here.
        durability.sync_files()?;
        let conf = dir.join("conf");
        File::open(&conf)
            .and_then(|f| f.sync_all())
            .map_err(io_err(dir, format!("fsync of {}", conf.display())))?;
        sync_dir(dir)?;
        Ok(durability)
    }

    /// fsyncs the data file and any blob files sled wrote since the last call.
    pub(super) fn sync_files(&self) -> Result<(), StoreError> {
        self.db_file
            .sync_data()
            .map_err(io_err(&self.dir, "fsync of the db file".to_owned()))?;
        self.sync_new_blobs()
    }

    fn sync_new_blobs(&self) -> Result<(), StoreError> {
        let blobs = self.dir.join("blobs");
        let entries = match std::fs::read_dir(&blobs) {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            other => other.map_err(io_err(&self.dir, "listing the blobs directory".to_owned()))?,
        };
        let mut synced = self
            .synced_blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut present = HashSet::new();
        let mut any_new = false;
        for entry in entries {
            let entry =
                entry.map_err(io_err(&self.dir, "listing the blobs directory".to_owned()))?;
            let name = entry.file_name();
            if !synced.contains(&name) {
                let path = entry.path();
                match File::open(&path).and_then(|f| f.sync_all()) {
                    // sled may have collected the blob since we listed it.
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    other => {
                        other.map_err(io_err(&self.dir, format!("fsync of {}", path.display())))?
                    }
                }
                any_new = true;
            }
            present.insert(name);
        }
        *synced = present;
        if any_new {
            sync_dir(&blobs)?;
        }
        Ok(())
    }

    /// Records that everything up to `seq` is durable. Never moves the marker backwards.
    /// Without `fsync` the record may be lost in a crash, which only makes the check weaker.
    pub(super) fn write_marker(&self, seq: u64, fsync: bool) -> Result<(), StoreError> {
        let mut marker = self.marker.lock().unwrap_or_else(PoisonError::into_inner);
        let seq = seq.max(marker.written);
        let slot = encode_slot(Marker {
            format: super::codec::FORMAT_VERSION,
            durable_seq: seq,
        });
        let at = SLOT_OFFSETS[marker.next_slot % SLOT_OFFSETS.len()];
        let action = "writing the marker file".to_owned();
        marker
            .file
            .write_all_at(&slot, at)
            .map_err(io_err(&self.dir, action.clone()))?;
        if fsync {
            marker.file.sync_data().map_err(io_err(&self.dir, action))?;
        }
        marker.next_slot += 1;
        marker.written = seq;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_round_trips_and_a_damaged_one_is_refused() {
        let marker = Marker {
            format: 1,
            durable_seq: 42,
        };
        let mut slot = encode_slot(marker);
        assert_eq!(decode_slot(&slot), Some(marker));
        slot[17] ^= 1;
        assert_eq!(decode_slot(&slot), None);
    }
}
