//! The [`Connector`] for one drop folder: each poll delivers one page of the next complete
//! snapshot (see [`crate::cursor`] for why a file is moved only on the poll after its last
//! page), refuses stale, duplicate and unreadable files into `rejected/`, and logs progress
//! on large snapshots. It lists nothing: see [`Connector::list`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use omnistock_sdk::{
    Capabilities, Connector, ConnectorError, EventId, ItemLevel, ItemRef, ListPage, PollNow,
    PollPage, PushOutcome, PushRequest, StockChange, StockEvent, Timestamp, Unmapped,
};
use sha2::{Digest, Sha256};

use crate::cursor::{Cursor, FileMark};
use crate::folder::DropFolder;
use crate::settings::{FileFeedSettings, Format};
use crate::snapshot::{Places, Snapshot};
use crate::{csv_format, edi846};

/// A file read and parsed.
#[derive(Clone, Debug)]
struct Loaded {
    hash: String,
    parsed: Result<Arc<Snapshot>, String>,
}

/// Rows delivered of the snapshot in progress, since when: for the progress log.
#[derive(Debug)]
struct Progress {
    hash: String,
    started: Instant,
}

/// A connection to one drop folder.
#[derive(Debug)]
pub struct FileFeedConnector {
    settings: FileFeedSettings,
    folder: DropFolder,
    /// The last file parsed, by content hash: a large snapshot is parsed once, not per page.
    cache: Mutex<Option<Loaded>>,
    progress: Mutex<Option<Progress>>,
    /// Watches the folder once the daemon's poller asked (kept alive here).
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
}

fn io_error(action: String) -> impl FnOnce(std::io::Error) -> ConnectorError {
    move |e| ConnectorError::Retryable(format!("{action}: {e}"))
}

impl FileFeedConnector {
    /// Validates the settings. Nothing is read yet.
    pub fn new(settings: FileFeedSettings) -> Result<Self, ConnectorError> {
        settings.validate().map_err(|problems| {
            ConnectorError::Permanent(format!(
                "channel {}: {}",
                settings.channel,
                problems.join("; ")
            ))
        })?;
        Ok(Self {
            folder: DropFolder::new(settings.directory.clone()),
            settings,
            cache: Mutex::new(None),
            progress: Mutex::new(None),
            watcher: Mutex::new(None),
        })
    }

    pub fn settings(&self) -> &FileFeedSettings {
        &self.settings
    }

    fn parse(&self, bytes: &[u8], modified: Timestamp) -> Result<Snapshot, String> {
        let places = Places {
            locations: &self.settings.locations,
            default_location: self.settings.default_location.as_ref(),
        };
        match &self.settings.format {
            Format::Csv(columns) => csv_format::parse(bytes, columns, places, modified),
            Format::Edi846 { quantity_qualifier } => {
                edi846::parse(bytes, quantity_qualifier, places)
            }
        }
    }

    /// Hashes and parses a file's content, from the cache when it is the same content.
    fn load(&self, bytes: &[u8], modified: Timestamp) -> Loaded {
        let hash = hex::encode(Sha256::digest(bytes));
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = cache.as_ref().filter(|c| c.hash == hash) {
            return hit.clone();
        }
        let loaded = Loaded {
            parsed: self.parse(bytes, modified).map(Arc::new),
            hash,
        };
        *cache = Some(loaded.clone());
        loaded
    }

    /// Reads a file still in the folder; `None` if it is gone.
    fn load_file(&self, name: &str) -> Result<Option<Loaded>, ConnectorError> {
        let read = self
            .folder
            .read(name)
            .map_err(io_error(format!("reading {name} in {}", self.where_())))?;
        Ok(read.map(|(bytes, modified)| self.load(&bytes, modified)))
    }

    fn where_(&self) -> String {
        format!(
            "channel {}'s folder {}",
            self.settings.channel,
            self.folder.root().display()
        )
    }

