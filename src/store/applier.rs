//! sled's copy of the commits, written on a thread of its own.
//!
//! Why: a commit is durable once its record is in the write-ahead log and an fdatasync
//! covers it (`wal`); sled's copy is what readers and the next start use, not what an
//! acknowledgement needs. Written by the committing thread, sled's inserts (two per event)
//! were the writer's largest cost and at moments stalled it for milliseconds. A build that
//! skipped them had a p99 5–10 ms lower at 5,000 events/s, in each of four alternated
//! 30 s runs (BENCHMARKS.md, round 7). Here they run beside the writer instead.
//!
//! # Ordering
//! - Commits are applied one at a time, in the order they were logged.
//! - Until applied, a commit's event ids are kept here, so that dedup sees them
//!   ([`Applier::pending_seq`]), and so are meta's counters as it leaves them, so that the
//!   next commit continues from them ([`Applier::counters`]).
//! - Everything else that reads the trees commits write first waits until the commits
//!   queued before it are applied ([`Applier::wait_applied`]); everything else that writes
//!   them also holds the log's lock meanwhile, so that no commit comes in between. So each
//!   commit takes effect, for everyone but this thread, when it is logged, as when
//!   commits wrote sled themselves.
//! - A failed write, or a panic in sled, stops the applier: the store then refuses commits,
//!   and reads of those trees, until it is reopened, which completes the commit from the log
//!   (see `recover`). Never a silent stop: commits waiting for room and readers waiting for
//!   the applier would wait for ever.
//!
//! # Pace
//! The thread runs at background priority ([`crate::background`]): acknowledgements do not
//! wait for it. So that it cannot fall behind without end (a slow disk, a saturated CPU),
//! at most [`MAX_QUEUED`] commits wait for it; the next commit waits for room, holding
//! the log, which slows ingest down to sled's pace.

use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use super::error::panic_message;
use super::wal::Writes;

/// How many logged commits may wait for sled. About a second of commits at 5,000
/// single-event requests a second, a few MB at most.
pub(super) const MAX_QUEUED: usize = 2048;

/// What meta's counters hold once every queued commit is applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Counters {
    pub last_seq: u64,
    pub last_outbox_id: u64,
    pub commit_no: u64,
}

/// A logged commit waiting for sled.
struct Queued {
    counters: Counters,
    /// Taken by the applier while it writes them.
    writes: Option<Writes>,
    /// Its events' keys in the `ids` tree.
    ids: Vec<Vec<u8>>,
    /// Fail after this many writes (tests only; `None` otherwise).
    fail_after: Option<usize>,
}

#[derive(Default)]
struct Shared {
    queue: VecDeque<Queued>,
    /// Event id keys of queued commits, with their seqs.
    pending_ids: HashMap<Vec<u8>, u64>,
    /// The last commit applied.
    applied: u64,
    failed: Option<String>,
    closed: bool,
    /// Applies nothing while set (tests: commits stay queued).
    #[cfg(test)]
    held: bool,
    /// Panics while applying the next commit (tests).
    #[cfg(test)]
    panic_next: bool,
}

