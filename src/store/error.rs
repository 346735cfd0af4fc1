//! What can go wrong in the store, each message naming the store's path and the object.
//!
//! Every variant is permanent for the caller (retrying the same call will not help): the
//! operator must act, except `DuplicateEvent`, which the ingest should have filtered out.

use std::path::PathBuf;

/// Why the store could not do what was asked; every message names the store's path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store path exists but is not a directory.
    #[error("store {path}: not a directory")]
    NotADirectory { path: PathBuf },

    /// Another process (or another `Store` in this one) holds sled's lock on the data file.
    #[error("store {path}: in use by another omnistock process? ({detail})")]
    InUse { path: PathBuf, detail: String },

    /// The store's format is not the one this build reads; never converted silently.
    #[error("store {path}: format version {found} found, but this build reads version {supported}")]
    UnsupportedVersion {
        path: PathBuf,
        found: u8,
        supported: u8,
    },

    /// The store's files are damaged or inconsistent; it was not reset, restore it from a
    /// backup or move it away.
    #[error("store {path}: corrupt, refusing to use it: {detail}")]
    Corrupt { path: PathBuf, detail: String },

    /// One record could not be decoded.
    #[error("store {path}: cannot decode {tree} record {key}: {detail}")]
    BadRecord {
        path: PathBuf,
        tree: &'static str,
        key: String,
        detail: String,
    },

    /// A commit carried an event whose id is already in the log; nothing was written.
    #[error(
        "store {path}: event {id:?} from channel {channel} is already in the log at seq {seq}; commit refused"
    )]
    DuplicateEvent {
        path: PathBuf,
        channel: String,
        id: String,
        seq: u64,
    },

    /// A file-system operation on the store failed.
    #[error("store {path}: {action}: {source}")]
    Io {
        path: PathBuf,
        action: String,
        source: std::io::Error,
    },

    /// sled reported an error (kept as text so sled's types stay inside this module).
    #[error("store {path}: {action}: {detail}")]
    Backend {
        path: PathBuf,
        action: String,
        detail: String,
    },
}

/// What a caught panic said: sled panics rather than fail on some damage and bugs.
pub(super) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}
