//! A push whose answer was lost and whose re-send is rejected: the first send may have
//! applied, so the escrow keeps what it asked for in the channel's hold until a later push of
//! the SKU is confirmed (`sync::escrow`, `Escrow::dead_lettered`), across a restart too
//! (`Escrow::rebuilt`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use omnistock_sdk::{
    Capabilities, ChannelId, Connector, ConnectorError, ItemLevel, ItemRef, ListPage, OrderId,
    PushForm, PushOutcome, PushRequest, Sku, StockChange, StockEvent, Timestamp,
};

use super::connectors::PushSide;
use super::poller::PollWaker;
use super::simulation::{config, id};
use super::test_engine::{allocation_side, mug_submission};
use super::test_engine::{start_stepped, test_channel};
use crate::clock::{Clock, ManualClock};
use crate::config::{ChannelConfig, Config, Policy};
use crate::ingest::Ingest;
use crate::store::{LostPush, OutboxEntry, Store};

/// A channel with one number for MUG whose first push applies but is answered with a
/// timeout, whose second (the re-send) is rejected (or, `resend_applies`, answered applied
/// by its idempotency key, changing nothing), and which applies compare-and-sets after.
#[derive(Default)]
struct Flaky {
    shows: Mutex<i64>,
    pushes: Mutex<usize>,
    resend_applies: bool,
}

impl Flaky {
    /// A channel whose pushes are all answered: compare-and-sets, applied if they match.
    fn reliable() -> Self {
        Self {
            pushes: Mutex::new(2),
            ..Self::default()
        }
    }

    fn shows(&self) -> i64 {
        *self.shows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The channel sells `quantity` on its own.
    fn sell(&self, quantity: i64) {
        *self.shows.lock().unwrap_or_else(PoisonError::into_inner) -= quantity;
    }
}

struct FlakyHandle(Arc<Flaky>);

#[async_trait]
impl Connector for FlakyHandle {
    fn capabilities(&self) -> Capabilities {
        test_channel::capabilities(PushForm::CompareAndSet, 10)
    }

    async fn list(&self, _cursor: Option<String>) -> Result<ListPage, ConnectorError> {
        Ok(test_channel::empty_listing())
    }

    async fn read(&self, items: &[ItemRef]) -> Result<Vec<ItemLevel>, ConnectorError> {
        let shows = *self.0.shows.lock().unwrap_or_else(PoisonError::into_inner);
        let wh = id("wh");
        Ok(items
            .iter()
            .map(|item| test_channel::level(item, &wh, shows))
            .collect())
    }

    fn parse_webhook(
        &self,
        _headers: &[(String, String)],
        _body: &[u8],
    ) -> Result<Vec<StockEvent>, ConnectorError> {
        Ok(Vec::new())
    }

    async fn push(&self, batch: &[PushRequest]) -> Result<Vec<PushOutcome>, ConnectorError> {
        let call = {
            let mut pushes = self.0.pushes.lock().unwrap_or_else(PoisonError::into_inner);
            *pushes += 1;
            *pushes
        };
        let mut shows = self.0.shows.lock().unwrap_or_else(PoisonError::into_inner);
        match call {
            1 => {
                *shows = batch[0].target;
                Err(ConnectorError::Retryable("timed out after sending".into()))
            }
            2 if self.0.resend_applies => Ok(vec![PushOutcome::Applied]),
            2 => Ok(vec![PushOutcome::Rejected("access revoked".into())]),
            _ => Ok(batch
                .iter()
                .map(|request| {
                    if *shows == request.expected {
                        *shows = request.target;
                        PushOutcome::Applied
                    } else {
                        PushOutcome::StaleCompare {
                            actual: Some(*shows),
                        }
                    }
                })
                .collect()),
        }
    }
}

async fn adjust(ingest: &Ingest, n: usize, by: i64) {
    let change = StockChange::Adjusted {
        location: id("wh"),
        by,
        reason: "received".into(),
    };
    let submission = mug_submission("wms", &format!("e{n}"), 1_000 * n as i64, change);
    ingest.submit(submission).await.expect("accepted");
}

/// Polls `done` every 10 ms for up to 10 s.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..1_000 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_resend_of_a_lost_push_stays_in_the_hold_until_a_push_is_confirmed() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = Arc::new(config(dir.path().join("state")));
    let store = Arc::new(Store::open(&config.state_dir).expect("store"));
    let flaky = Arc::new(Flaky::default());
    let outlet: ChannelId = id("outlet");
    let side = allocation_side(
        &config,
        &outlet,
        id("wh"),
        Arc::new(FlakyHandle(flaky.clone())),
    );
    let (engine, ingest) = super::test_engine::start(
        &config,
        &store,
        BTreeMap::from([(outlet.clone(), side)]),
        super::test_engine::fast_tuning(),
        PollWaker::default(),
        7,
    );
    let mug = Sku::new("MUG").expect("sku");
    let hold = || {
        let published = engine
            .published
            .lock()
            .get(&(outlet.clone(), mug.clone()))
            .map(|p| p.quantity);
        engine.published.escrow().hold(&outlet, &mug, published)
    };

