//! One pusher per channel: drains its outbox into the channel's API, safely and within its
//! limits.
//!
//! A round: take the pending entries, coalesce them per SKU (the newest target wins), put
//! decreases and nearly-sold-out SKUs first (they are the oversell risk), and for each batch
//! of the channel's largest size: read the channel's numbers, compute what to set (rule 6:
//! `target + unseen sales`), record the attempt, push with compare-and-set, and confirm what
//! the channel applied — the outbox entries leave and `published` moves in one store write.
//! A stale compare is read again next round; a rejected item is dead-lettered; 429 waits
//! for Retry-After; other transient failures back off exponentially with jitter. Every call
//! passes through the channel's one rate limiter.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use omnistock_sdk::{
    ChannelId, Connector, ConnectorError, ItemRef, LocationId, PushOutcome, PushRequest, Sku,
};
use tokio::sync::{Notify, watch};

use super::backoff::Backoff;
use super::book::{PublishedBook, StatusBoard};
use super::target::next_value;
use crate::clock::Clock;
use crate::config::ApiLimits;
use crate::metrics::{ChannelLabels, Metrics};
use crate::store::{Attempt, OutboxEntry, Published, Store, StoreError};

/// How many pending entries one round looks at.
const ROUND_ENTRIES: usize = 10_000;

/// Timings a pusher works with; tests shorten them.
#[derive(Clone, Debug)]
pub struct Tuning {
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Consecutive failures before the channel is reported unhealthy.
    pub unhealthy_after: u32,
    /// How often an idle pusher looks at its outbox even without a wake-up.
    pub idle_poll: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            unhealthy_after: 5,
            idle_poll: Duration::from_secs(5),
        }
    }
}

/// Everything a pusher needs.
pub struct PusherSetup {
    pub channel: ChannelId,
    pub connector: Arc<dyn Connector>,
    /// The location the channel's one number is reported at.
    pub location: LocationId,
    pub limits: ApiLimits,
    pub store: Arc<Store>,
    pub published: PublishedBook,
    pub status: StatusBoard,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    pub wake: Arc<Notify>,
    pub paused: watch::Receiver<bool>,
    pub stop: watch::Receiver<bool>,
    pub tuning: Tuning,
    pub seed: u64,
}

/// The newest pending target of one SKU, and every entry it stands for.
struct Slot {
    sku: Sku,
    ids: Vec<u64>,
    newest: (u64, OutboxEntry),
}

/// A push on its way, with the published value it was computed from.
struct InFlight {
    slot: Slot,
    published_at_read: i64,
}

/// Why a round stopped early.
enum Halt {
    Channel(ConnectorError),
    Store(StoreError),
}

pub struct Pusher {
    setup: PusherSetup,
    limiter: DefaultDirectRateLimiter,
    backoff: Backoff,
    labels: ChannelLabels,
}

impl Pusher {
    pub fn new(setup: PusherSetup) -> Self {
        let limiter = RateLimiter::direct(quota(&setup.limits));
        let backoff = Backoff::new(
            setup.tuning.backoff_base,
            setup.tuning.backoff_max,
            setup.seed,
        );
        let labels = ChannelLabels {
            channel: setup.channel.to_string(),
        };
        setup
            .status
            .update(&setup.channel, |h| h.paused = *setup.paused.borrow());
        Self {
            setup,
            limiter,
            backoff,
            labels,
        }
    }

    /// Runs until told to stop.
    pub async fn run(mut self) {
        let channel = self.setup.channel.clone();
        tracing::info!(channel = %channel, "Pusher started.");
        while !*self.setup.stop.borrow() {
            if *self.setup.paused.borrow() {
                self.wait_for_resume().await;
                continue;
            }
            match self.round().await {
                Ok(0) => self.idle().await,
                Ok(_) => {}
                Err(halt) => self.recover(halt).await,
            }
        }
        tracing::info!(channel = %channel, "Pusher stopped.");
    }

    /// One pass over the outbox; returns how many SKUs it handled.
    async fn round(&mut self) -> Result<usize, Halt> {
        let pending = self
            .setup
            .store
            .pending(&self.setup.channel, ROUND_ENTRIES)
            .map_err(Halt::Store)?;
        self.setup
            .metrics
            .outbox_depth
            .get_or_create(&self.labels)
            .set(gauge(pending.len()));
        let slots = self.prioritized(coalesce(pending));
        let handled = slots.len();
        let mut slots = slots.into_iter().peekable();
        while slots.peek().is_some() {
            let batch: Vec<Slot> = slots.by_ref().take(self.setup.limits.max_batch).collect();
            self.push_batch(batch).await?;
            if *self.setup.stop.borrow() || *self.setup.paused.borrow() {
                break;
            }
        }
        Ok(handled)
    }

