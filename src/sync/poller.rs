//! One poller per channel whose connector polls: the safety net behind webhooks, and the only
//! input of channels without them (a file feed, a WMS's shipments, Square's change feed).
//!
//! A round asks the connector for the page after the saved cursor, submits the page's events
//! to ingest like a webhook's, and saves the page's cursor only once they are acknowledged:
//! a crash in between polls the page again, and its events are duplicates by id. A page that
//! says more are waiting is followed at once; otherwise the poller sleeps for the connector's
//! interval or until a webhook asks for a poll now (`WebhookReport::poll_now`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use omnistock_sdk::{ChannelId, Connector, ConnectorError};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::backoff::Backoff;
use super::book::StatusBoard;
use super::connectors::Limiter;
use crate::config::{Config, GENERIC_LIMITS};
use crate::ingest::{Ingest, Submission, check_events};
use crate::store::Store;

/// Wakes a channel's poller early: a webhook said something changed.
#[derive(Clone, Default)]
pub struct PollWaker(Arc<BTreeMap<ChannelId, Arc<Notify>>>);

impl PollWaker {
    /// A waker for the channels among `connectors` that poll.
    pub fn for_pollers(connectors: &BTreeMap<ChannelId, Arc<dyn Connector>>) -> Self {
        Self(Arc::new(
            connectors
                .iter()
                .filter(|(_, c)| c.poll_interval().is_some())
                .map(|(id, _)| (id.clone(), Arc::new(Notify::new())))
                .collect(),
        ))
    }

    /// The wake-up of `channel`'s poller, for tests that stand in for it.
    #[cfg(test)]
    pub fn wake_of(&self, channel: &ChannelId) -> Option<Arc<Notify>> {
        self.0.get(channel).cloned()
    }

    /// Asks `channel`'s poller for a round now; nothing if the channel does not poll.
    pub fn poll_now(&self, channel: &ChannelId) {
        if let Some(wake) = self.0.get(channel) {
            wake.notify_one();
        }
    }
}

/// The running pollers.
pub struct Pollers {
    waker: PollWaker,
    stop: watch::Sender<bool>,
    tasks: Vec<(ChannelId, JoinHandle<()>)>,
}

/// What every poller shares.
pub struct PollSetup {
    pub store: Arc<Store>,
    pub ingest: Ingest,
    pub config: watch::Receiver<Arc<Config>>,
    pub status: StatusBoard,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Pollers {
    /// Starts a poller for each connector that polls (its `poll_interval` is `Some`), woken
    /// early through `waker` (made by [`PollWaker::for_pollers`] from the same connectors).
    pub fn start(
        setup: PollSetup,
        connectors: &BTreeMap<ChannelId, Arc<dyn Connector>>,
        limiters: &BTreeMap<ChannelId, Limiter>,
        waker: PollWaker,
    ) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for (i, (channel, connector)) in connectors.iter().enumerate() {
            let Some(interval) = connector.poll_interval() else {
                continue;
            };
            let limiter = match limiters.get(channel) {
                Some(limiter) => limiter.clone(),
                None => super::connectors::limiter(&GENERIC_LIMITS),
            };
            let Some(wake) = waker.0.get(channel).cloned() else {
                continue;
            };
            let notify = wake.clone();
            connector.watch(Arc::new(move || notify.notify_one()));
            let poller = Poller {
                channel: channel.clone(),
                connector: connector.clone(),
                limiter,
                interval,
                store: setup.store.clone(),
                ingest: setup.ingest.clone(),
                config: setup.config.clone(),
                status: setup.status.clone(),
                backoff: Backoff::new(setup.backoff_base, setup.backoff_max, i as u64),
                wake,
                stop: stop_rx.clone(),
            };
            tasks.push((channel.clone(), tokio::spawn(poller.run())));
        }
        Self { waker, stop, tasks }
    }

    pub fn waker(&self) -> PollWaker {
        self.waker.clone()
    }

    /// Stops every poller, waiting up to `deadline` for a round in flight to finish.
    pub async fn stop(self, deadline: Duration) {
        self.stop.send_replace(true);
        for (channel, task) in self.tasks {
            if tokio::time::timeout(deadline, task).await.is_err() {
                tracing::error!(channel = %channel, "Poller overran the drain deadline; its page is polled again at the next start.");
            }
        }
    }
}

struct Poller {
    channel: ChannelId,
    connector: Arc<dyn Connector>,
    limiter: Limiter,
    interval: Duration,
    store: Arc<Store>,
    ingest: Ingest,
    config: watch::Receiver<Arc<Config>>,
    status: StatusBoard,
    backoff: Backoff,
    wake: Arc<Notify>,
    stop: watch::Receiver<bool>,
}