    adjust(&ingest, 1, 10).await;
    assert!(
        eventually(|| store.dead_len(&outlet).ok() == Some(1)).await,
        "the re-send is dead-lettered"
    );
    assert_eq!(
        *flaky.shows.lock().unwrap_or_else(PoisonError::into_inner),
        10,
        "the lost send applied"
    );
    assert_eq!(hold(), 10, "what it may show stays held");

    adjust(&ingest, 2, -6).await;
    assert!(
        eventually(|| store.outbox_len(&outlet).ok() == Some(0)).await,
        "the lower is confirmed"
    );
    assert_eq!(hold(), 4, "a confirmed push read what it shows");
    engine.stop(Duration::from_secs(5)).await;
}

/// `a` and `b`: strict channels sharing the warehouse, without buffers.
pub(super) fn strict_pair(dir: std::path::PathBuf) -> Config {
    let mut config = config(dir);
    let outlet = config.channels[&id::<ChannelId>("outlet")].clone();
    config
        .channels
        .retain(|c, _| c.as_str() == "pos" || c.as_str() == "wms");
    for name in ["a", "b"] {
        let strict = ChannelConfig {
            policy: Policy::Strict,
            ..outlet.clone()
        };
        config.channels.insert(id(name), strict);
    }
    config
}

/// The push sides of `a` and `b`.
fn sides(config: &Config, a: &Arc<Flaky>, b: &Arc<Flaky>) -> BTreeMap<ChannelId, PushSide> {
    [("a", a), ("b", b)]
        .into_iter()
        .map(|(name, flaky)| {
            let connector = Arc::new(FlakyHandle(flaky.clone()));
            let side = allocation_side(config, &id(name), id("wh"), connector);
            (id(name), side)
        })
        .collect()
}

/// What `channel` holds of `sku`.
fn hold_of(engine: &super::Engine, channel: &ChannelId, sku: &Sku) -> i64 {
    let published = engine
        .published
        .lock()
        .get(&(channel.clone(), sku.clone()))
        .map(|p| p.quantity);
    engine.published.escrow().hold(channel, sku, published)
}

/// Closes the store once the engine and writer that shared it are gone, and opens it again.
pub(super) async fn reopen(mut store: Arc<Store>, config: &Config) -> Arc<Store> {
    for _ in 0..1_000 {
        match Arc::try_unwrap(store) {
            Ok(closed) => {
                drop(closed);
                return Arc::new(Store::open(&config.state_dir).expect("reopened store"));
            }
            Err(shared) => store = shared,
        }
        // The writer drains and stops once every ingest handle is dropped.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the store is still shared");
}

#[tokio::test]
async fn a_lost_push_dead_lettered_before_a_restart_stays_in_the_hold_until_a_push_is_confirmed() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = Arc::new(strict_pair(dir.path().join("state")));
    let store = Arc::new(Store::open(&config.state_dir).expect("store"));
    let (a, b) = (Arc::new(Flaky::default()), Arc::new(Flaky::reliable()));
    let (a_id, mug): (ChannelId, Sku) = (id("a"), id("MUG"));
    let clock = Arc::new(ManualClock::at(Timestamp::from_millis(1_000_000)));
    let (engine, mut pushers, ingest) =
        start_stepped(&config, &store, sides(&config, &a, &b), clock.clone(), 3);
    let hold = |engine: &super::Engine, channel: &ChannelId| hold_of(engine, channel, &mug);

    // 20 units: 10 each. `a`'s push applies, its answer is lost, its re-send is rejected.
    adjust(&ingest, 1, 20).await;
    for (_, pusher) in &mut pushers {
        pusher.step().await;
    }
    pushers[0].1.step().await;
    assert_eq!((a.shows(), b.shows()), (10, 10));
    assert_eq!(
        store.dead_len(&a_id).ok(),
        Some(1),
        "the re-send is dead-lettered"
    );
    // `b` sells 2: of the 18 left, `a`'s share is 5 (a lower, not pushed before the
    // restart) and `b`'s 13, a raise capped while `a` may show 10.
    b.sell(2);
    own_sale(&ingest, "b", "b1", 2).await;
    pushers[1].1.step().await;
    assert_eq!(b.shows(), 8, "capped");
    assert_eq!(hold(&engine, &a_id), 10);

    drop((engine, pushers, ingest));
    let store = reopen(store, &config).await;
    let (engine, mut pushers, ingest) =
        start_stepped(&config, &store, sides(&config, &a, &b), clock, 4);
    let mut replans = engine.published.escrow().replans();
    assert!(
        ingest.ping(Duration::from_secs(5)).await,
        "the writer planned at start"
    );
    assert_eq!(
        hold(&engine, &a_id),
        10,
        "what the lost push may have left is held again"
    );
    pushers[1].1.step().await;
    assert_eq!(b.shows(), 8, "`b` is still capped: `a` shows 10 of the 18");

    // The push planned at start for `a` is confirmed: its compare read what `a` shows.
    pushers[0].1.step().await;
    assert_eq!(a.shows(), 5);
    assert_eq!(hold(&engine, &a_id), 5, "the doubt is cleared");
    while let Ok((channel, sku)) = replans.try_recv() {
        ingest.replan(channel, vec![sku]).await.expect("replanned");
    }
    pushers[1].1.step().await;
    assert_eq!(b.shows(), 13, "the units the doubt held go to `b`");
}

