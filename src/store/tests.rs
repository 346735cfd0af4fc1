//! The store's behaviour, each test named for what it checks.

use std::path::Path;

use omnistock_sdk::{ChannelId, EventId, LocationId, Sku, StockChange, StockEvent, Timestamp};

use super::*;
use crate::state::SkuState;

pub(super) fn channel(name: &str) -> ChannelId {
    ChannelId::new(name).expect("valid channel")
}

pub(super) fn sku(name: &str) -> Sku {
    Sku::new(name).expect("valid sku")
}

pub(super) fn event(chan: &str, id: &str, sku_name: &str, by: i64) -> NewEvent {
    NewEvent {
        channel: channel(chan),
        received_at: Timestamp::from_millis(1_700_000_000_123),
        event: StockEvent {
            id: EventId::new(id).expect("valid id"),
            occurred_at: Timestamp::from_millis(1_700_000_000_000),
            sku: sku(sku_name),
            change: StockChange::Adjusted {
                location: LocationId::new("store-1").expect("valid location"),
                by,
                reason: "till sale".to_owned(),
            },
        },
    }
}

pub(super) fn push(chan: &str, sku_name: &str, target: i64) -> OutboxEntry {
    OutboxEntry {
        channel: channel(chan),
        sku: sku(sku_name),
        target,
        created_at: Timestamp::from_millis(1_700_000_000_500),
        attempt: None,
        lost: None,
    }
}

/// Commits `events` alone (no outbox, no published values); their seqs.
/// Commits `events` and waits until sled has them: tests then read and write sled's trees
/// directly, which the store itself never does before the applier caught up.
pub(super) fn commit_events(store: &Store, events: &[NewEvent]) -> Vec<u64> {
    let seqs = store
        .commit(&Commit {
            events,
            ..Commit::default()
        })
        .expect("commits");
    store.applied("test").expect("applied");
    seqs
}

pub(super) fn open(dir: &Path) -> Store {
    Store::open(dir).expect("store opens")
}

pub(super) fn store_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("store");
    (tmp, dir)
}

fn log(store: &Store, from: u64) -> Vec<LoggedEvent> {
    store
        .log_from(from)
        .collect::<Result<_, _>>()
        .expect("log reads")
}

fn open_err(dir: &Path) -> StoreError {
    match Store::open(dir) {
        Ok(_) => panic!("{} opened but should have been refused", dir.display()),
        Err(e) => e,
    }
}

#[test]
fn committed_events_come_back_from_the_log_in_order() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let events = [
        event("pos", "e1", "MUG", -1),
        event("shop", "e1", "MUG", -2),
        event("pos", "e2", "CUP", 3),
    ];
    assert_eq!(commit_events(&store, &events[..2]), [1, 2]);
    assert_eq!(commit_events(&store, &events[2..]), [3]);
    let all = log(&store, 0);
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    for (logged, new) in all.iter().zip(&events) {
        assert_eq!(
            (&logged.channel, logged.received_at),
            (&new.channel, new.received_at)
        );
        assert_eq!(logged.event, new.event);
    }
    assert_eq!(
        log(&store, 2).iter().map(|e| e.seq).collect::<Vec<_>>(),
        [2, 3]
    );
    assert!(log(&store, 4).is_empty());
    assert_eq!(store.last_seq().expect("last seq"), 3);
}

#[test]
fn event_ids_are_found_per_channel() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    commit_events(&store, &[event("pos", "e1", "MUG", -1)]);
    let id = EventId::new("e1").expect("id");
    assert!(store.contains_event(&channel("pos"), &id).expect("lookup"));
    assert!(!store.contains_event(&channel("shop"), &id).expect("lookup"));
    let other = EventId::new("e2").expect("id");
    assert!(
        !store
            .contains_event(&channel("pos"), &other)
            .expect("lookup")
    );
}

#[test]
fn a_duplicate_event_fails_the_whole_commit() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    commit_events(&store, &[event("pos", "e1", "MUG", -1)]);
    let err = store
        .commit(&Commit {
            events: &[event("pos", "e2", "MUG", -1), event("pos", "e1", "MUG", -1)],
            ..Commit::default()
        })
        .expect_err("duplicate");
    assert!(
        matches!(err, StoreError::DuplicateEvent { seq: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("\"e1\" from channel pos"), "{err}");
    let again = [event("pos", "e3", "MUG", -1), event("pos", "e3", "MUG", -1)];
    let err = store
        .commit(&Commit {
            events: &again,
            ..Commit::default()
        })
        .expect_err("duplicate in batch");
    assert!(matches!(err, StoreError::DuplicateEvent { .. }), "{err}");
    assert_eq!(log(&store, 0).len(), 1);
    let e2 = EventId::new("e2").expect("id");
    assert!(!store.contains_event(&channel("pos"), &e2).expect("lookup"));
}

#[test]
fn states_round_trip() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let (mug, cup, state) = (sku("MUG"), sku("CUP"), SkuState::default());
    store
        .checkpoint(&[(&mug, &state), (&cup, &state)], 0)
        .expect("checkpoint");
    let states = store.load_states().expect("states");
    assert_eq!(states, [(cup, state.clone()), (mug, state)]);
}

