//! The write-ahead log: commits sled lost come back from it, and nothing else does.

use std::path::Path;

use super::tests::{channel, commit_events, event, open, push, sku, store_dir};
use super::wal::{Record, Wal, WalTree, Writes};
use super::*;

/// Copies the store's files (not the log) as they are on disk now: what sled would come
/// back with after a crash at this moment, since the last `sync` made them durable.
fn snapshot_sled(dir: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("snapshot dir");
    for entry in std::fs::read_dir(dir).expect("store dir lists") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("file type").is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copies");
        }
    }
}

fn copy_wal(dir: &Path, to: &Path) {
    let (from, to) = (dir.join("wal"), to.join("wal"));
    let _ = std::fs::remove_dir_all(&to);
    std::fs::create_dir_all(&to).expect("wal dir");
    for entry in std::fs::read_dir(&from).expect("wal lists") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copies");
    }
}

fn logged_ids(store: &Store) -> Vec<String> {
    store
        .log_from(1)
        .map(|e| e.expect("log reads").event.id.to_string())
        .collect()
}

#[tokio::test]
async fn commits_sled_lost_come_back_from_the_log_with_their_outbox_and_published_values() {
    let (tmp, dir) = store_dir();
    let crashed = tmp.path().join("crashed");
    {
        let store = open(&dir);
        commit_events(&store, &[event("pos", "e1", "MUG", -1)]);
        store.sync().await.expect("full sync");
        // sled's files now hold e1: the image a crash would leave, before e2 and e3.
        snapshot_sled(&dir, &crashed);
        let published = Published {
            quantity: 7,
            at: Timestamp::from_millis(1_700_000_001_000),
        };
        store
            .commit(&Commit {
                events: &[event("pos", "e2", "MUG", -2), event("pos", "e3", "CUP", 1)],
                outbox: &[push("shop", "MUG", 4)],
                published: &[(channel("pos"), sku("MUG"), published)],
            })
            .expect("commits");
        store.sync_commits().await.expect("log sync");
        copy_wal(&dir, &crashed);
    }
    let store = open(&crashed);
    assert_eq!(logged_ids(&store), ["e1", "e2", "e3"]);
    assert_eq!(store.last_seq().expect("reads"), 3);
    assert!(
        store
            .contains_event(&channel("pos"), &EventId::new("e3").expect("id"))
            .expect("reads")
    );
    let pending = store.all_pending().expect("reads");
    assert_eq!(pending.len(), 1, "the outbox entry came back: {pending:?}");
    assert_eq!(pending[0].1.target, 4);
    assert_eq!(
        store
            .published(&channel("pos"), &sku("MUG"))
            .expect("reads")
            .map(|p| p.quantity),
        Some(7)
    );
    // The next commit carries on after the replayed ones.
    assert_eq!(commit_events(&store, &[event("pos", "e4", "MUG", 1)]), [4]);
    drop(store);
    // Replayed commits were made durable in sled before the log was started again.
    assert_eq!(logged_ids(&open(&crashed)), ["e1", "e2", "e3", "e4"]);
}

#[tokio::test]
async fn commits_sled_already_has_are_not_applied_again() {
    let (tmp, dir) = store_dir();
    let crashed = tmp.path().join("crashed");
    {
        let store = open(&dir);
        for id in ["e1", "e2"] {
            store
                .commit(&Commit {
                    events: &[event("pos", id, "MUG", -1)],
                    outbox: &[push("shop", "MUG", 3)],
                    ..Commit::default()
                })
                .expect("commits");
            store.sync_commits().await.expect("log sync");
        }
        // The pusher confirms the first entry, then sled is made durable: the log still
        // holds both commits (its segment is current), sled has them and the confirmation.
        let first = store.all_pending().expect("reads")[0].0;
        store
            .confirm(&channel("shop"), &[first], &[])
            .expect("confirms");
        store.sync().await.expect("full sync");
        snapshot_sled(&dir, &crashed);
        copy_wal(&dir, &crashed);
    }
    let store = open(&crashed);
    assert_eq!(logged_ids(&store), ["e1", "e2"]);
    assert_eq!(
        store.all_pending().expect("reads").len(),
        1,
        "a replay would have brought the confirmed entry back"
    );
}

#[test]
fn a_log_that_starts_after_what_sled_has_is_refused() {
    let (_tmp, dir) = store_dir();
    std::fs::create_dir_all(&dir).expect("dir");
    {
        let wal = Wal::open(&dir, 0, |_| Ok(())).expect("opens");
        let mut appender = wal.lock();
        for commit_no in [5, 6] {
            let mut writes = Writes::default();
            writes.put(WalTree::Meta, b"commit_no", &codec::encode_u64(commit_no));
            appender.append(commit_no, &writes);
        }
    }
    let mut replayed = Vec::new();
    // Commit 4 is in neither.
    let err = Wal::open(&dir, 3, |records: &[Record]| {
        replayed.extend(records.iter().map(|r| r.commit_no));
        Ok(())
    })
    .err()
    .expect("refused");
    assert!(replayed.is_empty());
    let text = err.to_string();
    assert!(
        text.contains("commits up to 3") && text.contains("starts at commit 5"),
        "{text}"
    );
}

