//! Replay at start gives the states the live writer had: after a crash with no checkpoint,
//! after one midway, and again after the replay's own checkpoint.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use omnistock_sdk::{
    ChannelId, EventId, LocationId, OrderId, Sku, StockChange, StockEvent, Timestamp,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::*;
use crate::clock::ManualClock;
use crate::state::Replica;
use crate::sync::{Planner, PublishedBook, Waker};

const TERM: u64 = 3;

const CONFIG: &str = r#"node_id = "node-1"
listen = "127.0.0.1:0"

[api]
admin_token = { env = "ADMIN" }

[locations.store]
owner = "pos"

[locations.wh]
owner = "wms"

[channels.pos]
kind = "generic"
webhook_secret = { env = "POS" }
sells_from = ["store"]

[channels.wms]
kind = "generic"
webhook_secret = { env = "WMS" }
sells_from = ["wh"]

[channels.web]
kind = "generic"
webhook_secret = { env = "WEB" }
sells_from = ["store", "wh"]
"#;

fn config() -> Config {
    let env = |name: &str| Some(format!("{name}-secret-value-0123456789"));
    crate::config::parse_with(Path::new("omnistock.toml"), CONFIG, &env).expect("valid config")
}

/// Submission `n`: a mix of every kind of input, over a few SKUs and both locations.
fn submission(n: usize) -> Submission {
    let (channel, manual, change) = match n % 7 {
        0 | 1 => (
            "pos",
            false,
            StockChange::Adjusted {
                location: LocationId::new("store").expect("id"),
                by: if n.is_multiple_of(2) { 2 } else { -1 },
                reason: String::new(),
            },
        ),
        2 => (
            "wms",
            false,
            StockChange::LevelObserved {
                location: LocationId::new("wh").expect("id"),
                quantity: (n % 13) as i64,
            },
        ),
        3 => (
            "web",
            false,
            StockChange::OrderLineOpened {
                order: OrderId::new(format!("o-{}", n / 7)).expect("id"),
                line: "1".to_owned(),
                location: LocationId::new("wh").expect("id"),
                quantity: 1,
            },
        ),
        4 => (
            "web",
            false,
            StockChange::OrderLineFulfilled {
                order: OrderId::new(format!("o-{}", n / 7)).expect("id"),
                line: "1".to_owned(),
                channel: None,
                quantity: None,
            },
        ),
        5 => (
            "web",
            false,
            StockChange::LevelObserved {
                location: LocationId::new("store").expect("id"),
                quantity: (n % 5) as i64,
            },
        ),
        _ => (
            MANUAL_CHANNEL,
            true,
            StockChange::Adjusted {
                location: LocationId::new("store").expect("id"),
                by: 3,
                reason: "recount".to_owned(),
            },
        ),
    };
    // Times go back now and then: late inputs take the same path in both runs.
    let at = 1_000_000 + (n as i64 * 37) % 500 * 1_000;
    Submission {
        channel: ChannelId::new(channel).expect("id"),
        manual,
        events: vec![StockEvent {
            id: EventId::new(format!("ev-{n}")).expect("id"),
            occurred_at: Timestamp::from_millis(at),
            sku: Sku::new(format!("SKU-{}", n % 5)).expect("id"),
            change,
        }],
    }
}

fn start(store: &Arc<Store>, states: Vec<(Sku, SkuState)>) -> (Ingest, JoinHandle<()>) {
    let (_config_tx, config_rx) = watch::channel(Arc::new(config()));
    Ingest::start(IngestSetup {
        store: store.clone(),
        states,
        term: TERM,
        config: config_rx,
        clock: Arc::new(ManualClock::at(Timestamp::from_millis(5_000_000))),
        metrics: Arc::new(Metrics::new()),
        checkpoint_every: Duration::from_secs(3600),
        sync: SyncHooks {
            planner: Planner::new(BTreeMap::new(), &[], &[]),
            published: PublishedBook::from_store(Vec::new()),
            waker: Waker::default(),
            feed: crate::feed::Feed::default(),
        },
    })
}

/// Submits `range` one by one, each answered only after its sync.
async fn submit_all(ingest: &Ingest, range: std::ops::Range<usize>) {
    for n in range {
        ingest.submit(submission(n)).await.expect("submitted");
    }
}

fn snapshot(ingest: &Ingest) -> BTreeMap<Sku, SkuState> {
    ingest
        .view()
        .read()
        .iter()
        .map(|(sku, state)| (sku.clone(), SkuState::clone(state)))
        .collect()
}

/// Kills the writer without letting it checkpoint, and closes the store.
async fn crash(ingest: Ingest, writer: JoinHandle<()>, store: Arc<Store>) -> std::path::PathBuf {
    writer.abort();
    let _ = writer.await;
    drop(ingest);
    let dir = store.path().to_path_buf();
    drop(Arc::into_inner(store).expect("the only handle on the store"));
    dir
}

fn recovered(store: &Store, term: u64) -> BTreeMap<Sku, SkuState> {
    recover(store, &config(), term)
        .expect("recovered")
        .into_iter()
        .collect()
}

