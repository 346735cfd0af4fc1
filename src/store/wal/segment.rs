//! Segment files: made full size before they are needed, and reused rather than deleted.
//!
//! Why reused: on this project's reference machine (ext4 mounted with `discard`), deleting a
//! 16 MiB segment took 7–16 ms and held up the log's own fdatasyncs, which acknowledgements
//! wait for, by as much: the worst windows of the open-loop benchmark fell exactly on those
//! deletions. A segment whose records sled has made durable is renamed to a spare instead;
//! the next segment is made from a spare by renaming it back under its new number and
//! writing a new header. Its blocks stay allocated, so neither step frees or allocates any.
//! The records of its earlier life stay in it; they do not pass the new segment's checksums
//! (see `record::Checksum`).
//!
//! # On disk
//! `<number, 20 digits>.wal`: header `OMNIWAL2` (or `OMNIWAL1`, read only), then the segment
//! number (u64, big endian), then records (see `record`). `<earlier number, 20 digits>.spare`:
//! a spare, never read.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::io_err;
use super::record::{Checksum, Record, decode_records};
use crate::store::StoreError;
use crate::store::durable::sync_dir;

/// Written by this version: records checksummed with the segment's number.
const MAGIC: &[u8; 8] = b"OMNIWAL2";
/// Written by earlier versions, whose segments were never reused.
const MAGIC_PLAIN: &[u8; 8] = b"OMNIWAL1";
pub(super) const HEADER_BYTES: u64 = 16;
/// 16 MiB: about ten seconds of writes at 5,000 events/s, and a few milliseconds of
/// background work to create.
const SEGMENT_BYTES: u64 = 16 << 20;
/// Spares kept for reuse; more are deleted. Sled's syncs (every 10 s) retire about one
/// segment each at 5,000 events/s.
pub(super) const MAX_SPARES: usize = 2;

/// A segment file being written or waiting for sled to cover it.
pub(super) struct Segment {
    pub number: u64,
    pub file: Arc<File>,
    pub path: PathBuf,
    /// Bytes used: the header and the records appended.
    pub used: u64,
    pub capacity: u64,
    /// The last commit appended (0: none yet).
    pub last_commit: u64,
    /// Bytes an fdatasync has covered: records beyond it are not durable yet.
    pub synced: u64,
}

impl Segment {
    /// A segment whose file holds its header, durably, and no record yet.
    fn empty(number: u64, file: File, path: PathBuf, capacity: u64) -> Segment {
        Segment {
            number,
            file: Arc::new(file),
            path,
            used: HEADER_BYTES,
            capacity,
            last_commit: 0,
            synced: HEADER_BYTES,
        }
    }

    /// How this segment's records are checksummed.
    pub fn checksum(&self) -> Checksum {
        Checksum::Salted(self.number)
    }
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}.wal"))
}

fn spare_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}.spare"))
}

/// The number in a file name `<number>.<extension>`.
fn numbered(path: &Path, extension: &str) -> Option<u64> {
    path.file_name()?
        .to_str()?
        .strip_suffix(extension)?
        .strip_suffix('.')?
        .parse()
        .ok()
}

/// How a new segment is zero-filled: at once (at open, or when the log needs it now), or
/// paced (ahead of time, on a background thread).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Fill {
    AtOnce,
    /// 1 MiB at a time, each written back with an fdatasync and followed by a pause: written
    /// back in one go, the 16 MiB kept the disk busy long enough to delay the log's own
    /// fdatasyncs, which acknowledgements wait for, by tens of milliseconds.
    Paced,
}

const PACED_STEP: u64 = 1 << 20;
const PACED_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

/// Segment `number`, for `needed` bytes of records at least: made from `spare` if it is big
/// enough, else created full size.
pub(super) fn prepare_segment(
    dir: &Path,
    number: u64,
    needed: u64,
    spare: Option<PathBuf>,
    fill: Fill,
) -> Result<Segment, StoreError> {
    if let Some(spare) = spare {
        match reuse_spare(dir, &spare, number, needed) {
            Ok(Some(segment)) => return Ok(segment),
            Ok(None) => remove_quietly(&segment_path(dir, number)),
            Err(e) => {
                // A spare is only an optimisation: a new file does the same job.
                tracing::warn!(error = %e, "Could not reuse a write-ahead log segment; creating a new one.");
                remove_quietly(&spare);
                remove_quietly(&segment_path(dir, number));
            }
        }
    }
    create_segment(dir, number, needed, fill)
}

