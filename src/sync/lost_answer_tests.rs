//! A push whose answer was lost and whose re-send is rejected: the first send may have
//! applied, so the escrow keeps what it asked for in the channel's hold until a later push of
//! the SKU is confirmed (`sync::escrow`, `Escrow::dead_lettered`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use omnistock_sdk::{
    Capabilities, ChannelId, Connector, ConnectorError, ItemLevel, ItemRef, ListPage, PushForm,
    PushOutcome, PushRequest, Sku, StockChange, StockEvent, Timestamp,
};

use super::connectors::PushSide;
use super::poller::PollWaker;
use super::simulation::{config, id};
use super::test_engine::test_channel;
use crate::ingest::{Ingest, Submission};
use crate::store::Store;

/// A channel with one number for MUG whose first push applies but is answered with a
/// timeout, whose second (the re-send) is rejected, and which applies compare-and-sets after.
#[derive(Default)]
struct Flaky {
    shows: Mutex<i64>,
    pushes: Mutex<usize>,
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
    let event = StockEvent {
        id: id(&format!("e{n}")),
        occurred_at: Timestamp::from_millis(1_000 * n as i64),
        sku: Sku::new("MUG").expect("sku"),
        change: StockChange::Adjusted {
            location: id("wh"),
            by,
            reason: "received".into(),
        },
    };
    let submission = Submission {
        channel: id("wms"),
        manual: false,
        events: vec![event],
    };
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
    let side = PushSide {
        connector: Arc::new(FlakyHandle(flaky.clone())),
        limiter: super::connectors::limiter(&config.channels[&outlet].limits),
        location: id("wh"),
        shown: super::plan::Shown::Allocation,
        listed: None,
    };
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