#[test]
fn a_torn_record_ends_the_log() {
    let (_tmp, dir) = store_dir();
    std::fs::create_dir_all(&dir).expect("dir");
    let segment = {
        let wal = Wal::open(&dir, 0, |_| Ok(())).expect("opens");
        let mut appender = wal.lock();
        for commit_no in [1u64, 2, 3] {
            let mut writes = Writes::default();
            writes.put(WalTree::Log, &commit_no.to_be_bytes(), b"value");
            appender.append(commit_no, &writes);
        }
        std::fs::read_dir(dir.join("wal"))
            .expect("lists")
            .next()
            .expect("a segment")
            .expect("entry")
            .path()
    };
    // Flip a byte in the third record's value: its checksum no longer matches.
    let mut bytes = std::fs::read(&segment).expect("reads");
    let last_value = bytes
        .windows(5)
        .rposition(|w| w == b"value")
        .expect("third value");
    bytes[last_value] ^= 0xff;
    std::fs::write(&segment, &bytes).expect("writes");
    let mut replayed = Vec::new();
    Wal::open(&dir, 0, |records: &[Record]| {
        replayed.extend(records.iter().map(|r| r.commit_no));
        Ok(())
    })
    .expect("opens");
    assert_eq!(replayed, [1, 2]);
}

#[tokio::test]
async fn a_failed_append_falls_back_to_a_full_sync_and_the_log_restarts() {
    let (tmp, dir) = store_dir();
    let crashed = tmp.path().join("crashed");
    {
        let store = open(&dir);
        store.wal.lock().fail_next = true;
        commit_events(&store, &[event("pos", "e1", "MUG", -1)]);
        assert!(store.wal.is_broken());
        let stats = store
            .sync_commits()
            .await
            .expect("falls back to a full sync");
        assert!(!store.wal.is_broken(), "the log restarted: {stats:?}");
        commit_events(&store, &[event("pos", "e2", "MUG", -1)]);
        store.sync_commits().await.expect("log sync");
        // e1 is durable in sled (the full sync), e2 only in the log.
        snapshot_sled(&dir, &crashed);
        copy_wal(&dir, &crashed);
    }
    assert_eq!(logged_ids(&open(&crashed)), ["e1", "e2"]);
}

fn one_sale_and_its_push() -> ([NewEvent; 1], [OutboxEntry; 1]) {
    ([event("pos", "e1", "MUG", -1)], [push("shop", "MUG", 4)])
}

fn commit_of<'a>(events: &'a [NewEvent], outbox: &'a [OutboxEntry]) -> Commit<'a> {
    Commit {
        events,
        outbox,
        ..Commit::default()
    }
}

#[test]
fn a_commit_that_fails_midway_is_refused_until_reopen_then_completed_from_the_log() {
    let (_tmp, dir) = store_dir();
    let (events, outbox) = one_sale_and_its_push();
    let commit = commit_of(&events, &outbox);
    {
        let store = open(&dir);
        // sled takes the log entry, then fails: the record is in the log already.
        let err = store.commit_inner(&commit, Some(1)).expect_err("injected");
        assert!(err.to_string().contains("injected fault"), "{err}");
        let err = store
            .commit(&Commit {
                events: &[event("pos", "e2", "MUG", -1)],
                ..Commit::default()
            })
            .expect_err("refused");
        assert!(
            err.to_string()
                .contains("refuses commits until omnistock restarts"),
            "{err}"
        );
    }
    let store = open(&dir);
    assert_eq!(logged_ids(&store), ["e1"]);
    assert_eq!(store.all_pending().expect("reads").len(), 1);
    assert_eq!(commit_events(&store, &[event("pos", "e2", "MUG", -1)]), [2]);
}

#[test]
fn the_part_of_an_unlogged_commit_that_sled_kept_is_removed_on_open() {
    let (_tmp, dir) = store_dir();
    let (events, outbox) = one_sale_and_its_push();
    let commit = commit_of(&events, &outbox);
    {
        let store = open(&dir);
        // As after a power loss that kept sled's writes and not the log's: no record, and
        // sled has the log entry, the id and the outbox entry, not meta's counters.
        store.wal.lock().fail_next = true;
        store.commit_inner(&commit, Some(3)).expect_err("injected");
    }
    let store = open(&dir);
    assert!(logged_ids(&store).is_empty());
    assert!(store.all_pending().expect("reads").is_empty());
    assert!(
        !store
            .contains_event(&channel("pos"), &EventId::new("e1").expect("id"))
            .expect("reads"),
        "the sender's retry must not be taken for a duplicate"
    );
    // The retry is logged as if the first attempt had never been.
    assert_eq!(store.commit(&commit).expect("commits"), [1]);
    assert_eq!(store.all_pending().expect("reads")[0].0, 1);
}

#[tokio::test]
async fn a_push_attempt_is_durable_through_the_log_alone() {
    let (tmp, dir) = store_dir();
    let crashed = tmp.path().join("crashed");
    let attempt = Attempt {
        expected: 3,
        value: 4,
        at: Timestamp::from_millis(1_700_000_002_000),
    };
    {
        let store = open(&dir);
        store
            .commit(&Commit {
                outbox: &[push("shop", "MUG", 4)],
                ..Commit::default()
            })
            .expect("commits");
        store.sync().await.expect("full sync");
        // sled's files hold the entry without its attempt: the image a crash would leave.
        snapshot_sled(&dir, &crashed);
        let id = store.all_pending().expect("reads")[0].0;
        store
            .record_attempts(&channel("shop"), &[(id, attempt.clone())])
            .expect("records");
        // What a pusher waits for before sending: the log's fdatasync, not a sled sync.
        store.sync_commits().await.expect("log sync");
        copy_wal(&dir, &crashed);
    }
    let store = open(&crashed);
    let pending = store.all_pending().expect("reads");
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(
        pending[0].1.attempt,
        Some(attempt),
        "the attempt came back from the log"
    );
}