    /// Decreases first, then the smallest targets: those are where overselling happens.
    fn prioritized(&self, slots: Vec<Slot>) -> Vec<Slot> {
        let book = self.setup.published.lock();
        let mut keyed: Vec<((bool, i64), Slot)> = slots
            .into_iter()
            .map(|slot| {
                let published = book
                    .get(&(self.setup.channel.clone(), slot.sku.clone()))
                    .map(|p| p.quantity);
                let target = slot.newest.1.target;
                let increase = published.is_some_and(|p| target > p);
                ((increase, target), slot)
            })
            .collect();
        keyed.sort_by_key(|(key, _)| *key);
        keyed.into_iter().map(|(_, slot)| slot).collect()
    }

    async fn push_batch(&mut self, batch: Vec<Slot>) -> Result<(), Halt> {
        let channel = self.setup.channel.clone();
        let items: Vec<ItemRef> = batch
            .iter()
            .filter_map(|s| ItemRef::new(s.sku.as_str()).ok())
            .collect();
        self.limiter.until_ready().await;
        let levels = self
            .setup
            .connector
            .read(&items)
            .await
            .map_err(Halt::Channel)?;
        let read: BTreeMap<&str, i64> = levels
            .iter()
            .map(|l| (l.item.as_str(), l.available))
            .collect();

        let mut requests = Vec::new();
        let mut in_flight = Vec::new();
        for slot in batch {
            let Some(&now_shows) = read.get(slot.sku.as_str()) else {
                let reason = format!("{channel} does not know SKU {}", slot.sku);
                self.dead_letter(&slot, &reason)?;
                continue;
            };
            let target = slot.newest.1.target;
            let published_at_read = self
                .setup
                .published
                .lock()
                .get(&(channel.clone(), slot.sku.clone()))
                .map_or(now_shows, |p| p.quantity);
            let recovered = slot
                .newest
                .1
                .attempt
                .as_ref()
                .is_some_and(|a| a.value == now_shows && a.expected != now_shows);
            let value = next_value(target, published_at_read, now_shows);
            if recovered || value == now_shows {
                // Already showing it (or a push sent before a crash was applied): just confirm.
                self.confirm(&InFlight {
                    slot,
                    published_at_read,
                })?;
                continue;
            }
            let (id, _) = slot.newest;
            let attempt = Attempt {
                expected: now_shows,
                value,
                at: self.setup.clock.now(),
            };
            self.setup
                .store
                .record_attempt(&channel, id, &attempt)
                .map_err(Halt::Store)?;
            requests.push(PushRequest {
                idempotency_key: format!("omnistock:{channel}:{id}:{now_shows}"),
                item: ItemRef::new(slot.sku.as_str())
                    .map_err(|e| Halt::Channel(ConnectorError::Permanent(e.to_string())))?,
                location: self.setup.location.clone(),
                expected: now_shows,
                target: value,
            });
            in_flight.push(InFlight {
                slot,
                published_at_read,
            });
        }
        if !requests.is_empty() {
            // The attempts must be durable before the pushes leave: after a crash they tell
            // a push that was applied from one that was not.
            self.setup.store.sync().await.map_err(Halt::Store)?;
            self.limiter.until_ready().await;
            let outcomes = self
                .setup
                .connector
                .push(&requests)
                .await
                .map_err(Halt::Channel)?;
            self.setup
                .metrics
                .push_batch_size
                .get_or_create(&self.labels)
                .observe(requests.len() as f64);
            for (flight, outcome) in in_flight.into_iter().zip(outcomes) {
                match outcome {
                    PushOutcome::Applied => {
                        self.confirm(&flight)?;
                        self.setup.status.update(&channel, |h| h.pushed += 1);
                        self.setup.metrics.pushes.get_or_create(&self.labels).inc();
                    }
                    PushOutcome::StaleCompare { .. } => {
                        // A sale landed between our read and our set: read again next round.
                        self.setup
                            .status
                            .update(&channel, |h| h.stale_compares += 1);
                        self.setup
                            .metrics
                            .stale_compares
                            .get_or_create(&self.labels)
                            .inc();
                    }
                    PushOutcome::Rejected(reason) => self.dead_letter(&flight.slot, &reason)?,
                }
            }
        }
        self.setup.store.sync().await.map_err(Halt::Store)?;
        self.backoff.reset();
        let now = self.setup.clock.now();
        self.setup.status.update(&channel, |h| {
            h.healthy = true;
            h.consecutive_failures = 0;
            h.last_success = Some(now);
        });
        Ok(())
    }

