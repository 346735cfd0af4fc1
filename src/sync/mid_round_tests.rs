//! A channel's own restocks reaching us in the middle of a push round: after the round read
//! the outbox, before it read the channel. The read then shows the restock while the round's
//! published value does not; the pusher must not take it for drift (`Pusher` leaves the slot
//! to the next round, which the writer's replan of the move feeds), nor let the rise it
//! explained lend its age to the next one.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use omnistock_sdk::{
    Capabilities, ChannelId, Connector, ConnectorError, ItemLevel, ItemRef, ListPage, OrderId,
    PushOutcome, PushRequest, Sku, StockChange, StockEvent, Timestamp,
};

use super::simulation::{SimChannel, SimHandle, config, id};
use super::test_engine::{allocation_side, mug_submission};
use crate::clock::ManualClock;
use crate::ingest::{Ingest, Submission};
use crate::store::Store;

/// A simulated channel that receives a webhook of ours when it is next read, before reading.
struct Midway {
    channel: SimHandle,
    before_read: tokio::sync::Mutex<Option<(Ingest, Submission)>>,
}

#[async_trait]
impl Connector for Midway {
    fn capabilities(&self) -> Capabilities {
        self.channel.capabilities()
    }

    async fn list(&self, cursor: Option<String>) -> Result<ListPage, ConnectorError> {
        self.channel.list(cursor).await
    }

    async fn read(&self, items: &[ItemRef]) -> Result<Vec<ItemLevel>, ConnectorError> {
        if let Some((ingest, submission)) = self.before_read.lock().await.take() {
            ingest.submit(submission).await.expect("accepted");
        }
        self.channel.read(items).await
    }

    fn parse_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<StockEvent>, ConnectorError> {
        self.channel.parse_webhook(headers, body)
    }

    async fn push(&self, batch: &[PushRequest]) -> Result<Vec<PushOutcome>, ConnectorError> {
        self.channel.push(batch).await
    }
}

fn submission(channel: &str, n: i64, change: StockChange) -> Submission {
    mug_submission(channel, &format!("e{n}"), 1_000 * n, change)
}

fn received(n: i64, by: i64) -> Submission {
    let change = StockChange::Adjusted {
        location: id("wh"),
        by,
        reason: "received".into(),
    };
    submission("wms", n, change)
}

/// The outlet (pooled, the warehouse's number) on a stepped engine and a manual clock.
struct Outlet {
    sim: Arc<SimChannel>,
    midway: Arc<Midway>,
    clock: ManualClock,
    engine: super::Engine,
    pusher: super::pusher::Pusher,
    ingest: Ingest,
    store: Arc<Store>,
    _dir: tempfile::TempDir,
}

impl Outlet {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = Arc::new(config(dir.path().join("state")));
        let store = Arc::new(Store::open(&config.state_dir).expect("store"));
        let outlet: ChannelId = id("outlet");
        let sim = Arc::new(SimChannel::new(1, 0));
        let midway = Arc::new(Midway {
            channel: SimHandle(sim.clone(), id("wh")),
            before_read: tokio::sync::Mutex::new(None),
        });
        let side = allocation_side(&config, &outlet, id("wh"), midway.clone());
        let clock = ManualClock::at(Timestamp::from_millis(1_000_000));
        let (engine, mut pushers, ingest) = super::test_engine::start_stepped(
            &config,
            &store,
            BTreeMap::from([(outlet, side)]),
            Arc::new(clock.clone()),
            1,
        );
        let (_, pusher) = pushers.pop().expect("the outlet's pusher");
        Self {
            sim,
            midway,
            clock,
            engine,
            pusher,
            ingest,
            store,
            _dir: dir,
        }
    }

    fn shows(&self) -> i64 {
        self.sim.levels()["MUG"]
    }

    fn set_level(&self, level: i64) {
        self.sim.levels().insert("MUG".into(), level);
    }

    async fn submit(&self, submission: Submission) {
        self.ingest.submit(submission).await.expect("accepted");
    }

    /// The outlet's order `order` of `quantity`, received.
    async fn sells(&mut self, n: i64, order: &str, quantity: u32) {
        self.set_level(self.shows() - i64::from(quantity));
        let opened = StockChange::OrderLineOpened {
            order: OrderId::new(order).expect("order"),
            line: "1".into(),
            location: id("wh"),
            quantity,
        };
        self.submit(submission("outlet", n, opened)).await;
        self.pusher.step().await;
    }

    /// Received on its next read, before it reads.
    async fn on_next_read(&self, submission: Submission) {
        *self.midway.before_read.lock().await = Some((self.ingest.clone(), submission));
    }

    /// Steps and lets time pass until the outbox is empty; returns what the outlet shows
    /// and what we published.
    async fn settle(&mut self) -> (i64, Option<i64>) {
        for _ in 0..3 {
            self.pusher.step().await;
            self.clock.advance_millis(1_000);
        }
        assert_eq!(
            self.store.outbox_len(&id("outlet")).ok(),
            Some(0),
            "settled"
        );
        let published = self
            .engine
            .published
            .lock()
            .get(&(id("outlet"), Sku::new("MUG").expect("sku")))
            .map(|p| p.quantity);
        (self.shows(), published)
    }
}

