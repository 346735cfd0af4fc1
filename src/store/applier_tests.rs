//! Commits reach sled on the applier's thread; until they do, dedup, the counters and every
//! other reader and writer behave as if they were there.

use std::time::Duration;

use omnistock_sdk::{EventId, Timestamp};

use super::tests::{channel, event, open, sku, store_dir};
use super::wal::Writes;
use super::*;

fn commit(
    store: &Store,
    events: &[NewEvent],
    published: &[(ChannelId, Sku, Published)],
) -> Result<Vec<u64>, StoreError> {
    store.commit(&Commit {
        events,
        published,
        ..Commit::default()
    })
}

/// The ids of the events in the log, in order.
fn logged_ids(store: &Store) -> Vec<String> {
    store
        .log_from(1)
        .map(|e| e.expect("reads").event.id.to_string())
        .collect()
}

fn at(quantity: i64) -> Published {
    Published {
        quantity,
        at: Timestamp::from_millis(1_700_000_000_000 + quantity),
    }
}

#[test]
fn a_queued_commit_counts_for_dedup_and_for_the_next_seq() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    store.applier.hold(true);
    assert_eq!(
        commit(&store, &[event("pos", "e1", "MUG", -1)], &[]).expect("commits"),
        [1]
    );
    let e1 = EventId::new("e1").expect("id");
    assert_eq!(store.ids.len(), 0, "sled does not have it yet");
    assert!(
        store
            .contains_event(&channel("pos"), &e1)
            .expect("looks up")
    );
    let again = commit(&store, &[event("pos", "e1", "MUG", -1)], &[]);
    assert!(
        matches!(again, Err(StoreError::DuplicateEvent { seq: 1, .. })),
        "{again:?}"
    );
    assert_eq!(
        commit(&store, &[event("pos", "e2", "MUG", -1)], &[]).expect("commits"),
        [2]
    );
    assert_eq!(store.last_seq().expect("last seq"), 2);
    assert_eq!(store.applier_queued(), 2);
    store.applier.hold(false);
    let logged = logged_ids(&store);
    assert_eq!(logged, ["e1", "e2"]);
    assert_eq!(store.applier.counters(), None, "nothing left queued");
    assert_eq!(store.applier_queued(), 0);
}

#[test]
fn a_confirmation_lands_after_the_commits_logged_before_it() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let (shop, mug) = (channel("shop"), sku("MUG"));
    store.applier.hold(true);
    // A channel's own sale moved what it shows to 5; then a push it confirms makes it 7.
    commit(
        &store,
        &[event("shop", "s1", "MUG", -1)],
        &[(shop.clone(), mug.clone(), at(5))],
    )
    .expect("commits");
    std::thread::scope(|scope| {
        let confirming = scope.spawn(|| store.confirm(&shop, &[], &[(mug.clone(), at(7))]));
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !confirming.is_finished(),
            "the confirmation waits for the sale's commit"
        );
        store.applier.hold(false);
        confirming.join().expect("joins").expect("confirms");
    });
    assert_eq!(store.published(&shop, &mug).expect("reads"), Some(at(7)));
}

#[test]
fn a_commit_still_queued_at_a_crash_comes_back_from_the_log() {
    let (tmp, dir) = store_dir();
    let crashed = tmp.path().join("crashed");
    {
        let store = open(&dir);
        store.applier.hold(true);
        commit(&store, &[event("pos", "e1", "MUG", -1)], &[]).expect("commits");
        let synced = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(store.sync_commits());
        synced.expect("log synced");
        // sled as it is on disk now, without the queued commit, and the log.
        copy_dir(&dir, &crashed);
        store.applier.hold(false);
    }
    let store = open(&crashed);
    let logged = logged_ids(&store);
    assert_eq!(logged, ["e1"]);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for entry in std::fs::read_dir(from).expect("lists") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copies");
        }
    }
}

#[test]
fn a_full_queue_makes_the_next_commit_wait_for_sled() {
    let db = sled::Config::new()
        .temporary(true)
        .open()
        .expect("temporary sled");
    let trees =
        ["log", "ids", "meta", "outbox", "published"].map(|name| db.open_tree(name).expect("tree"));
    let applier = applier::Applier::start(trees, 0, 2).expect("starts");
    applier.hold(true);
    let counters = |commit_no| applier::Counters {
        commit_no,
        ..applier::Counters::default()
    };
    for commit_no in 1..=2 {
        applier.queue(counters(commit_no), Writes::default(), Vec::new(), None);
    }
    std::thread::scope(|scope| {
        let third = scope.spawn(|| {
            applier.queue(counters(3), Writes::default(), Vec::new(), None);
        });
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !third.is_finished(),
            "two commits wait already: the third waits for room"
        );
        assert_eq!(
            applier.queued(),
            2,
            "the third is not queued while it waits"
        );
        applier.hold(false);
        third.join().expect("joins");
    });
    applier.wait_applied().expect("all three applied");
    assert_eq!(applier.counters(), None, "nothing left queued");
    applier.stop();
}

#[test]
fn a_panic_in_sled_stops_the_store_with_a_reason_and_the_log_completes_the_commit() {
    let (_tmp, dir) = store_dir();
    {
        let store = open(&dir);
        store.applier.panic_next();
        commit(&store, &[event("pos", "e1", "MUG", -1)], &[]).expect("logged");
        let read = store.log_from(1).next().expect("an answer");
        let refused = read.expect_err("the applier stopped");
        assert!(refused.to_string().contains("sled panicked"), "{refused}");
        let reason = store.refusing_commits().expect("says why it refuses");
        assert!(reason.contains("sled panicked"), "{reason}");
        let again = commit(&store, &[event("pos", "e2", "MUG", -1)], &[]);
        assert!(again.is_err(), "{again:?}");
    }
    let store = open(&dir);
    let logged = logged_ids(&store);
    assert_eq!(logged, ["e1"]);
}
