//! Watching the drop folder (inotify on Linux, through the `notify` crate), so a file is
//! picked up when it lands rather than at the next poll.
//!
//! A change asks the daemon to poll at once, and again [`SETTLE`] later: a file is read only
//! once its size and time held still across two looks, so the second look is the one that
//! takes a file whose upload just finished. Where the folder cannot be watched (no inotify,
//! a network mount), the poll interval stays the fallback.

use std::path::Path;
use std::time::Duration;

use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use omnistock_sdk::PollNow;

/// How long after a change the second look comes.
pub const SETTLE: Duration = Duration::from_secs(1);

/// Starts watching `folder`; `None` (logged) if it cannot be watched.
pub fn watch(channel: &str, folder: &Path, poll_now: PollNow) -> Option<RecommendedWatcher> {
    let on_event = move |event: notify::Result<Event>| {
        let Ok(event) = event else {
            return;
        };
        if matches!(
            event.kind,
            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Any
        ) {
            poll_now();
            // Runs on the watcher's own thread: events meanwhile wait and coalesce.
            std::thread::sleep(SETTLE);
            poll_now();
        }
    };
    let started = notify::recommended_watcher(on_event).and_then(|mut watcher| {
        watcher.watch(folder, RecursiveMode::NonRecursive)?;
        Ok(watcher)
    });
    match started {
        Ok(watcher) => {
            tracing::info!(channel, folder = %folder.display(), "Watching the drop folder.");
            Some(watcher)
        }
        Err(e) => {
            tracing::warn!(channel, folder = %folder.display(), error = %e, "Cannot watch the drop folder; polling it instead.");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn a_file_landing_in_the_folder_asks_for_a_poll_now_and_once_more_after_it_settles() {
        let dir = tempfile::tempdir().expect("tempdir");
        let polls = Arc::new(AtomicUsize::new(0));
        let counted = polls.clone();
        let watcher = watch(
            "feed",
            dir.path(),
            Arc::new(move || {
                counted.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .expect("this machine has inotify");
        std::fs::write(dir.path().join("stock.csv"), "sku,qty\nMUG,4\n").expect("write");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while polls.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            polls.load(Ordering::SeqCst) >= 2,
            "a poll now and one after settling"
        );
        drop(watcher);
    }

    #[test]
    fn a_folder_that_cannot_be_watched_falls_back_to_polling() {
        let missing = Path::new("/nonexistent/omnistock-drop");
        assert!(watch("feed", missing, Arc::new(|| {})).is_none());
    }
}