#[tokio::test]
async fn a_crash_without_checkpoint_replays_to_the_states_it_had() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(Store::open(&tmp.path().join("state")).expect("open"));
    let (ingest, writer) = start(&store, Vec::new());
    submit_all(&ingest, 0..120).await;
    let before = snapshot(&ingest);
    let dir = crash(ingest, writer, store).await;

    let store = Store::open(&dir).expect("reopen");
    assert_eq!(store.checkpoint_seq().expect("checkpoint seq"), 0);
    assert!(store.load_states().expect("states").is_empty());
    assert_eq!(recovered(&store, TERM), before);
    // The replay checkpointed: the next start replays nothing and reads the same.
    assert_eq!(store.checkpoint_seq().expect("checkpoint seq"), 120);
    assert_eq!(recovered(&store, TERM + 1), before);
}

#[tokio::test]
async fn a_crash_after_a_checkpoint_replays_only_the_rest() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(Store::open(&tmp.path().join("state")).expect("open"));
    let (ingest, writer) = start(&store, Vec::new());
    submit_all(&ingest, 0..70).await;
    ingest.checkpoint().await;
    assert_eq!(store.checkpoint_seq().expect("checkpoint seq"), 70);
    submit_all(&ingest, 70..150).await;
    let before = snapshot(&ingest);
    let dir = crash(ingest, writer, store).await;

    let store = Arc::new(Store::open(&dir).expect("reopen"));
    assert_eq!(store.checkpoint_seq().expect("checkpoint seq"), 70);
    let replayed = recover::replay(&store, &config(), TERM).expect("replay");
    assert_eq!(replayed.events, 80);
    let again = recover::replay(&store, &config(), TERM).expect("replay");
    assert_eq!(again.states, replayed.states, "replay is repeatable");
    let states = recovered(&store, TERM);
    assert_eq!(states, before);

    // And the live path goes on from the recovered states as it would have.
    let (ingest, writer) = start(&store, states.into_iter().collect());
    submit_all(&ingest, 150..160).await;
    assert_eq!(
        ingest.submit(submission(3)).await.expect("dup"),
        [Outcome::Duplicate]
    );
    drop(ingest);
    writer.await.expect("writer drained");
    // A clean stop checkpoints everything.
    assert_eq!(store.checkpoint_seq().expect("checkpoint seq"), 160);
}

#[tokio::test]
async fn a_checkpoint_interrupted_by_a_crash_is_not_applied_twice() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(Store::open(&tmp.path().join("state")).expect("open"));
    let (ingest, writer) = start(&store, Vec::new());
    submit_all(&ingest, 0..60).await;
    ingest.checkpoint().await;
    // Long delta runs, so replaying a delta twice would show (the fold is not idempotent).
    for n in 60..400 {
        let mut s = submission(n);
        s.channel = ChannelId::new("pos").expect("id");
        s.manual = false;
        s.events[0].change = StockChange::Adjusted {
            location: LocationId::new("store").expect("id"),
            by: 1,
            reason: String::new(),
        };
        ingest.submit(s).await.expect("submitted");
    }
    let before = snapshot(&ingest);
    // The next checkpoint wrote two of the five states, then the process died.
    let part: Vec<(&Sku, &SkuState)> = before.iter().take(2).collect();
    store
        .checkpoint_interrupted(&part, 400)
        .expect("states written");
    let dir = crash(ingest, writer, store).await;

    let store = Store::open(&dir).expect("reopen");
    assert_eq!(store.checkpoint_seq().expect("checkpoint seq"), 60);
    assert_eq!(recovered(&store, TERM), before);
}

/// What stock means, without the counter actors: a replay as a new term writes the same
/// numbers under that term's actors.
fn numbers(states: &BTreeMap<Sku, SkuState>) -> Vec<(Sku, SkuState)> {
    states
        .iter()
        .map(|(sku, state)| {
            let mut state = state.clone();
            let on_hand: Vec<(LocationId, i64)> = state
                .replica
                .on_hand
                .keys()
                .map(|l| (l.clone(), state.on_hand(l)))
                .collect();
            state.replica = Replica {
                on_hand: BTreeMap::new(),
                ..state.replica
            };
            for (location, value) in on_hand {
                state.replica.on_hand.insert(
                    location,
                    crate::state::OnHandCounter::default()
                        .moved_to(value, &crate::state::Actor::new("x", 0)),
                );
            }
            (sku.clone(), state)
        })
        .collect()
}

#[tokio::test]
async fn a_replay_as_a_new_term_gives_the_same_numbers() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(Store::open(&tmp.path().join("state")).expect("open"));
    let (ingest, writer) = start(&store, Vec::new());
    submit_all(&ingest, 0..40).await;
    ingest.checkpoint().await;
    submit_all(&ingest, 40..90).await;
    let before = snapshot(&ingest);
    let dir = crash(ingest, writer, store).await;

    let store = Store::open(&dir).expect("reopen");
    let after = recovered(&store, TERM + 1);
    assert_eq!(numbers(&after), numbers(&before));
    assert_ne!(after, before, "the replayed moves are the new term's");
}
