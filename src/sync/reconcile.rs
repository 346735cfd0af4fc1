//! Reconciliation: every channel's full listing, compared with our state at start and on the
//! channel's schedule, because no system guarantees its webhooks arrive.
//!
//! Differences are merged by the rules of DESIGN.md, each logged with its likely cause:
//! - at a location the channel owns (and is not pushed holds at), its listed number is its
//!   count: one that differs from our on hand is merged as an owner count (a sale, a receipt
//!   or a count whose webhook never came);
//! - at the location a channel is pushed at, a number other than the one we published is
//!   planned for a push again: the pusher reads the channel and keeps a sale it made that we
//!   have not seen, and corrects drift;
//! - on a channel we push, a SKU we hold no state for is left alone: we know nothing to
//!   correct it with.
//!
//! The first listing also teaches the connector its catalog (item ids ↔ SKUs); the channel's
//! pusher waits for it. Progress (levels, rate, ETA from the previous listing's size) is
//! logged and shown by `omnistock status`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use omnistock_sdk::{
    ChannelId, Connector, ConnectorError, EventId, ItemLevel, LocationId, Sku, StockChange,
    StockEvent,
};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::book::{PublishedBook, StatusBoard};
use super::connectors::Limiter;
use crate::clock::Clock;
use crate::config::Config;
use crate::ingest::{Ingest, Submission};
use crate::metrics::{ChannelLabels, Metrics};

/// A reconciliation as `omnistock status` shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReconcileStatus {
    /// A listing is under way.
    pub running: bool,
    pub levels: u64,
    pub pages: u64,
    pub per_second: f64,
    /// Seconds left, estimated from the previous listing's size.
    pub eta_seconds: Option<u64>,
    /// Differences found by the run under way, or the last one.
    pub differences: u64,
    pub last_finished: Option<omnistock_sdk::Timestamp>,
}

/// Where one channel is pushed, as the reconciler needs to know it.
#[derive(Clone, Debug)]
pub struct PushedAt {
    pub location: LocationId,
    /// Pushed holds at a location it owns: its listed number there has our holds in it and
    /// is neither its count nor a number we published.
    pub holds: bool,
}

/// One channel to reconcile.
pub struct Reconciled {
    pub connector: Arc<dyn Connector>,
    pub limiter: Limiter,
    pub pushed_at: Option<PushedAt>,
    /// Told once the first listing is done (the channel's pusher waits for it).
    pub listed: Option<watch::Sender<bool>>,
}

/// What every reconciler shares.
pub struct ReconcileSetup {
    pub ingest: Ingest,
    pub config: watch::Receiver<Arc<Config>>,
    pub published: PublishedBook,
    pub status: StatusBoard,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

/// The running reconcilers.
pub struct Reconcilers {
    stop: watch::Sender<bool>,
    tasks: Vec<(ChannelId, JoinHandle<()>)>,
}

impl Reconcilers {
    pub fn start(setup: &ReconcileSetup, channels: BTreeMap<ChannelId, Reconciled>) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for (i, (channel, reconciled)) in channels.into_iter().enumerate() {
            let reconciler = Reconciler {
                channel: channel.clone(),
                connector: reconciled.connector,
                limiter: reconciled.limiter,
                metrics: setup.metrics.clone(),
                pushed_at: reconciled.pushed_at,
                listed: reconciled.listed,
                ingest: setup.ingest.clone(),
                config: setup.config.clone(),
                published: setup.published.clone(),
                status: setup.status.clone(),
                clock: setup.clock.clone(),
                backoff: Backoff::new(setup.backoff_base, setup.backoff_max, i as u64),
                previous_levels: None,
                stop: stop_rx.clone(),
            };
            tasks.push((channel, tokio::spawn(reconciler.run())));
        }
        Self { stop, tasks }
    }

    /// Stops every reconciler; a listing under way is abandoned and done again at start.
    pub async fn stop(self, deadline: Duration) {
        self.stop.send_replace(true);
        for (channel, task) in self.tasks {
            if tokio::time::timeout(deadline, task).await.is_err() {
                tracing::error!(channel = %channel, "Reconciler overran the drain deadline.");
            }
        }
    }
}

struct Reconciler {
    channel: ChannelId,
    connector: Arc<dyn Connector>,
    limiter: Limiter,
    metrics: Arc<Metrics>,
    pushed_at: Option<PushedAt>,
    listed: Option<watch::Sender<bool>>,
    ingest: Ingest,
    config: watch::Receiver<Arc<Config>>,
    published: PublishedBook,
    status: StatusBoard,
    clock: Arc<dyn Clock>,
    backoff: Backoff,
    /// How many levels the previous listing had: the ETA's yardstick.
    previous_levels: Option<u64>,
    stop: watch::Receiver<bool>,
}

/// What one page called for.
#[derive(Default)]
struct Differences {
    counts: Vec<StockEvent>,
    replan: Vec<Sku>,
}