/// `channel` sells `quantity` MUG at the warehouse, in order `order`, and its webhook arrives.
async fn own_sale(ingest: &Ingest, channel: &str, order: &str, quantity: u32) {
    let sale = StockChange::OrderLineOpened {
        order: OrderId::new(order.to_owned()).expect("order"),
        line: "1".into(),
        location: id("wh"),
        quantity,
    };
    let submission = mug_submission(channel, order, 5_000, sale);
    ingest.submit(submission).await.expect("accepted");
}

#[tokio::test]
async fn a_sale_before_a_lost_first_push_is_confirmed_moves_what_it_publishes() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = Arc::new(strict_pair(dir.path().join("state")));
    let store = Arc::new(Store::open(&config.state_dir).expect("store"));
    let a = Arc::new(Flaky {
        resend_applies: true,
        ..Flaky::default()
    });
    let b = Arc::new(Flaky::reliable());
    let (a_id, mug): (ChannelId, Sku) = (id("a"), id("MUG"));
    let clock = Arc::new(ManualClock::at(Timestamp::from_millis(1_000_000)));
    let (engine, mut pushers, ingest) =
        start_stepped(&config, &store, sides(&config, &a, &b), clock, 3);
    let published = || {
        engine
            .published
            .lock()
            .get(&(a_id.clone(), mug.clone()))
            .map(|p| p.quantity)
    };

    // `a`'s first push (0 to 5) applies, its answer is lost; then `a` sells 2 and its order
    // reaches us before the re-send is answered (applied, by its idempotency key).
    adjust(&ingest, 1, 10).await;
    pushers[0].1.step().await;
    assert_eq!((a.shows(), published()), (5, None));
    a.sell(2);
    own_sale(&ingest, "a", "a1", 2).await;
    assert_eq!(
        hold_of(&engine, &a_id, &mug),
        3,
        "the pending first push lands 2 lower"
    );
    pushers[0].1.step().await;
    assert_eq!(
        published(),
        Some(3),
        "what `a` shows: the sale is not taken for one we have not seen"
    );
    assert_eq!(a.shows(), 3);
}

#[tokio::test]
async fn a_doubt_rebuilt_at_start_is_cleared_by_the_push_planned_for_it() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = Arc::new(strict_pair(dir.path().join("state")));
    let store = Arc::new(Store::open(&config.state_dir).expect("store"));
    let (a, b) = (Arc::new(Flaky::reliable()), Arc::new(Flaky::reliable()));
    let (a_id, mug): (ChannelId, Sku) = (id("a"), id("MUG"));
    let clock = Arc::new(ManualClock::at(Timestamp::from_millis(1_000_000)));
    let (engine, mut pushers, ingest) =
        start_stepped(&config, &store, sides(&config, &a, &b), clock.clone(), 3);
    adjust(&ingest, 1, 10).await;
    for (_, pusher) in &mut pushers {
        pusher.step().await;
    }
    assert_eq!((a.shows(), b.shows()), (5, 5));
    // A raise of `a` to 10 was sent, applied, its answer lost, and its re-send rejected;
    // `a`'s number is back at its share, which is what it was last confirmed at.
    let ids = store
        .enqueue(&[OutboxEntry {
            channel: a_id.clone(),
            sku: mug.clone(),
            target: 10,
            created_at: clock.now(),
            attempt: None,
            lost: None,
        }])
        .expect("enqueued");
    let lost = LostPush {
        asked: 10,
        published: Some(5),
    };
    store
        .dead_letter(&a_id, &ids, "rejected", clock.now(), Some(&lost))
        .expect("dead-lettered");
    a.sell(-5);

    drop((engine, pushers, ingest));
    let store = reopen(store, &config).await;
    let (engine, mut pushers, ingest) =
        start_stepped(&config, &store, sides(&config, &a, &b), clock.clone(), 4);
    assert!(
        ingest.ping(Duration::from_secs(5)).await,
        "the writer planned at start"
    );
    assert_eq!(hold_of(&engine, &a_id, &mug), 10);
    // Nothing moved `a`'s target: only the push planned for the doubt corrects it (after
    // the grace an unexplained rise gets), and its confirmation clears the doubt.
    pushers[0].1.step().await;
    clock.advance_millis(1_000);
    pushers[0].1.step().await;
    assert_eq!(a.shows(), 5);
    assert_eq!(hold_of(&engine, &a_id, &mug), 5);
}