#[test]
fn a_commit_writes_no_states_and_a_checkpoint_records_its_seq() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let (mug, state) = (sku("MUG"), SkuState::default());
    commit_events(
        &store,
        &[event("pos", "e1", "MUG", -1), event("pos", "e2", "MUG", -1)],
    );
    assert!(store.load_states().expect("states").is_empty());
    assert_eq!(store.checkpoint_seq().expect("checkpoint seq"), 0);
    store.checkpoint(&[(&mug, &state)], 1).expect("checkpoint");
    assert_eq!(store.checkpoint_seq().expect("checkpoint seq"), 1);
    assert_eq!(
        store.load_states().expect("states"),
        [(mug.clone(), state.clone())]
    );
    // Neither past the log's end nor back.
    let ahead = store
        .checkpoint(&[(&mug, &state)], 3)
        .expect_err("ahead of the log");
    assert!(ahead.to_string().contains("outside"), "{ahead}");
    let back = store
        .checkpoint(&[(&mug, &state)], 0)
        .expect_err("backwards");
    assert!(back.to_string().contains("outside"), "{back}");
    assert_eq!(store.checkpoint_seq().expect("checkpoint seq"), 1);
}

#[test]
fn a_checkpoint_past_the_log_is_refused_on_open() {
    let (_tmp, dir) = store_dir();
    {
        let store = open(&dir);
        store
            .meta
            .insert(META_CHECKPOINT_SEQ, &codec::encode_u64(5))
            .expect("raw insert");
        store.db.flush().expect("flush");
    }
    let err = open_err(&dir);
    assert!(
        err.to_string()
            .contains("checkpointed through seq 5 but the log ends at seq 0"),
        "{err}"
    );
}

#[test]
fn a_format_1_store_opens_with_its_states_checkpointed_at_the_log_end() {
    let (_tmp, dir) = store_dir();
    {
        let store = open(&dir);
        commit_events(
            &store,
            &[event("pos", "e1", "MUG", -1), event("pos", "e2", "MUG", -1)],
        );
        store.meta.insert(META_FORMAT, &[1u8]).expect("raw insert");
        store.sync_blocking().expect("sync");
    }
    rewrite_marker_format(&dir, 1);
    let store = open(&dir);
    assert_eq!(store.checkpoint_seq().expect("checkpoint seq"), 2);
    assert_eq!(
        store.meta.get(META_FORMAT).expect("read").as_deref(),
        Some(&[codec::FORMAT_VERSION][..])
    );
}

#[test]
fn a_format_2_store_without_a_write_ahead_log_opens_as_format_3() {
    let (_tmp, dir) = store_dir();
    {
        let store = open(&dir);
        commit_events(&store, &[event("pos", "e1", "MUG", -1)]);
        // What format 2 wrote: no commit numbers, no log directory.
        store.meta.remove(META_COMMIT_NO).expect("raw remove");
        store.meta.insert(META_FORMAT, &[2u8]).expect("raw insert");
        store.sync_blocking().expect("sync");
    }
    std::fs::remove_dir_all(dir.join("wal")).expect("no log in format 2");
    rewrite_marker_format(&dir, 2);
    let store = open(&dir);
    assert_eq!(
        store.meta.get(META_FORMAT).expect("read").as_deref(),
        Some(&[codec::FORMAT_VERSION][..])
    );
    assert_eq!(commit_events(&store, &[event("pos", "e2", "MUG", -1)]), [2]);
}

/// Rewrites both marker slots with another format byte (and a valid checksum).
fn rewrite_marker_format(dir: &std::path::Path, format: u8) {
    let marker = dir.join(durable::MARKER_NAME);
    let mut bytes = std::fs::read(&marker).expect("marker");
    for at in [0usize, 512] {
        if bytes.len() < at + 32 {
            continue;
        }
        bytes[at + 8] = format;
        let sum = bytes[at..at + 24]
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        bytes[at + 24..at + 32].copy_from_slice(&sum.to_be_bytes());
    }
    std::fs::write(&marker, bytes).expect("write marker");
}

