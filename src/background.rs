//! Threads doing work nobody waits for run at a lower CPU priority.
//!
//! Why: on a small machine the threads that acknowledge events (tokio's workers, where the
//! ingest writer runs, and the log's fdatasync) share the cores with background work: the
//! store's applier writing commits into sled, and checkpoints. At equal priority the
//! scheduler let that work take the core from the writer for milliseconds at a time, in
//! the middle of a group. With the background threads at nice 10, in eleven alternated 30 s
//! runs at 5,000 events/s, the p99 was lower in eight, its median 14.2 ms against 16.0, and
//! above 20 ms in none against four (BENCHMARKS.md, round 7). The background threads still
//! get every idle cycle, and a share of a busy machine; the applier's queue is bounded
//! (`store::applier`), so a starved applier slows commits down instead of growing without
//! end.

/// The nice value background threads take: a tenth of a normal thread's CPU share when
/// both want the core.
#[cfg(target_os = "linux")]
const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority, for good: an unprivileged thread cannot raise
/// it again, so call it only on a thread of its own that does nothing else. On Linux the
/// nice value is per thread; elsewhere it is per process, so this does nothing there.
pub fn lower_this_thread() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(None, BACKGROUND_NICE) {
        // Only the tail latency depends on it.
        tracing::debug!(error = %e, "Could not lower a background thread's priority.");
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use rustix::process::getpriority_process;

    #[test]
    fn only_the_calling_thread_is_lowered() {
        let before = getpriority_process(None).expect("reads");
        let lowered = std::thread::spawn(|| {
            super::lower_this_thread();
            getpriority_process(None).expect("reads")
        })
        .join()
        .expect("joins");
        assert_eq!(lowered, super::BACKGROUND_NICE.max(before));
        assert_eq!(getpriority_process(None).expect("reads"), before);
    }
}