    /// One poll: see the module doc.
    async fn poll_folder(&self, cursor: Option<String>) -> Result<PollPage, ConnectorError> {
        let mut cursor = Cursor::parse(cursor.as_deref())?;
        if let Some(applied) = cursor.applied.clone() {
            self.move_applied(&applied)?;
        }
        if let Some((mark, next)) = cursor.current.take() {
            match self.load_file(&mark.name)? {
                Some(Loaded {
                    hash,
                    parsed: Ok(snapshot),
                }) if hash == mark.hash => return Ok(self.page(cursor, mark, &snapshot, next)),
                _ => {
                    tracing::warn!(channel = %self.settings.channel, file = %mark.name, "Snapshot file changed or vanished while being applied; going on with the next file.")
                }
            }
        }
        let waiting = self
            .folder
            .waiting()
            .map_err(io_error(format!("looking into {}", self.where_())))?;
        for file in waiting {
            let Some(loaded) = self.load_file(&file.name)? else {
                continue;
            };
            match judge(&loaded, cursor.applied.as_ref()) {
                Err(reason) => {
                    tracing::warn!(channel = %self.settings.channel, file = %file.name, reason = %reason, "Snapshot file rejected.");
                    self.folder
                        .reject(&file.name, &loaded.hash, &reason)
                        .map_err(io_error(format!("rejecting {}", file.name)))?;
                }
                Ok(snapshot) => {
                    let mark = FileMark {
                        name: file.name,
                        hash: loaded.hash,
                        time: snapshot.time.as_millis(),
                    };
                    return Ok(self.page(cursor, mark, &snapshot, 0));
                }
            }
        }
        Ok(PollPage::default())
    }

    /// Moves the file the daemon has durably applied to `processed/`, if it is still here.
    fn move_applied(&self, applied: &FileMark) -> Result<(), ConnectorError> {
        let Some(loaded) = self.load_file(&applied.name)? else {
            return Ok(()); // moved by an earlier poll
        };
        if loaded.hash != applied.hash {
            return Ok(()); // a new file under the same name: it waits its turn
        }
        let errors = match &loaded.parsed {
            Ok(snapshot) => snapshot
                .rejected
                .iter()
                .map(|e| format!("row {}: {}\n", e.number, e.reason))
                .collect(),
            Err(reason) => reason.clone(),
        };
        let to = self
            .folder
            .processed(&applied.name, applied.time(), &applied.hash, &errors)
            .map_err(io_error(format!("moving {} to processed", applied.name)))?;
        tracing::info!(channel = %self.settings.channel, file = %applied.name, to = %to.display(), "Snapshot file applied.");
        Ok(())
    }

    /// The page of `snapshot` from row `from`, and the cursor after it.
    fn page(
        &self,
        mut cursor: Cursor,
        mark: FileMark,
        snapshot: &Snapshot,
        from: usize,
    ) -> PollPage {
        let end = snapshot
            .rows
            .len()
            .min(from.saturating_add(self.settings.rows_per_page));
        let prefix = &mark.hash[..16];
        // Ids are the content's hash and the row's index among the good rows: the same on
        // every re-poll of the same file, always a valid (short) id.
        let events = snapshot.rows[from.min(end)..end]
            .iter()
            .zip(from..)
            .filter_map(|(row, index)| {
                Some(StockEvent {
                    id: EventId::new(format!("{prefix}/{index}")).ok()?,
                    occurred_at: row.at,
                    sku: row.sku.clone(),
                    change: StockChange::LevelObserved {
                        location: row.location.clone(),
                        quantity: row.quantity,
                    },
                })
            })
            .collect();
        // Bad rows are reported once, with the first page.
        let unmapped = if from == 0 {
            snapshot
                .rejected
                .iter()
                .map(|e| Unmapped {
                    what: format!("{} row {}", mark.name, e.number),
                    reason: e.reason.clone(),
                })
                .collect()
        } else {
            Vec::new()
        };
        self.log_progress(&mark, snapshot, end);
        if end < snapshot.rows.len() {
            cursor.current = Some((mark, end));
        } else {
            cursor.applied = Some(mark);
            cursor.current = None;
        }
        PollPage {
            events,
            unmapped,
            cursor: Some(cursor.encode()),
            // After the last page too: the next poll moves the file and looks for the next.
            more: true,
        }
    }