#[test]
fn a_bad_state_record_is_named_by_its_key() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    store
        .states
        .insert("MUG", &[9u8, 1][..])
        .expect("raw insert");
    let err = store.load_states().expect_err("bad record");
    let text = err.to_string();
    assert!(text.contains("states record \"MUG\""), "{text}");
    assert!(text.contains("unknown value version 9"), "{text}");
    assert!(text.contains(&dir.display().to_string()), "{text}");
}

#[test]
fn a_bad_log_record_is_an_error_not_a_gap() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    commit_events(&store, &[event("pos", "e1", "MUG", -1)]);
    store
        .log
        .insert(codec::seq_key(1), &b"\x01{not json"[..])
        .expect("raw insert");
    let results: Vec<_> = store.log_from(0).collect();
    assert_eq!(results.len(), 1);
    let err = results
        .into_iter()
        .next()
        .and_then(Result::err)
        .expect("error");
    assert!(err.to_string().contains("log record seq 1"), "{err}");
}

#[test]
fn published_values_round_trip() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let (shop, mug) = (channel("shop"), sku("MUG"));
    assert_eq!(store.published(&shop, &mug).expect("read"), None);
    let value = Published {
        quantity: 7,
        at: Timestamp::from_millis(42),
    };
    store.set_published(&shop, &mug, &value).expect("write");
    assert_eq!(store.published(&shop, &mug).expect("read"), Some(value));
    assert_eq!(store.published(&channel("pos"), &mug).expect("read"), None);
}

#[test]
fn the_outbox_keeps_order_per_channel_and_forgets_confirmed_pushes() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let ids = store
        .enqueue(&[
            push("shop", "MUG", 1),
            push("pos", "MUG", 2),
            push("shop", "CUP", 3),
        ])
        .expect("enqueue");
    assert_eq!(ids, [1, 2, 3]);
    let more = store.enqueue(&[push("shop", "PEN", 4)]).expect("enqueue");
    assert_eq!(more, [4]);
    let shop = channel("shop");
    let pending = store.pending(&shop, 10).expect("pending");
    let targets: Vec<_> = pending.iter().map(|(id, e)| (*id, e.target)).collect();
    assert_eq!(targets, [(1, 1), (3, 3), (4, 4)]);
    assert_eq!(pending[0].1, push("shop", "MUG", 1));
    assert_eq!(store.pending(&shop, 2).expect("pending").len(), 2);
    assert_eq!(store.outbox_len(&shop).expect("len"), 3);
    store.confirm(&shop, &[1, 4, 99], &[]).expect("confirm");
    let left: Vec<_> = store
        .pending(&shop, 10)
        .expect("pending")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(left, [3]);
    assert_eq!(store.outbox_len(&channel("pos")).expect("len"), 1);
}

#[test]
fn channel_names_that_prefix_each_other_do_not_mix() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    store
        .enqueue(&[push("shop", "MUG", 1), push("shop-2", "MUG", 2)])
        .expect("enqueue");
    assert_eq!(store.outbox_len(&channel("shop")).expect("len"), 1);
    assert_eq!(store.outbox_len(&channel("shop-2")).expect("len"), 1);
}

#[tokio::test]
async fn a_reopened_store_has_everything_that_was_synced() {
    let (_tmp, dir) = store_dir();
    let (mug, state) = (sku("MUG"), SkuState::default());
    let value = Published {
        quantity: 5,
        at: Timestamp::from_millis(1),
    };
    {
        let store = open(&dir);
        commit_events(&store, &[event("pos", "e1", "MUG", -1)]);
        store.checkpoint(&[(&mug, &state)], 1).expect("checkpoint");
        store
            .set_published(&channel("shop"), &mug, &value)
            .expect("publish");
        store.enqueue(&[push("shop", "MUG", 5)]).expect("enqueue");
        store.sync().await.expect("sync");
    }
    let store = open(&dir);
    assert_eq!(log(&store, 0).len(), 1);
    assert_eq!(store.load_states().expect("states"), [(mug.clone(), state)]);
    assert_eq!(store.checkpoint_seq().expect("checkpoint seq"), 1);
    assert_eq!(
        store.published(&channel("shop"), &mug).expect("read"),
        Some(value)
    );
    assert_eq!(store.outbox_len(&channel("shop")).expect("len"), 1);
    assert_eq!(
        store.enqueue(&[push("shop", "MUG", 6)]).expect("enqueue"),
        [2]
    );
    assert_eq!(commit_events(&store, &[event("pos", "e2", "MUG", -1)]), [2]);
}

