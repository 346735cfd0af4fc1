//! The drop folder: which files are complete, and where they go once handled.
//!
//! A file is complete when it was seen with the same size and modification time on two
//! looks in a row (a poll interval apart), so a file still being uploaded is never read;
//! names that uploaders use while writing (`.hidden`, `*.tmp`, `*.part`, `*.filepart`) are not
//! looked at until renamed. Handled files go to `processed/`, named after their snapshot's
//! time so they sort in the order they were applied (and the same name reused by a 3PL never
//! collides), or to `rejected/` with a `.reason.txt` beside them.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use omnistock_sdk::Timestamp;

pub const PROCESSED: &str = "processed";
pub const REJECTED: &str = "rejected";
/// Beside a rejected file: why.
pub const REASON_SUFFIX: &str = ".reason.txt";
/// Beside a processed file whose rows were not all applied: which and why.
pub const ERRORS_SUFFIX: &str = ".errors.txt";

/// A complete file waiting in the folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub name: String,
    pub modified: Timestamp,
}

/// One drop folder, with what its last look saw.
#[derive(Debug)]
pub struct DropFolder {
    root: PathBuf,
    /// Name → (size, modification time) at the last look.
    seen: Mutex<HashMap<String, (u64, Option<SystemTime>)>>,
}

/// Whether an uploader is still writing under this name.
fn in_progress(name: &str) -> bool {
    name.starts_with('.')
        || [".tmp", ".part", ".filepart", ".partial"]
            .iter()
            .any(|suffix| name.ends_with(suffix))
}

fn millis(time: SystemTime) -> Timestamp {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp::from_millis(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
}

impl DropFolder {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The complete files, oldest first (by modification time, then name).
    pub fn waiting(&self) -> io::Result<Vec<Waiting>> {
        let mut now = HashMap::new();
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            let Ok(name) = entry.file_name().into_string() else {
                continue; // not UTF-8: no 3PL names files so; left for ops
            };
            if meta.is_file() && !in_progress(&name) {
                now.insert(name, (meta.len(), meta.modified().ok()));
            }
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut ready: Vec<Waiting> = now
            .iter()
            .filter(|(name, look)| seen.get(*name) == Some(look))
            .map(|(name, (_, modified))| Waiting {
                name: name.clone(),
                modified: modified.map_or(Timestamp::EPOCH, millis),
            })
            .collect();
        *seen = now;
        ready.sort_by(|a, b| (a.modified, &a.name).cmp(&(b.modified, &b.name)));
        Ok(ready)
    }

    /// A file's bytes and modification time, or `None` if it is no longer there.
    pub fn read(&self, name: &str) -> io::Result<Option<(Vec<u8>, Timestamp)>> {
        let path = self.root.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let modified = std::fs::metadata(&path)?.modified().ok();
                Ok(Some((bytes, modified.map_or(Timestamp::EPOCH, millis))))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Moves an applied file to `processed/` as `<time>-<hash>-<name>`, with the rows it
    /// left out (if any) in a `.errors.txt` beside it.
    pub fn processed(
        &self,
        name: &str,
        time: Timestamp,
        hash: &str,
        row_errors: &str,
    ) -> io::Result<PathBuf> {
        let stored = format!(
            "{:015}-{}-{name}",
            time.as_millis().max(0),
            &hash[..hash.len().min(12)]
        );
        let dir = self.root.join(PROCESSED);
        std::fs::create_dir_all(&dir)?;
        if !row_errors.is_empty() {
            std::fs::write(dir.join(format!("{stored}{ERRORS_SUFFIX}")), row_errors)?;
        }
        let to = dir.join(stored);
        std::fs::rename(self.root.join(name), &to)?;
        Ok(to)
    }

    /// Moves a refused file to `rejected/` with a `.reason.txt` beside it.
    pub fn reject(&self, name: &str, hash: &str, reason: &str) -> io::Result<PathBuf> {
        let stored = format!("{}-{name}", &hash[..hash.len().min(12)]);
        let dir = self.root.join(REJECTED);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join(format!("{stored}{REASON_SUFFIX}")),
            format!("{reason}\n"),
        )?;
        let to = dir.join(stored);
        std::fs::rename(self.root.join(name), &to)?;
        Ok(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_names_are_not_looked_at() {
        for name in [
            ".inv.csv",
            "inv.csv.tmp",
            "inv.csv.part",
            "inv.csv.filepart",
        ] {
            assert!(in_progress(name), "{name}");
        }
        assert!(!in_progress("inv.csv"));
    }
}