    fn log_progress(&self, mark: &FileMark, snapshot: &Snapshot, done: usize) {
        let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        let started = match progress.as_ref().filter(|p| p.hash == mark.hash) {
            Some(p) => p.started,
            None => {
                *progress = Some(Progress {
                    hash: mark.hash.clone(),
                    started: Instant::now(),
                });
                Instant::now()
            }
        };
        let seconds = started
            .elapsed()
            .max(Duration::from_millis(1))
            .as_secs_f64();
        tracing::info!(
            channel = %self.settings.channel,
            file = %mark.name,
            rows = done,
            total = snapshot.rows.len(),
            rejected = snapshot.rejected.len(),
            rate = (done as f64 / seconds) as u64,
            "Applying snapshot file…"
        );
    }
}

/// Whether a complete file may be applied after `applied`: refused if unreadable, with no
/// good row, the same content again, or not newer.
fn judge(loaded: &Loaded, applied: Option<&FileMark>) -> Result<Arc<Snapshot>, String> {
    let snapshot = loaded
        .parsed
        .clone()
        .map_err(|reason| format!("unreadable: {reason}"))?;
    if snapshot.rows.is_empty() && !snapshot.rejected.is_empty() {
        return Err(format!(
            "no valid row ({} rejected, the first: row {}: {})",
            snapshot.rejected.len(),
            snapshot.rejected[0].number,
            snapshot.rejected[0].reason
        ));
    }
    match applied {
        Some(applied) if applied.hash == loaded.hash => Err(format!(
            "duplicate: the same content as {}, already applied",
            applied.name
        )),
        Some(applied) if snapshot.time <= applied.time() => Err(format!(
            "stale: the snapshot of {} is not newer than {} ({}), already applied",
            snapshot.time,
            applied.time(),
            applied.name
        )),
        _ => Ok(snapshot),
    }
}

#[async_trait]
impl Connector for FileFeedConnector {
    /// No push forms: the 3PL's system owns its counts and a file feed has no way back.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            push_forms: Vec::new(),
            max_batch: 1,
            calls_per_second: 1.0,
            burst: 1,
            webhook_topics: Vec::new(),
        }
    }

    /// Nothing: a file feed has no current number to list, only snapshots of past moments,
    /// and the daemon's reconciliation takes a listed level as the owner's count *now*. A
    /// past snapshot merged as a count now would undo a newer snapshot being applied or a
    /// manual adjustment. Its input is its files, through [`Connector::poll`].
    async fn list(&self, _cursor: Option<String>) -> Result<ListPage, ConnectorError> {
        Ok(ListPage {
            levels: Vec::new(),
            next: None,
        })
    }

    /// Nothing, for the same reason as [`Connector::list`]; it is never pushed, so never
    /// re-read.
    async fn read(&self, _items: &[ItemRef]) -> Result<Vec<ItemLevel>, ConnectorError> {
        Ok(Vec::new())
    }

    fn parse_webhook(
        &self,
        _headers: &[(String, String)],
        _body: &[u8],
    ) -> Result<Vec<StockEvent>, ConnectorError> {
        Err(ConnectorError::BadInput(format!(
            "channel {} is a file feed: it receives no webhooks",
            self.settings.channel
        )))
    }

    async fn push(&self, batch: &[PushRequest]) -> Result<Vec<PushOutcome>, ConnectorError> {
        Err(ConnectorError::Permanent(format!(
            "pushing {} quantities to {}: a file feed cannot be pushed to",
            batch.len(),
            self.settings.channel
        )))
    }

    async fn poll(&self, cursor: Option<String>) -> Result<PollPage, ConnectorError> {
        self.poll_folder(cursor).await
    }

    fn watch(&self, poll_now: PollNow) {
        let watcher = crate::watch::watch(&self.settings.channel, self.folder.root(), poll_now);
        *self.watcher.lock().unwrap_or_else(|p| p.into_inner()) = watcher;
    }

    fn poll_interval(&self) -> Option<Duration> {
        Some(self.settings.poll_interval)
    }
}