#[test]
fn terms_start_at_one_and_increase_across_reopen() {
    let (_tmp, dir) = store_dir();
    {
        let store = open(&dir);
        assert_eq!(store.begin_term().expect("term"), 1);
        assert_eq!(store.begin_term().expect("term"), 2);
    }
    assert_eq!(open(&dir).begin_term().expect("term"), 3);
}

#[test]
fn an_unknown_format_version_is_refused() {
    let (_tmp, dir) = store_dir();
    {
        let store = open(&dir);
        store.meta.insert(META_FORMAT, &[99u8]).expect("raw insert");
        store.db.flush().expect("flush");
    }
    let err = open_err(&dir);
    let text = err.to_string();
    assert!(
        matches!(
            err,
            StoreError::UnsupportedVersion {
                found: 99,
                supported: 3,
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("format version 99 found, but this build reads version 3"),
        "{text}"
    );
}

#[test]
fn an_unknown_marker_version_is_refused_before_sled_opens() {
    let (_tmp, dir) = store_dir();
    drop(open(&dir));
    let marker = dir.join(durable::MARKER_NAME);
    let mut bytes = std::fs::read(&marker).expect("marker");
    bytes[8] = 7;
    let sum = bytes[..24].iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    bytes[24..32].copy_from_slice(&sum.to_be_bytes());
    std::fs::write(&marker, bytes).expect("write marker");
    let err = open_err(&dir);
    assert!(
        matches!(err, StoreError::UnsupportedVersion { found: 7, .. }),
        "{err}"
    );
}

/// Fills a store with synced events, then lets `damage` at its db file.
async fn damaged_store(
    events: usize,
    damage: impl FnOnce(&Path),
) -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, dir) = store_dir();
    {
        let store = open(&dir);
        let all: Vec<_> = (0..events)
            .map(|i| event("pos", &format!("e{i}"), "MUG", -1))
            .collect();
        // Many commits, as the ingest makes them: meta is written again all along the file.
        for batch in all.chunks(100) {
            commit_events(&store, batch);
        }
        store.sync().await.expect("sync");
    }
    damage(&dir.join("db"));
    (tmp, dir)
}

fn assert_corrupt(dir: &Path, expected: &str) {
    assert_corrupt_as_one_of(dir, &[expected]);
}

/// The store is refused as corrupt, twice, for one of the `expected` reasons.
fn assert_corrupt_as_one_of(dir: &Path, expected: &[&str]) {
    for attempt in ["first", "second"] {
        let err = open_err(dir);
        let text = err.to_string();
        assert!(
            matches!(err, StoreError::Corrupt { .. }),
            "{attempt} open: {text}"
        );
        assert!(
            expected.iter().any(|e| text.contains(e)),
            "{attempt} open: {text}"
        );
        assert!(text.contains(&dir.display().to_string()), "{text}");
    }
}

#[tokio::test]
async fn a_db_file_of_garbage_is_refused_not_reset() {
    let (_tmp, dir) = damaged_store(100, |db| {
        let len = std::fs::metadata(db).expect("db").len();
        std::fs::write(db, vec![0xAB; usize::try_from(len).expect("small")]).expect("garbage");
    })
    .await;
    assert_corrupt(&dir, "sled came back without the store's meta");
}

#[tokio::test]
async fn a_truncated_db_file_is_refused_not_partly_recovered() {
    let (_tmp, dir) = damaged_store(5000, |db| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(db)
            .expect("db");
        let len = file.metadata().expect("db").len();
        file.set_len(len / 2).expect("truncate");
    })
    .await;
    // Which one sled shows depends on where its pages fell in the file, which its
    // background writes decide.
    assert_corrupt_as_one_of(
        &dir,
        &[
            "was made durable but the log ends at seq",
            "sled came back without the store's meta",
            "sled panicked while opening it",
        ],
    );
}

#[tokio::test]
async fn an_emptied_db_file_is_refused_before_sled_touches_it() {
    let (_tmp, dir) = damaged_store(10, |db| {
        std::fs::write(db, b"").expect("empty");
    })
    .await;
    assert_corrupt(&dir, "db file is missing or empty");
}

#[test]
fn a_garbage_marker_is_refused() {
    let (_tmp, dir) = store_dir();
    drop(open(&dir));
    std::fs::write(dir.join(durable::MARKER_NAME), b"garbage").expect("write");
    assert_corrupt(&dir, "holds no valid record");
}