struct Inner {
    shared: Mutex<Shared>,
    /// Signalled when a commit is queued or the applier is closed.
    work: Condvar,
    /// Signalled when a commit is applied or the applier failed.
    progress: Condvar,
    /// Commits that may be queued at once.
    max_queued: usize,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The thread that writes logged commits into sled, and what waits for it.
pub(super) struct Applier {
    inner: Arc<Inner>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Applier {
    /// Starts the thread; `trees` in `WalTree` order; `applied`: the last commit sled has;
    /// `max_queued`: how many commits may wait for it ([`MAX_QUEUED`] but in tests).
    pub fn start(
        trees: [sled::Tree; 5],
        applied: u64,
        max_queued: usize,
    ) -> std::io::Result<Applier> {
        let inner = Arc::new(Inner {
            shared: Mutex::new(Shared {
                applied,
                ..Shared::default()
            }),
            work: Condvar::new(),
            progress: Condvar::new(),
            max_queued: max_queued.max(1),
        });
        let thread = std::thread::Builder::new()
            .name("store-applier".to_owned())
            .spawn({
                let inner = Arc::clone(&inner);
                move || run(&inner, &trees)
            })?;
        Ok(Applier {
            inner,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Hands over a logged commit: `ids` are its events' keys in the `ids` tree with their
    /// seqs, `counters` what it leaves in meta. Waits while the queue is full, unless the
    /// applier has stopped (the commit is then queued to be refused with the rest).
    pub fn queue(
        &self,
        counters: Counters,
        writes: Writes,
        ids: Vec<(Vec<u8>, u64)>,
        fail_after: Option<usize>,
    ) {
        let mut shared = self.inner.lock();
        while shared.queue.len() >= self.inner.max_queued
            && shared.failed.is_none()
            && !shared.closed
        {
            shared = self
                .inner
                .progress
                .wait(shared)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let mut keys = Vec::with_capacity(ids.len());
        for (key, seq) in ids {
            shared.pending_ids.insert(key.clone(), seq);
            keys.push(key);
        }
        shared.queue.push_back(Queued {
            counters,
            writes: Some(writes),
            ids: keys,
            fail_after,
        });
        drop(shared);
        self.inner.work.notify_one();
    }

    /// The seq of a queued event with this key in the `ids` tree, if any.
    pub fn pending_seq(&self, id_key: &[u8]) -> Option<u64> {
        self.inner.lock().pending_ids.get(id_key).copied()
    }

    /// Meta's counters as the last queued commit leaves them; `None` when none is queued
    /// (meta then holds them).
    pub fn counters(&self) -> Option<Counters> {
        self.inner.lock().queue.back().map(|q| q.counters)
    }

    /// Waits until every commit queued before this call is applied; the failure that
    /// stopped the applier, if one did.
    pub fn wait_applied(&self) -> Result<(), String> {
        let mut shared = self.inner.lock();
        let target = shared
            .queue
            .back()
            .map_or(shared.applied, |q| q.counters.commit_no);
        while shared.applied < target && shared.failed.is_none() {
            shared = self
                .inner
                .progress
                .wait(shared)
                .unwrap_or_else(PoisonError::into_inner);
        }
        match &shared.failed {
            Some(reason) => Err(reason.clone()),
            None => Ok(()),
        }
    }

    /// How many logged commits wait for sled.
    pub fn queued(&self) -> usize {
        self.inner.lock().queue.len()
    }

    /// Why the applier stopped, if it did.
    pub fn failure(&self) -> Option<String> {
        self.inner.lock().failed.clone()
    }

    /// Holds (`true`) or lets go of (`false`) the commits queued from now on (tests).
    #[cfg(test)]
    pub fn hold(&self, held: bool) {
        self.inner.lock().held = held;
        self.inner.work.notify_all();
    }

    /// Makes the next commit's writes panic, as sled may (tests).
    #[cfg(test)]
    pub fn panic_next(&self) {
        self.inner.lock().panic_next = true;
    }

    /// Applies what is queued, then stops the thread.
    pub fn stop(&self) {
        self.inner.lock().closed = true;
        self.inner.work.notify_all();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("The store's applier thread panicked.");
        }
    }
}

/// The applier's loop: the oldest queued commit into sled, until closed and drained.
fn run(inner: &Inner, trees: &[sled::Tree; 5]) {
    crate::background::lower_this_thread();
    loop {
        let (commit_no, writes, fail_after) = {
            let mut shared = inner.lock();
            loop {
                #[cfg(test)]
                let held = shared.held && !shared.closed;
                #[cfg(not(test))]
                let held = false;
                if !held
                    && let Some(front) = shared.queue.front_mut()
                    && let Some(writes) = front.writes.take()
                {
                    break (front.counters.commit_no, writes, front.fail_after);
                }
                if shared.closed {
                    return;
                }
                shared = inner
                    .work
                    .wait(shared)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let applied = catch_unwind(AssertUnwindSafe(|| {
            #[cfg(test)]
            if std::mem::take(&mut inner.lock().panic_next) {
                panic!("injected panic");
            }
            apply(trees.each_ref(), &writes, fail_after)
        }))
        .unwrap_or_else(|panic| {
            Err(sled::Error::ReportableBug(format!(
                "sled panicked: {}",
                panic_message(&*panic)
            )))
        });
        let mut shared = inner.lock();
        match applied {
            Ok(()) => {
                if let Some(done) = shared.queue.pop_front() {
                    for key in done.ids {
                        shared.pending_ids.remove(&key);
                    }
                }
                shared.applied = commit_no;
            }
            Err(e) => {
                let reason = format!("commit {commit_no} failed after part of it was written: {e}");
                tracing::error!(%reason, "The store refuses commits until it is reopened; restart omnistock.");
                shared.failed = Some(reason);
            }
        }
        let stopped = shared.failed.is_some();
        drop(shared);
        inner.progress.notify_all();
        if stopped {
            return;
        }
    }
}

/// Writes a commit's `writes` into sled, in order, one plain insert each; `trees` in
/// `WalTree` order (see `Store::commit` for why not in a transaction). Fails after
/// `fail_after` of them if given (tests).
pub(super) fn apply(
    trees: [&sled::Tree; 5],
    writes: &Writes,
    fail_after: Option<usize>,
) -> sled::Result<()> {
    let limit = fail_after.unwrap_or(usize::MAX);
    for (tree, key, value) in writes.iter().take(limit) {
        trees[tree as usize].insert(key, value)?;
    }
    match fail_after {
        None => Ok(()),
        Some(_) => Err(sled::Error::ReportableBug("injected fault".to_owned())),
    }
}