fn cancelled(n: i64, order: &str) -> Submission {
    let change = StockChange::OrderLineCancelled {
        order: OrderId::new(order).expect("order"),
        line: "1".into(),
        restocked: true,
    };
    submission("outlet", n, change)
}

#[tokio::test(flavor = "current_thread")]
async fn a_restock_received_after_the_outbox_was_read_is_not_corrected_as_drift() {
    let mut outlet = Outlet::start();
    // The outlet shows the warehouse's 10, sells 2 and we hear of it.
    outlet.submit(received(1, 10)).await;
    outlet.pusher.step().await;
    assert_eq!(outlet.shows(), 10);
    outlet.sells(2, "o-1", 2).await;

    // It cancels the order and puts the 2 back; its webhook is slow. A delivery raises the
    // target to 9: the pusher sees a rise nothing explains yet, and waits.
    outlet.set_level(10);
    outlet.submit(received(3, 1)).await;
    outlet.pusher.step().await;
    assert_eq!(outlet.shows(), 10, "a rise in its grace is left alone");

    // The grace runs out just as the webhook arrives: after the round read the outbox
    // (target 9, published 8), before it read the channel (10, the restock in it).
    outlet.clock.advance_millis(1_000);
    outlet.on_next_read(cancelled(4, "o-1")).await;
    assert_eq!(
        outlet.settle().await,
        (11, Some(11)),
        "the outlet shows all 11 and we know it: no sale we have not seen"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_rise_explained_meanwhile_does_not_age_the_next_one() {
    let mut outlet = Outlet::start();
    outlet.submit(received(1, 10)).await;
    outlet.pusher.step().await;
    outlet.sells(2, "o-1", 2).await;
    outlet.sells(3, "o-2", 1).await;
    assert_eq!(outlet.shows(), 7);

    // o-1 is cancelled and restocked (its webhook slow); a delivery makes a push to read it:
    // a rise of 2 above 7, whose grace starts.
    outlet.set_level(9);
    outlet.submit(received(4, 1)).await;
    outlet.pusher.step().await;
    outlet.clock.advance_millis(100);
    // Its webhook arrives mid-round: the round leaves the slot without looking at the rise.
    outlet.on_next_read(cancelled(5, "o-1")).await;
    outlet.pusher.step().await;

    // o-2 is cancelled and restocked too, its webhook slow: a new rise of 1 above 9, 100 ms
    // old when the first one would be 200 ms old, past the 150 ms grace.
    outlet.set_level(10);
    outlet.clock.advance_millis(100);
    outlet.pusher.step().await;
    assert_eq!(outlet.shows(), 10, "the new rise is in its own grace");
    outlet.submit(cancelled(6, "o-2")).await;
    assert_eq!(
        outlet.settle().await,
        (11, Some(11)),
        "the outlet shows all 11 and we know it: no sale we have not seen"
    );
}
