//! Holds at a location the channel owns (a store's POS that takes deltas): online orders
//! against the store are taken out of the till's count and put back on cancellation; the
//! till's own sales and counts are never overwritten nor counted twice.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use omnistock_sdk::{
    Capabilities, ChannelId, Connector, ConnectorError, DeltaRequest, ItemLevel, ItemRef, ListPage,
    LocationId, OrderId, PushForm, PushOutcome, PushRequest, Sku, StockChange, StockEvent,
    Timestamp,
};

use super::connectors::PushSide;
use super::poller::PollWaker;
use super::simulation::{config, id};
use super::test_engine::test_channel;
use super::{Engine, Tuning};
use crate::ingest::{Ingest, Submission};

use crate::store::Store;

/// The store's POS: one number for MUG, moved by deltas applied once per idempotency key.
#[derive(Default)]
struct Till {
    shows: Mutex<i64>,
    applied: Mutex<HashMap<String, i64>>,
}

impl Till {
    fn shows(&self) -> i64 {
        *self.shows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, quantity: i64) {
        *self.shows.lock().unwrap_or_else(PoisonError::into_inner) = quantity;
    }
}

struct TillHandle(Arc<Till>);

#[async_trait]
impl Connector for TillHandle {
    fn capabilities(&self) -> Capabilities {
        test_channel::capabilities(PushForm::Delta, 10)
    }

    async fn list(&self, _cursor: Option<String>) -> Result<ListPage, ConnectorError> {
        Ok(test_channel::empty_listing())
    }

    async fn read(&self, items: &[ItemRef]) -> Result<Vec<ItemLevel>, ConnectorError> {
        let store = id("store");
        Ok(items
            .iter()
            .map(|item| test_channel::level(item, &store, self.0.shows()))
            .collect())
    }

    fn parse_webhook(
        &self,
        _headers: &[(String, String)],
        _body: &[u8],
    ) -> Result<Vec<StockEvent>, ConnectorError> {
        Ok(Vec::new())
    }

    fn takes_holds(&self) -> bool {
        true
    }

    fn poll_interval(&self) -> Option<Duration> {
        Some(Duration::from_secs(3600))
    }

    async fn push(&self, batch: &[PushRequest]) -> Result<Vec<PushOutcome>, ConnectorError> {
        panic!("a holding owner is never set: {batch:?}");
    }

    async fn push_deltas(
        &self,
        batch: &[DeltaRequest],
    ) -> Result<Vec<PushOutcome>, ConnectorError> {
        let mut applied = self
            .0
            .applied
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for delta in batch {
            if applied
                .insert(delta.idempotency_key.clone(), delta.by)
                .is_none()
            {
                *self.0.shows.lock().unwrap_or_else(PoisonError::into_inner) += delta.by;
            }
        }
        Ok(vec![PushOutcome::Applied; batch.len()])
    }
}

struct World {
    ingest: Ingest,
    store: Arc<Store>,
    till: Arc<Till>,
    next: i64,
    _dir: tempfile::TempDir,
}

impl World {
    async fn post(&mut self, channel: &str, change: StockChange) {
        self.submit(channel, false, change).await;
    }

    /// An operator's adjustment, as `omnistock adjust` makes it.
    async fn adjust(&mut self, by: i64) {
        let change = StockChange::Adjusted {
            location: id("store"),
            by,
            reason: "cycle count".into(),
        };
        self.submit(crate::ingest::MANUAL_CHANNEL, true, change)
            .await;
    }

    async fn submit(&mut self, channel: &str, manual: bool, change: StockChange) {
        self.next += 1;
        let event = StockEvent {
            id: id(&format!("e{}", self.next)),
            occurred_at: Timestamp::from_millis(1_000 * self.next),
            sku: Sku::new("MUG").expect("sku"),
            change,
        };
        self.ingest
            .submit(Submission {
                channel: id(channel),
                manual,
                events: vec![event],
            })
            .await
            .expect("ingested");
    }