/// Why a round failed.
enum Failed {
    Channel(ConnectorError),
    Local(String),
}

impl Poller {
    async fn run(mut self) {
        tracing::info!(channel = %self.channel, every_s = self.interval.as_secs_f64(), "Poller started.");
        while !*self.stop.borrow() {
            match self.round().await {
                Ok(true) => {}
                Ok(false) => self.wait(self.interval).await,
                Err(failed) => {
                    let wait = match &failed {
                        Failed::Channel(ConnectorError::RateLimited { retry_after, .. }) => {
                            *retry_after
                        }
                        _ => self.backoff.next_delay(),
                    };
                    let message = match failed {
                        Failed::Channel(e) => e.to_string(),
                        Failed::Local(e) => e,
                    };
                    tracing::warn!(channel = %self.channel, wait_ms = wait.as_millis() as u64, error = %message, "Poll failed; trying again later.");
                    self.status.update(&self.channel, |h| {
                        h.last_error = Some(format!("poll: {message}"));
                    });
                    self.wait(wait).await;
                }
            }
        }
        tracing::info!(channel = %self.channel, "Poller stopped.");
    }

    /// One page; `true` when more are waiting.
    async fn round(&mut self) -> Result<bool, Failed> {
        let cursor = self
            .store
            .poll_cursor(&self.channel)
            .map_err(|e| Failed::Local(e.to_string()))?;
        self.limiter.until_ready().await;
        let page = self.connector.poll(cursor).await.map_err(Failed::Channel)?;
        if !page.unmapped.is_empty() {
            let skipped: Vec<String> = page
                .unmapped
                .iter()
                .map(|u| format!("{}: {}", u.what, u.reason))
                .collect();
            tracing::warn!(channel = %self.channel, skipped = ?skipped, "Polled changes left out.");
        }
        let config = self.config.borrow().clone();
        let mut events = Vec::with_capacity(page.events.len());
        for event in page.events {
            match check_events(&config, &self.channel, false, std::slice::from_ref(&event)) {
                Ok(()) => events.push(event),
                Err(refused) => {
                    tracing::warn!(channel = %self.channel, event = %event.id, reason = %refused, "Polled event left out.");
                }
            }
        }
        let polled = events.len();
        if !events.is_empty() {
            self.ingest
                .submit(Submission {
                    channel: self.channel.clone(),
                    manual: false,
                    events,
                })
                .await
                .map_err(|e| Failed::Local(e.to_string()))?;
        }
        if let Some(cursor) = &page.cursor {
            self.store
                .set_poll_cursor(&self.channel, cursor)
                .map_err(|e| Failed::Local(e.to_string()))?;
        }
        if polled > 0 {
            tracing::debug!(channel = %self.channel, events = polled, more = page.more, "Polled a page.");
        }
        self.backoff.reset();
        Ok(page.more)
    }

    async fn wait(&mut self, wait: Duration) {
        let wake = self.wake.clone();
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|stop| *stop) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use omnistock_sdk::{
        Capabilities, EventId, ItemLevel, ItemRef, ListPage, LocationId, PollPage, PushOutcome,
        PushRequest, Sku, StockChange, StockEvent, Timestamp,
    };

    use super::*;
    use crate::clock::ManualClock;
    use crate::ingest::{IngestSetup, SyncHooks};
    use crate::metrics::Metrics;
    use crate::sync::{Planner, PublishedBook, Waker};

    /// A change feed: page N is answered to cursor `c{N-1}`; the first call fails once.
    struct Feed {
        pages: Vec<Vec<i64>>,
        calls: Mutex<Vec<Option<String>>>,
    }

    fn count(n: usize, quantity: i64) -> StockEvent {
        StockEvent {
            id: EventId::new(format!("count-{n}")).expect("id"),
            occurred_at: Timestamp::from_millis(1_000 * n as i64),
            sku: Sku::new("MUG").expect("sku"),
            change: StockChange::LevelObserved {
                location: LocationId::new("wh").expect("id"),
                quantity,
            },
        }
    }