#[test]
fn a_path_that_is_a_file_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("store");
    std::fs::write(&file, b"not a store").expect("write");
    let err = open_err(&file);
    assert!(matches!(err, StoreError::NotADirectory { .. }), "{err}");
    assert!(err.to_string().ends_with("store: not a directory"), "{err}");
}

#[test]
fn a_store_open_elsewhere_is_reported_in_use() {
    let (_tmp, dir) = store_dir();
    let _first = open(&dir);
    let err = open_err(&dir);
    assert!(matches!(err, StoreError::InUse { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("in use by another omnistock process?"),
        "{err}"
    );
}

/// What an fsync adds to sled's flush, per commit of one event. Run with
/// `cargo test --release --lib store::tests::sync_cost -- --ignored --nocapture`;
/// set `OMNISTOCK_BENCH_DIR` to measure on another file system than the temp dir's.
#[tokio::test]
#[ignore = "benchmark: prints timings"]
async fn sync_cost() {
    let base = std::env::var_os("OMNISTOCK_BENCH_DIR").map(std::path::PathBuf::from);
    let tmp = match base {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .expect("tempdir");
    let store = open(&tmp.path().join("store"));
    let rounds = 200;
    let (mut flush_only, mut flush, mut fsync) = (Vec::new(), Vec::new(), Vec::new());
    let mut fsync_inline = Vec::new();
    for i in 0..rounds {
        commit_events(&store, &[event("pos", &format!("a{i}"), "MUG", -1)]);
        let started = Instant::now();
        store.db.flush_async().await.expect("flush");
        flush_only.push(micros(started.elapsed()));
        commit_events(&store, &[event("pos", &format!("c{i}"), "MUG", -1)]);
        store.db.flush_async().await.expect("flush");
        let started = Instant::now();
        store.durability.sync_files().expect("fsync");
        fsync_inline.push(micros(started.elapsed()));
        commit_events(&store, &[event("pos", &format!("b{i}"), "MUG", -1)]);
        let stats = store.sync().await.expect("sync");
        flush.push(stats.flush_micros);
        fsync.push(stats.fsync_micros);
    }
    let median = |v: &mut Vec<u64>| {
        v.sort_unstable();
        (v[v.len() / 2], v[v.len() * 9 / 10])
    };
    println!("store at {}", tmp.path().display());
    println!(
        "flush only:        median/p90 {:?} us",
        median(&mut flush_only)
    );
    println!(
        "fsync of files, inline (no task hop, no marker): median/p90 {:?} us",
        median(&mut fsync_inline)
    );
    println!("sync: flush part   median/p90 {:?} us", median(&mut flush));
    println!("sync: fsync part   median/p90 {:?} us", median(&mut fsync));
}

/// What a checkpoint of 1,000 SKUs with full timelines costs: encoding, and the write
/// (which holds sled's write lock, so commits wait for it). `cargo test --release --lib
/// store::tests::checkpoint_cost -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark: prints timings"]
fn checkpoint_cost() {
    use crate::state::{Actor, Input};
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let owners: std::collections::BTreeMap<LocationId, ChannelId> =
        [(LocationId::new("store").expect("id"), channel("pos"))]
            .into_iter()
            .collect();
    let actor = Actor::new("pos", 1);
    let skus: Vec<Sku> = (0..1000).map(|i| sku(&format!("SKU-{i:04}"))).collect();
    let mut states = Vec::new();
    for s in &skus {
        let mut state = SkuState::default();
        for i in 0..300 {
            let event = StockEvent {
                id: EventId::new(format!("a12-{i:04}-0")).expect("id"),
                occurred_at: Timestamp::from_millis(1_700_000_000_000 + i),
                sku: s.clone(),
                change: StockChange::Adjusted {
                    location: LocationId::new("store").expect("id"),
                    by: 1,
                    reason: String::new(),
                },
            };
            let input = Input {
                channel: &channel("pos"),
                actor: &actor,
                manual: false,
                received_at: event.occurred_at,
                event: &event,
            };
            let _ = state.apply(&input, &owners);
        }
        states.push(state);
    }
    let pairs: Vec<(&Sku, &SkuState)> = skus.iter().zip(&states).collect();
    let started = Instant::now();
    let bytes: usize = states.iter().map(|s| s.encode().len()).sum();
    let encode = started.elapsed();
    for round in 0..3 {
        let started = Instant::now();
        store.checkpoint(&pairs, 0).expect("checkpoint");
        println!(
            "round {round}: checkpoint of {} states ({} KB encoded, encode alone {:?}): {:?}",
            pairs.len(),
            bytes / 1024,
            encode,
            started.elapsed()
        );
    }
}