    /// The channel shows the slot's target: its entries leave the outbox and `published`
    /// becomes the target, plus whatever the channel's own orders moved it by meanwhile.
    fn confirm(&self, flight: &InFlight) -> Result<(), Halt> {
        let channel = &self.setup.channel;
        let (_, entry) = &flight.slot.newest;
        let now = self.setup.clock.now();
        let mut book = self.setup.published.lock();
        let key = (channel.clone(), flight.slot.sku.clone());
        let moved_since_read = book
            .get(&key)
            .map_or(0, |p| p.quantity - flight.published_at_read);
        let published = Published {
            quantity: entry.target + moved_since_read,
            at: now,
        };
        self.setup
            .store
            .confirm(
                channel,
                &flight.slot.ids,
                &[(flight.slot.sku.clone(), published.clone())],
            )
            .map_err(Halt::Store)?;
        book.insert(key, published);
        let lag = (now.as_millis() - entry.created_at.as_millis()).max(0) as f64 / 1000.0;
        self.setup
            .metrics
            .sync_lag_seconds
            .get_or_create(&self.labels)
            .observe(lag);
        Ok(())
    }

    fn dead_letter(&self, slot: &Slot, reason: &str) -> Result<(), Halt> {
        let channel = &self.setup.channel;
        tracing::warn!(channel = %channel, sku = %slot.sku, reason, "Push dead-lettered; see omnistock deadletter list.");
        self.setup
            .store
            .dead_letter(channel, &slot.ids, reason, self.setup.clock.now())
            .map_err(Halt::Store)?;
        self.setup
            .metrics
            .dead_letters
            .get_or_create(&self.labels)
            .inc();
        Ok(())
    }

    /// What to do after a round stopped on an error.
    async fn recover(&mut self, halt: Halt) {
        let channel = self.setup.channel.clone();
        let wait = match &halt {
            Halt::Channel(ConnectorError::RateLimited { retry_after, .. }) => {
                self.setup
                    .metrics
                    .rate_limited
                    .get_or_create(&self.labels)
                    .inc();
                self.setup.status.update(&channel, |h| h.rate_limited += 1);
                *retry_after
            }
            Halt::Channel(ConnectorError::Permanent(_) | ConnectorError::BadInput(_))
            | Halt::Store(_) => self.backoff.next_delay().max(Duration::from_secs(1)),
            Halt::Channel(ConnectorError::Retryable(_)) => self.backoff.next_delay(),
        };
        let message = match &halt {
            Halt::Channel(e) => e.to_string(),
            Halt::Store(e) => e.to_string(),
        };
        if !matches!(halt, Halt::Channel(ConnectorError::RateLimited { .. })) {
            self.setup.metrics.retries.get_or_create(&self.labels).inc();
            let unhealthy_after = self.setup.tuning.unhealthy_after;
            let failures = self.backoff.failures();
            self.setup.status.update(&channel, |h| {
                h.consecutive_failures = failures;
                h.last_error = Some(message.clone());
                if failures >= unhealthy_after {
                    h.healthy = false;
                }
            });
        }
        tracing::warn!(channel = %channel, wait_ms = wait.as_millis() as u64, error = %message, "Push round failed; retrying later.");
        self.sleep(wait).await;
    }

    async fn idle(&mut self) {
        let wake = self.setup.wake.clone();
        let mut stop = self.setup.stop.clone();
        let mut paused = self.setup.paused.clone();
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(self.setup.tuning.idle_poll) => {}
            _ = stop.changed() => {}
            _ = paused.changed() => {}
        }
    }

    async fn wait_for_resume(&mut self) {
        let channel = self.setup.channel.clone();
        self.setup.status.update(&channel, |h| h.paused = true);
        let mut stop = self.setup.stop.clone();
        tokio::select! {
            _ = self.setup.paused.wait_for(|paused| !*paused) => {}
            _ = stop.wait_for(|stop| *stop) => {}
        }
        self.setup.status.update(&channel, |h| h.paused = false);
    }

    async fn sleep(&mut self, wait: Duration) {
        let mut stop = self.setup.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|stop| *stop) => {}
        }
    }
}

/// Groups pending entries by SKU, the newest target standing for all.
fn coalesce(pending: Vec<(u64, OutboxEntry)>) -> Vec<Slot> {
    let mut slots: BTreeMap<Sku, Slot> = BTreeMap::new();
    for (id, entry) in pending {
        match slots.get_mut(&entry.sku) {
            Some(slot) => {
                slot.ids.push(id);
                if id > slot.newest.0 {
                    slot.newest = (id, entry);
                }
            }
            None => {
                let sku = entry.sku.clone();
                slots.insert(
                    sku.clone(),
                    Slot {
                        sku,
                        ids: vec![id],
                        newest: (id, entry),
                    },
                );
            }
        }
    }
    slots.into_values().collect()
}

/// The limiter's shape: `per_second` sustained, `burst` at once.
fn quota(limits: &ApiLimits) -> Quota {
    let period = Duration::from_secs_f64(1.0 / limits.per_second.max(0.001));
    let burst = NonZeroU32::new(limits.burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