    #[async_trait]
    impl Connector for Feed {
        fn capabilities(&self) -> Capabilities {
            Capabilities {
                push_forms: Vec::new(),
                max_batch: 1,
                calls_per_second: 1.0,
                burst: 1,
                webhook_topics: Vec::new(),
            }
        }
        async fn list(&self, _: Option<String>) -> Result<ListPage, ConnectorError> {
            Ok(ListPage {
                levels: Vec::new(),
                next: None,
            })
        }
        async fn read(&self, _: &[ItemRef]) -> Result<Vec<ItemLevel>, ConnectorError> {
            Ok(Vec::new())
        }
        fn parse_webhook(
            &self,
            _: &[(String, String)],
            _: &[u8],
        ) -> Result<Vec<StockEvent>, ConnectorError> {
            Ok(Vec::new())
        }
        async fn push(&self, _: &[PushRequest]) -> Result<Vec<PushOutcome>, ConnectorError> {
            Ok(Vec::new())
        }
        async fn poll(&self, cursor: Option<String>) -> Result<PollPage, ConnectorError> {
            let calls = {
                let mut calls = self.calls.lock().expect("lock");
                calls.push(cursor.clone());
                calls.len()
            };
            if calls == 1 {
                return Err(ConnectorError::Retryable("503 from the feed".into()));
            }
            let at: usize = cursor.as_deref().map_or(0, |c| {
                c.trim_start_matches('c').parse().expect("our cursor")
            });
            let Some(quantities) = self.pages.get(at) else {
                return Ok(PollPage::default());
            };
            Ok(PollPage {
                events: quantities
                    .iter()
                    .enumerate()
                    .map(|(i, q)| count(at * 10 + i, *q))
                    .collect(),
                unmapped: Vec::new(),
                cursor: Some(format!("c{}", at + 1)),
                more: at + 1 < self.pages.len(),
            })
        }
        fn poll_interval(&self) -> Option<Duration> {
            Some(Duration::from_secs(3600))
        }
    }

    fn config() -> Config {
        crate::config::for_tests_owned("wh", "wms", &[], "")
    }

    async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
        for _ in 0..2_000 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never happened: {what}");
    }

    #[tokio::test]
    async fn pages_are_followed_their_cursor_saved_and_a_webhook_polls_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path()).expect("store"));
        let (_config_tx, config_rx) = watch::channel(Arc::new(config()));
        let (ingest, _writer) = Ingest::start(IngestSetup {
            store: store.clone(),
            states: Vec::new(),
            term: 1,
            config: config_rx.clone(),
            clock: Arc::new(ManualClock::at(Timestamp::from_millis(1_000_000))),
            metrics: Arc::new(Metrics::new()),
            checkpoint_every: Duration::from_secs(3600),
            sync: SyncHooks {
                planner: Planner::new(BTreeMap::new(), &[], &[]),
                published: PublishedBook::from_store(Vec::new()),
                waker: Waker::default(),
                feed: crate::feed::Feed::default(),
            },
        });
        let feed = Arc::new(Feed {
            pages: vec![vec![5, 7], vec![9]],
            calls: Mutex::new(Vec::new()),
        });
        let wms = ChannelId::new("wms").expect("id");
        let connectors: BTreeMap<ChannelId, Arc<dyn Connector>> =
            BTreeMap::from([(wms.clone(), feed.clone() as Arc<dyn Connector>)]);
        let pollers = Pollers::start(
            PollSetup {
                store: store.clone(),
                ingest: ingest.clone(),
                config: config_rx,
                status: StatusBoard::default(),
                backoff_base: Duration::from_millis(5),
                backoff_max: Duration::from_millis(20),
            },
            &connectors,
            &BTreeMap::new(),
            PollWaker::for_pollers(&connectors),
        );
        let sku = Sku::new("MUG").expect("sku");
        let wh = LocationId::new("wh").expect("id");
        let on_hand = || {
            ingest
                .view()
                .read()
                .get(&sku)
                .map(|state| state.on_hand(&wh))
        };
        // A failed first call, then both pages back to back: the newest count wins.
        eventually("both pages applied", || on_hand() == Some(9)).await;
        eventually("the last cursor saved", || {
            store.poll_cursor(&wms).expect("reads").as_deref() == Some("c2")
        })
        .await;
        let calls = |feed: &Feed| feed.calls.lock().expect("lock").clone();
        assert_eq!(
            calls(&feed)[..3],
            [None, None, Some("c1".to_owned())],
            "retried from the same cursor, then followed the page"
        );
        // The interval is an hour: only a webhook's poll-now makes the next round.
        let before = calls(&feed).len();
        pollers.waker().poll_now(&wms);
        eventually("a round after poll_now", || calls(&feed).len() > before).await;
        assert_eq!(calls(&feed).last(), Some(&Some("c2".to_owned())));
        pollers.stop(Duration::from_secs(5)).await;
    }
}