impl Reconciler {
    async fn run(mut self) {
        loop {
            let run = self.clock.now().as_millis();
            self.listing(run).await;
            if *self.stop.borrow() {
                return;
            }
            if let Some(listed) = self.listed.take() {
                listed.send_replace(true);
            }
            let every = self
                .config
                .borrow()
                .channels
                .get(&self.channel)
                .and_then(|c| c.reconcile_every);
            let Some(every) = every else {
                return;
            };
            let mut stop = self.stop.clone();
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// One whole listing, page by page; a failed page is asked for again from its cursor.
    async fn listing(&mut self, run: i64) {
        let started = Instant::now();
        let (mut cursor, mut levels, mut pages, mut differences) = (None, 0u64, 0u64, 0u64);
        self.status.update(&self.channel, |h| {
            h.reconciliation.running = true;
            h.reconciliation.differences = 0;
        });
        tracing::info!(channel = %self.channel, "Reconciling the channel's listing with our state…");
        while !*self.stop.borrow() {
            self.limiter.until_ready().await;
            let report = match self.connector.list_report(cursor.clone()).await {
                Ok(report) => report,
                Err(e) => {
                    self.failed(e).await;
                    continue;
                }
            };
            self.backoff.reset();
            let found = self.compare(&report.page.levels, run);
            differences += (found.counts.len() + found.replan.len()) as u64;
            if let Err(e) = self.merge(found).await {
                tracing::warn!(channel = %self.channel, error = %e, "Could not merge what reconciliation found; retrying the page.");
                let wait = self.backoff.next_delay();
                self.sleep(wait).await;
                continue;
            }
            levels += report.page.levels.len() as u64;
            pages += 1;
            let per_second = levels as f64 / started.elapsed().as_secs_f64().max(0.001);
            let eta_seconds = self
                .previous_levels
                .filter(|total| *total > levels && per_second > 0.0)
                .map(|total| ((total - levels) as f64 / per_second).ceil() as u64);
            self.status.update(&self.channel, |h| {
                h.reconciliation.levels = levels;
                h.reconciliation.pages = pages;
                h.reconciliation.per_second = per_second.round();
                h.reconciliation.eta_seconds = eta_seconds;
                h.reconciliation.differences = differences;
            });
            if pages.is_multiple_of(20) {
                tracing::info!(channel = %self.channel, levels, pages, per_second = per_second as u64, eta_s = ?eta_seconds, differences, "Reconciling…");
            }
            match report.page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        if *self.stop.borrow() {
            return;
        }
        let now = self.clock.now();
        self.previous_levels = Some(levels);
        self.status.update(&self.channel, |h| {
            h.reconciliation.running = false;
            h.reconciliation.eta_seconds = None;
            h.reconciliation.last_finished = Some(now);
        });
        let elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::info!(channel = %self.channel, levels, pages, differences, elapsed_ms, "Reconciliation done.");
    }

    /// What one page's levels call for.
    fn compare(&self, levels: &[ItemLevel], run: i64) -> Differences {
        let config = self.config.borrow().clone();
        let mut found = Differences::default();
        let states = self.ingest.view().read();
        let published = self.published.lock();
        for level in levels {
            let Some(sku) = &level.sku else {
                continue;
            };
            let state = states.get(sku);
            let owns = config
                .locations
                .get(&level.location)
                .is_some_and(|l| l.owner == self.channel);
            let pushed_here = self
                .pushed_at
                .as_ref()
                .filter(|p| p.location == level.location);
            if pushed_here.is_some_and(|p| p.holds) {
                continue;
            }
            if owns {
                // An owner's count is news even for a SKU we hold nothing of yet (a first start).
                let on_hand = state.map_or(0, |s| s.on_hand(&level.location));
                if on_hand != level.available {
                    tracing::info!(channel = %self.channel, sku = %sku, location = %level.location, counts = level.available, on_hand, "Reconciliation: the owner counts another number than we hold (a sale, receipt or count whose webhook never came); merged as its count.");
                    if let Some(event) = self.count(run, sku, level) {
                        found.counts.push(event);
                    }
                }
            } else if pushed_here.is_some() && state.is_some() {
                let key = (self.channel.clone(), sku.clone());
                let ours = published.get(&key).map(|p| p.quantity);
                if ours != Some(level.available) {
                    let cause = match ours {
                        None => "never pushed yet",
                        Some(p) if level.available < p => {
                            "lower: a sale on it whose order has not reached us, kept"
                        }
                        Some(_) => "higher: drift, corrected",
                    };
                    tracing::info!(channel = %self.channel, sku = %sku, shows = level.available, published = ?ours, cause, "Reconciliation: the channel shows another number than we published; pushing it again.");
                    found.replan.push(sku.clone());
                }
            }
        }
        found
    }

    /// The owner count a listed level stands for; its id names the run, so a page listed
    /// again after a failure is not counted twice.
    fn count(&self, run: i64, sku: &Sku, level: &ItemLevel) -> Option<StockEvent> {
        let id = format!(
            "reconcile:{run}:{}:{}:{}",
            level.item, level.location, level.available
        );
        let id = EventId::new(id).ok()?;
        Some(StockEvent {
            id,
            occurred_at: self.clock.now(),
            sku: sku.clone(),
            change: StockChange::LevelObserved {
                location: level.location.clone(),
                quantity: level.available,
            },
        })
    }

    async fn merge(&self, found: Differences) -> Result<(), crate::ingest::IngestError> {
        if !found.counts.is_empty() {
            self.ingest
                .submit(Submission {
                    channel: self.channel.clone(),
                    manual: false,
                    events: found.counts,
                })
                .await?;
        }
        if !found.replan.is_empty() {
            self.ingest
                .replan(self.channel.clone(), found.replan)
                .await?;
        }
        Ok(())
    }

    async fn failed(&mut self, error: ConnectorError) {
        let wait = match &error {
            ConnectorError::RateLimited { retry_after, .. } => {
                let labels = ChannelLabels {
                    channel: self.channel.to_string(),
                };
                self.metrics.rate_limited.get_or_create(&labels).inc();
                self.status.update(&self.channel, |h| h.rate_limited += 1);
                *retry_after
            }
            _ => self.backoff.next_delay(),
        };
        tracing::warn!(channel = %self.channel, error = %error, wait_ms = wait.as_millis() as u64, "Listing the channel failed; retrying the page.");
        self.status.update(&self.channel, |h| {
            h.last_error = Some(format!("listing: {error}"));
        });
        self.sleep(wait).await;
    }

    async fn sleep(&self, wait: Duration) {
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|stop| *stop) => {}
        }
    }
}
