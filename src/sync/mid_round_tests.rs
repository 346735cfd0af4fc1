//! A channel's own restock reaching us in the middle of a push round: after the round read
//! the outbox, before it read the channel. The read then shows the restock while the round's
//! published value does not; the pusher must not take it for drift (`Pusher` leaves the slot
//! to the next round, which the writer's replan of the move feeds).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use omnistock_sdk::{
    Capabilities, ChannelId, Connector, ConnectorError, ItemLevel, ItemRef, ListPage, OrderId,
    PushOutcome, PushRequest, Sku, StockChange, StockEvent, Timestamp,
};

use super::connectors::PushSide;
use super::simulation::{SimChannel, SimHandle, config, id};
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
    let event = StockEvent {
        id: id(&format!("e{n}")),
        occurred_at: Timestamp::from_millis(1_000 * n),
        sku: Sku::new("MUG").expect("sku"),
        change,
    };
    Submission {
        channel: id(channel),
        manual: false,
        events: vec![event],
    }
}

fn received(n: i64, by: i64) -> Submission {
    let change = StockChange::Adjusted {
        location: id("wh"),
        by,
        reason: "received".into(),
    };
    submission("wms", n, change)
}

#[tokio::test(flavor = "current_thread")]
async fn a_restock_received_after_the_outbox_was_read_is_not_corrected_as_drift() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = Arc::new(config(dir.path().join("state")));
    let store = Arc::new(Store::open(&config.state_dir).expect("store"));
    let outlet: ChannelId = id("outlet");
    let sim = Arc::new(SimChannel::new(1, 0));
    let midway = Arc::new(Midway {
        channel: SimHandle(sim.clone(), id("wh")),
        before_read: tokio::sync::Mutex::new(None),
    });
    let side = PushSide {
        connector: midway.clone(),
        limiter: super::connectors::limiter(&config.channels[&outlet].limits),
        location: id("wh"),
        shown: super::plan::Shown::Allocation,
        listed: None,
    };
    let clock = ManualClock::at(Timestamp::from_millis(1_000_000));
    let (engine, mut pushers, ingest) = super::test_engine::start_stepped(
        &config,
        &store,
        BTreeMap::from([(outlet.clone(), side)]),
        Arc::new(clock.clone()),
        1,
    );
    let (_, pusher) = &mut pushers[0];
    let shows = || sim.levels()["MUG"];

    // The outlet shows the warehouse's 10, sells 2 and we hear of it.
    ingest.submit(received(1, 10)).await.expect("accepted");
    pusher.step().await;
    assert_eq!(shows(), 10);
    sim.levels().insert("MUG".into(), 8);
    let opened = StockChange::OrderLineOpened {
        order: OrderId::new("o-1").expect("order"),
        line: "1".into(),
        location: id("wh"),
        quantity: 2,
    };
    ingest
        .submit(submission("outlet", 2, opened))
        .await
        .expect("accepted");
    pusher.step().await;

    // It cancels the order and puts the 2 back; its webhook is slow. A delivery raises the
    // target to 9: the pusher sees a rise nothing explains yet, and waits.
    sim.levels().insert("MUG".into(), 10);
    ingest.submit(received(3, 1)).await.expect("accepted");
    pusher.step().await;
    assert_eq!(shows(), 10, "a rise in its grace is left alone");

    // The grace runs out just as the webhook arrives: after the round read the outbox
    // (target 9, published 8), before it read the channel (10, the restock in it).
    clock.advance_millis(1_000);
    let cancelled = StockChange::OrderLineCancelled {
        order: OrderId::new("o-1").expect("order"),
        line: "1".into(),
        restocked: true,
    };
    *midway.before_read.lock().await = Some((ingest.clone(), submission("outlet", 4, cancelled)));
    for _ in 0..3 {
        pusher.step().await;
        clock.advance_millis(1_000);
    }
    assert_eq!(store.outbox_len(&outlet).ok(), Some(0), "settled");
    let published = engine
        .published
        .lock()
        .get(&(outlet.clone(), Sku::new("MUG").expect("sku")))
        .map(|p| p.quantity);
    assert_eq!(
        (shows(), published),
        (11, Some(11)),
        "the outlet shows all 11 and we know it: no sale we have not seen"
    );
}