/// Renames `spare` to segment `number` and gives it its header; `None` if it is too small
/// for `needed` bytes of records (it is then left under the segment's name, headerless).
///
/// A crash between the rename and the header leaves a file whose header names another
/// number: `read_segments` ignores it. Once the header is written, the old records fail the
/// new checksums.
fn reuse_spare(
    dir: &Path,
    spare: &Path,
    number: u64,
    needed: u64,
) -> Result<Option<Segment>, StoreError> {
    let path = segment_path(dir, number);
    let action = |what: &str| format!("{what} {}", path.display());
    std::fs::rename(spare, &path).map_err(io_err(dir, action("renaming a spare to")))?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io_err(dir, action("opening")))?;
    let capacity = file
        .metadata()
        .map_err(io_err(dir, action("reading the size of")))?
        .len();
    if capacity < SEGMENT_BYTES.max(HEADER_BYTES + needed) {
        return Ok(None);
    }
    write_header(&file, number).map_err(io_err(dir, action("writing the header of")))?;
    file.sync_data()
        .map_err(io_err(dir, action("fdatasync of")))?;
    sync_dir(dir)?;
    Ok(Some(Segment::empty(number, file, path, capacity)))
}

fn write_header(file: &File, number: u64) -> std::io::Result<()> {
    let mut header = [0u8; HEADER_BYTES as usize];
    header[..8].copy_from_slice(MAGIC);
    header[8..].copy_from_slice(&number.to_be_bytes());
    file.write_all_at(&header, 0)
}

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
    write_header(&file, number).map_err(io_err(dir, action("writing the header of")))?;
    file.sync_all().map_err(io_err(dir, action("fsync of")))?;
    sync_dir(dir)?;
    Ok(Segment::empty(number, file, path, capacity))
}

/// Makes segment `number`'s file (at `path`) a spare, or deletes it if `keep` is false.
/// Returns the spare's path. Not synced: a crash may bring the segment back under its own
/// name, and its records are then all older than what sled holds, so skipped on open.
pub(super) fn retire_segment(dir: &Path, number: u64, path: &Path, keep: bool) -> Option<PathBuf> {
    let spare = spare_path(dir, number);
    let kept = keep
        && std::fs::rename(path, &spare)
            .inspect_err(|e| {
                tracing::warn!(path = %path.display(), error = %e, "Could not keep a write-ahead log segment for reuse.");
            })
            .is_ok();
    if kept {
        Some(spare)
    } else {
        remove_quietly(path);
        None
    }
}

/// Removes a file the log no longer needs; a failure only leaves it behind.
pub(super) fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != ErrorKind::NotFound
    {
        // Harmless: its records are all durable in sled and are skipped on open.
        tracing::warn!(path = %path.display(), error = %e, "Could not remove a write-ahead log file.");
    }
}

/// What the log's directory holds: segments by number, with their records, and spares.
pub(super) struct Listing {
    pub segments: Vec<(u64, PathBuf, Vec<Record>)>,
    pub spares: Vec<(u64, PathBuf)>,
}

impl Listing {
    /// The number after every segment's and spare's: a new segment's, never one a spare
    /// had (its old records would pass that number's checksums).
    pub fn next_number(&self) -> u64 {
        let segments = self.segments.iter().map(|(n, ..)| *n);
        let spares = self.spares.iter().map(|(n, _)| *n);
        segments.chain(spares).max().map_or(1, |n| n + 1)
    }
}

/// Lists `dir`, reading each segment's records; other files are left alone.
pub(super) fn read_dir(dir: &Path) -> Result<Listing, StoreError> {
    let mut listing = Listing {
        segments: Vec::new(),
        spares: Vec::new(),
    };
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(listing),
        other => other.map_err(io_err(dir, "listing the write-ahead log".to_owned()))?,
    };
    for entry in entries {
        let entry = entry.map_err(io_err(dir, "listing the write-ahead log".to_owned()))?;
        let path = entry.path();
        if let Some(number) = numbered(&path, "spare") {
            listing.spares.push((number, path));
            continue;
        }
        let Some(number) = numbered(&path, "wal") else {
            continue;
        };
        let bytes =
            std::fs::read(&path).map_err(io_err(dir, format!("reading {}", path.display())))?;
        listing
            .segments
            .push((number, path, decode_segment(&bytes, number)));
    }
    listing.segments.sort_by_key(|(number, ..)| *number);
    listing.spares.sort_by_key(|(number, _)| *number);
    Ok(listing)
}

/// The records of segment `number`'s bytes. A file whose header does not name `number` is
/// a segment whose making a crash interrupted, never used: it has none.
fn decode_segment(bytes: &[u8], number: u64) -> Vec<Record> {
    let checksum = match bytes.get(..8) {
        Some(magic) if magic == MAGIC => Checksum::Salted(number),
        Some(magic) if magic == MAGIC_PLAIN => Checksum::Plain,
        _ => return Vec::new(),
    };
    if bytes.get(8..16) != Some(number.to_be_bytes().as_slice()) {
        return Vec::new();
    }
    decode_records(bytes, HEADER_BYTES as usize, checksum)
}