    /// Waits until the till shows `expected` with nothing left to push.
    async fn settles_at(&self, expected: i64, step: &str) {
        let pos: ChannelId = id("pos");
        for _ in 0..1_000 {
            let idle = self.store.outbox_len(&pos).map(|n| n == 0).unwrap_or(false);
            if idle && self.till.shows() == expected {
                // And stays there: nothing else was in flight.
                tokio::time::sleep(Duration::from_millis(100)).await;
                assert_eq!(self.till.shows(), expected, "{step}: moved again");
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "{step}: the till shows {}, expected {expected}",
            self.till.shows()
        );
    }
}

fn opened(order: &str, quantity: u32) -> StockChange {
    StockChange::OrderLineOpened {
        order: OrderId::new(order).expect("order"),
        line: "1".into(),
        location: id::<LocationId>("store"),
        quantity,
    }
}

/// The store's POS, owning `store`, pushed as `shown`; the till starts at 10.
fn start(shown: super::plan::Shown) -> (World, Engine, Arc<tokio::sync::Notify>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = Arc::new(config(dir.path().join("state")));
    let store = Arc::new(Store::open(&config.state_dir).expect("store"));
    let till = Arc::new(Till::default());
    till.set(10);
    let connector = Arc::new(TillHandle(till.clone())) as Arc<dyn Connector>;
    let polls = PollWaker::for_pollers(&BTreeMap::from([(id("pos"), connector.clone())]));
    let poll_now = polls.wake_of(&id("pos")).expect("pos polls");
    let sides = BTreeMap::from([(
        id("pos"),
        PushSide {
            connector,
            limiter: super::connectors::limiter(&config.channels[&id::<ChannelId>("pos")].limits),
            location: id("store"),
            shown,
            listed: None,
        },
    )]);
    let tuning = Tuning {
        idle_poll: Duration::from_millis(20),
        rise_grace: Duration::from_secs(600),
        unseen_sale_bound: Duration::from_millis(300),
        ..Tuning::default()
    };
    let (engine, ingest) = super::test_engine::start(&config, &store, sides, tuning, polls, 1);
    let world = World {
        ingest,
        store,
        till,
        next: 0,
        _dir: dir,
    };
    (world, engine, poll_now)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_orders_are_held_out_of_the_till_and_its_own_sales_and_counts_kept() {
    let (mut world, engine, poll_now) = start(super::plan::Shown::Holds(id("store")));
    let count = |quantity| StockChange::LevelObserved {
        location: id("store"),
        quantity,
    };
    let till_sale = StockChange::Adjusted {
        location: id("store"),
        by: -1,
        reason: "till sale".into(),
    };

    world.post("pos", count(10)).await;
    world.settles_at(10, "the store's count").await;

    world.post("web", opened("w1", 2)).await;
    world
        .settles_at(8, "an online order is held out of the till")
        .await;

    // The till sells one: its number and ours move together, nothing is pushed back.
    world.till.set(7);
    world.post("pos", till_sale.clone()).await;
    world.settles_at(7, "a till sale").await;

    // A count in the store while the order is open finds its 2 units on the shelf: the
    // count replaces the till's number, our hold with it, and the hold is taken again.
    world.till.set(9);
    world.post("pos", count(9)).await;
    world.settles_at(7, "a count while the order is open").await;

    world
        .post(
            "web",
            StockChange::OrderLineCancelled {
                order: OrderId::new("w1").expect("order"),
                line: "1".into(),
                restocked: true,
            },
        )
        .await;
    world.settles_at(9, "a cancelled order is released").await;

    // A till sale whose event is late, then an online order: the sale stays in the number.
    world.till.set(8);
    world.post("web", opened("w2", 1)).await;
    world
        .settles_at(7, "a hold beside an unseen till sale")
        .await;
    // Its event does not come: the till's poller is asked for its recent changes.
    tokio::time::timeout(Duration::from_secs(30), poll_now.notified())
        .await
        .expect("the unseen sale made the pusher ask for a poll");
    world.post("pos", till_sale).await;
    world.settles_at(7, "the till sale's event arrives").await;

    engine.stop(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wms_that_takes_our_adjustments_gets_them_as_deltas_and_keeps_its_own_changes() {
    let (mut world, engine, _) = start(super::plan::Shown::Mirror(id("store")));
    let count = |quantity| StockChange::LevelObserved {
        location: id("store"),
        quantity,
    };
    world.post("pos", count(10)).await;
    world.settles_at(10, "the owner's count is adopted").await;

    // Online orders are not pushed to it: it allocates its own orders.
    world.post("web", opened("w1", 2)).await;
    world
        .settles_at(10, "an order is not a change of its count")
        .await;

    // A cycle count recorded in omnistock reaches it as a difference.
    world.adjust(5).await;
    world.settles_at(15, "our adjustment reaches the WMS").await;

    // A receipt on its side whose count has not reached us yet is never undone.
    world.till.set(18);
    world.adjust(-3).await;
    world
        .settles_at(15, "our next adjustment lands on top of its receipt")
        .await;
    world.post("pos", count(15)).await;
    world
        .settles_at(15, "its count, ours included, changes nothing")
        .await;
    let pushed: i64 = world
        .till
        .applied
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .values()
        .sum();
    assert_eq!(pushed, 5 - 3, "only our two adjustments were pushed");
    engine.stop(Duration::from_secs(5)).await;
}
