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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::Quota;
use omnistock_sdk::{
    ChannelId, Connector, ConnectorError, DeltaRequest, ItemRef, LocationId, PushForm, PushOutcome,
    PushRequest, Sku, Timestamp,
};
use tokio::sync::{Notify, watch};

use super::backoff::Backoff;
use super::book::{PublishedBook, PushLog, PushRecord, StatusBoard};
use super::connectors::Limiter;
use super::poller::PollWaker;
use super::target::{next_value, published_after};
use crate::clock::Clock;
use crate::config::ApiLimits;
use crate::metrics::{ChannelLabels, Metrics};
use crate::store::{Attempt, LostPush, OutboxEntry, Published, Store, StoreError};

/// The weight of the newest confirmation in a channel's moving average of its sync lag.
const LAG_SMOOTHING: f64 = 0.2;

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
    /// How long an unexplained rise on a channel is left in place before it is corrected as
    /// drift: a channel that restocks a cancelled order raises its number before its
    /// webhook reaches us, and correcting that rise at once would, once the webhook
    /// arrives, leave the restock looking like a sale we have not seen.
    pub rise_grace: Duration,
    /// How long a sale seen in a channel's number may wait for its order before the
    /// channel's recent changes are fetched (its poller asked to poll now).
    pub unseen_sale_bound: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            unhealthy_after: 5,
            idle_poll: Duration::from_secs(5),
            rise_grace: Duration::from_secs(10),
            unseen_sale_bound: Duration::from_secs(120),
        }
    }
}

/// Everything a pusher needs.
pub struct PusherSetup {
    pub channel: ChannelId,
    pub connector: Arc<dyn Connector>,
    /// The channel's one limiter, shared with its poller and reconciliation.
    pub limiter: Limiter,
    /// The location the channel's one number is reported at.
    pub location: LocationId,
    /// Told when the channel's first listing is done; the pusher waits for it.
    pub listed: Option<watch::Receiver<bool>>,
    /// The channel is an owner that takes our adjustments ([`super::plan::Shown::Mirror`]):
    /// it is moved by what its target moved since the last push, never toward a number
    /// read back, and its first push only adopts what it shows.
    pub mirror: bool,
    pub limits: ApiLimits,
    pub store: Arc<Store>,
    pub published: PublishedBook,
    pub status: StatusBoard,
    pub pushes: PushLog,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    pub wake: Arc<Notify>,
    pub paused: watch::Receiver<bool>,
    pub stop: watch::Receiver<bool>,
    pub tuning: Tuning,
    pub polls: PollWaker,
    pub seed: u64,
}

/// The newest pending target of one SKU, every entry it stands for, and the newest push
/// attempt recorded on any of them.
struct Slot {
    sku: Sku,
    /// `published` as of the commit of `newest`.
    published: Option<i64>,
    /// Without a published value: the channel's own moves the escrow had counted then
    /// (`Escrow::unpublished_moves`).
    counted: i64,
    ids: Vec<u64>,
    newest: (u64, OutboxEntry),
    attempt: Option<Recorded>,
}

/// A push attempt recorded on outbox entry `id`, for `target`.
#[derive(Clone)]
struct Recorded {
    id: u64,
    target: i64,
    attempt: Attempt,
}

/// A push on its way: the published value when we read the channel, and the value it
/// leaves published once applied. `replay`: the entry whose unanswered attempt this re-sends,
/// and the value it asked for.
struct InFlight {
    slot: Slot,
    book_at_read: Option<i64>,
    /// Without a published value at the read: the own moves counted then.
    counted_at_read: i64,
    published_after: i64,
    replay: Option<(u64, i64)>,
    /// For the audit trail: what the channel showed, and what we asked it to show.
    read: i64,
    value: i64,
}

/// Why a round stopped early.
enum Halt {
    Channel(ConnectorError),
    Store(StoreError),
}

pub struct Pusher {
    setup: PusherSetup,
    /// When each SKU's current unexplained rise was first seen, and the published value it
    /// rose above.
    rises: HashMap<Sku, (Timestamp, i64)>,
    /// Sales seen in the channel's number whose orders had not arrived: when first seen, and
    /// what we then made it show. Explained once `published` drops to that number (their
    /// orders arrived and lowered it).
    unseen: HashMap<Sku, (Timestamp, i64)>,
    /// Entries whose recorded attempt the channel refused (stale compare): never applied.
    unapplied: HashSet<u64>,
    /// For attempts this run recorded, what they were computed from, so a re-sent push that
    /// applied moves `published` exactly.
    attempt_bases: HashMap<u64, AttemptBase>,
    limiter: Limiter,
    backoff: Backoff,
    labels: ChannelLabels,
}

impl Pusher {
    pub fn new(setup: PusherSetup) -> Self {
        let limiter = setup.limiter.clone();
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
            rises: HashMap::new(),
            unseen: HashMap::new(),
            unapplied: HashSet::new(),
            attempt_bases: HashMap::new(),
            limiter,
            backoff,
            labels,
        }
    }

    /// Runs until told to stop.
    pub async fn run(mut self) {
        let channel = self.setup.channel.clone();
        tracing::info!(channel = %channel, "Pusher started.");
        if let Some(mut listed) = self.setup.listed.take() {
            // Pushes need the channel's item ids, which its first listing teaches.
            let mut stop = self.setup.stop.clone();
            tokio::select! {
                _ = listed.wait_for(|done| *done) => {}
                _ = stop.wait_for(|stop| *stop) => {}
            }
        }
        while !*self.setup.stop.borrow() {
            if *self.setup.paused.borrow() {
                self.wait_for_resume().await;
                continue;
            }
            self.chase_unseen_sales();
            match self.round().await {
                Ok(0) => self.idle().await,
                Ok(_) => {}
                Err(halt) => self.recover(halt).await,
            }
        }
        tracing::info!(channel = %channel, "Pusher stopped.");
    }

    /// One pass over the outbox; returns how many SKUs it settled (confirmed, pushed,
    /// dead-lettered). Zero means nothing to do until a wake-up or the next poll.
    async fn round(&mut self) -> Result<usize, Halt> {
        // The writer moves a target and `published` in one commit, under the book's lock:
        // read the pending entries under it too, so each slot's target and published value
        // come from the same commit (a newer published value with an older target would push
        // a change and its reverse).
        let (pending, marks) = {
            let book = self.setup.published.lock();
            let pending = self
                .setup
                .store
                .pending(&self.setup.channel, ROUND_ENTRIES)
                .map_err(Halt::Store)?;
            let marks: HashMap<Sku, Mark> = pending
                .iter()
                .map(|(_, e)| (e.sku.clone(), self.mark(&book, &e.sku)))
                .collect();
            (pending, marks)
        };
        self.setup
            .metrics
            .outbox_depth
            .get_or_create(&self.labels)
            .set(gauge(pending.len()));
        let slots = self.prioritized(coalesce(pending, &marks));
        let mut settled = 0;
        let mut slots = slots.into_iter().peekable();
        while slots.peek().is_some() {
            let batch: Vec<Slot> = slots.by_ref().take(self.setup.limits.max_batch).collect();
            settled += self.push_batch(batch).await?;
            if *self.setup.stop.borrow() || *self.setup.paused.borrow() {
                break;
            }
        }
        Ok(settled)
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

    async fn push_batch(&mut self, batch: Vec<Slot>) -> Result<usize, Halt> {
        let mut settled = 0;
        let channel = self.setup.channel.clone();
        let items: Vec<Option<ItemRef>> = batch
            .iter()
            .map(|s| self.setup.connector.item_for(&s.sku))
            .collect();
        let known: Vec<ItemRef> = items.iter().flatten().cloned().collect();
        self.limiter.until_ready().await;
        let levels = self
            .setup
            .connector
            .read(&known)
            .await
            .map_err(Halt::Channel)?;
        // The channel's number is the one at the location we push to.
        let read: BTreeMap<&str, i64> = levels
            .iter()
            .filter(|l| l.location == self.setup.location)
            .map(|l| (l.item.as_str(), l.available))
            .collect();

        let mut requests = Vec::new();
        let mut in_flight = Vec::new();
        let mut attempts = Vec::new();
        for (slot, item) in batch.into_iter().zip(items) {
            let Some((item, &now_shows)) =
                item.and_then(|i| read.get(i.as_str()).map(|n| (i.clone(), n)))
            else {
                let reason = format!("{channel} does not know SKU {}", slot.sku);
                self.dead_letter(&slot, &reason, None)?;
                settled += 1;
                continue;
            };
            let book_at_read = slot.published;
            // A first push adopts what the channel shows as its baseline.
            let base = book_at_read.unwrap_or(now_shows);
            if let Some(recorded) = slot
                .attempt
                .clone()
                .filter(|r| !self.unapplied.contains(&r.id))
            {
                // A push whose answer we never got (a crash, a timeout): send it again as it
                // was. The channel's idempotency key or compare tells whether it applied; if it
                // did, `published` moves from what it was when the push was computed (after a
                // restart, from what it is now).
                let then = self
                    .attempt_bases
                    .get(&recorded.id)
                    .copied()
                    .unwrap_or(AttemptBase {
                        book: book_at_read,
                        base,
                        counted: slot.counted,
                    });
                let after = published_after(recorded.target, then.base, recorded.attempt.expected);
                requests.push(self.request(
                    item,
                    recorded.id,
                    recorded.attempt.expected,
                    recorded.attempt.value,
                ));
                in_flight.push(InFlight {
                    slot,
                    book_at_read: then.book,
                    counted_at_read: then.counted,
                    published_after: after,
                    replay: Some((recorded.id, recorded.attempt.value)),
                    read: recorded.attempt.expected,
                    value: recorded.attempt.value,
                });
                continue;
            }
            if self.moved_since_outbox_read(&slot) {
                // The channel's own order or restock reached us since the outbox was read:
                // the slot's target and published value predate it, and the read already
                // shows it. Compared with the old published value, a restock would look like
                // drift (corrected, then counted again when confirmed: the channel left below
                // its share). The writer planned the SKU again with the move; next round.
                continue;
            }
            let target = slot.newest.1.target;
            let (value, after) = if self.setup.mirror {
                // An owner that takes our adjustments: move it by what its target moved since
                // the last push, on top of what it shows, so a change it made that has not
                // reached us stays. Before any push, adopt what it shows.
                let value =
                    book_at_read.map_or(now_shows, |p| now_shows.saturating_add(target - p));
                (value, target)
            } else {
                if self.rise_in_grace(&slot.sku, base, now_shows) {
                    // An unexplained rise, maybe a restock whose webhook is on its way: leave
                    // the entry pending and look again; after the grace it is drift and
                    // corrected.
                    tracing::debug!(channel = %channel, sku = %slot.sku, rise = now_shows - base, "Unexplained rise; waiting for its webhook.");
                    continue;
                }
                let value = next_value(target, base, now_shows);
                if now_shows < base {
                    // Its unseen sales stay in what it shows: remember them until explained.
                    let now = self.setup.clock.now();
                    self.unseen
                        .entry(slot.sku.clone())
                        .and_modify(|(_, shows)| *shows = value)
                        .or_insert((now, value));
                }
                (value, published_after(target, base, now_shows))
            };
            if value == now_shows {
                // Already showing it: just confirm.
                let flight = InFlight {
                    counted_at_read: slot.counted,
                    slot,
                    book_at_read,
                    published_after: after,
                    replay: None,
                    read: now_shows,
                    value,
                };
                self.audit(&flight, "already showing it");
                self.confirm(&flight)?;
                settled += 1;
                continue;
            }
            let id = slot.newest.0;
            let attempt = Attempt {
                expected: now_shows,
                value,
                at: self.setup.clock.now(),
            };
            attempts.push((id, attempt));
            // A new attempt on this entry: whatever became of the previous one is settled.
            self.unapplied.remove(&id);
            self.attempt_bases.insert(
                id,
                AttemptBase {
                    book: book_at_read,
                    base,
                    counted: slot.counted,
                },
            );
            requests.push(self.request(item, id, now_shows, value));
            in_flight.push(InFlight {
                counted_at_read: slot.counted,
                slot,
                book_at_read,
                published_after: after,
                replay: None,
                read: now_shows,
                value,
            });
        }
        if !requests.is_empty() {
            // The attempts must be durable before the pushes leave: after a crash they are
            // sent again as they were, and the channel tells whether they applied.
            self.setup
                .store
                .record_attempts(&channel, &attempts)
                .map_err(Halt::Store)?;
            self.setup.store.sync_commits().await.map_err(Halt::Store)?;
            self.limiter.until_ready().await;
            let outcomes = self.send(&requests).await.map_err(Halt::Channel)?;
            self.setup
                .metrics
                .push_batch_size
                .get_or_create(&self.labels)
                .observe(requests.len() as f64);
            for (flight, outcome) in in_flight.into_iter().zip(outcomes) {
                settled += self.settle(flight, outcome)?;
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
        Ok(settled)
    }

    /// Sends a batch in the safest form the channel offers (DESIGN.md rule 6): compare-and-set;
    /// else the difference between what it showed and what to show, applied on its side, so
    /// a sale it makes meanwhile is kept; else a set, which the connector makes as close to a
    /// compare as its API allows (re-read just before, `StaleCompare` if the number moved).
    async fn send(&self, requests: &[PushRequest]) -> Result<Vec<PushOutcome>, ConnectorError> {
        let forms = self.setup.connector.capabilities().push_forms;
        if !forms.contains(&PushForm::CompareAndSet) && forms.contains(&PushForm::Delta) {
            let deltas: Vec<DeltaRequest> = requests
                .iter()
                .map(|r| DeltaRequest {
                    idempotency_key: r.idempotency_key.clone(),
                    item: r.item.clone(),
                    location: r.location.clone(),
                    by: r.target - r.expected,
                })
                .collect();
            return self.setup.connector.push_deltas(&deltas).await;
        }
        self.setup.connector.push(requests).await
    }

    /// The compare-and-set request for entry `id`; its key is derived from the entry and the
    /// compared value, so the same push sent again is applied once.
    fn request(&self, item: ItemRef, id: u64, expected: i64, value: i64) -> PushRequest {
        PushRequest {
            idempotency_key: format!("omnistock:{}:{id}:{expected}", self.setup.channel),
            item,
            location: self.setup.location.clone(),
            expected,
            target: value,
        }
    }

    /// Remembers a push for `explain`.
    fn audit(&self, flight: &InFlight, outcome: &str) {
        let record = PushRecord {
            at: self.setup.clock.now(),
            read: flight.read,
            published: flight.book_at_read,
            target: flight.slot.newest.1.target,
            value: flight.value,
            outcome: outcome.to_owned(),
        };
        self.setup
            .pushes
            .record(&self.setup.channel, &flight.slot.sku, record);
    }

    /// Acts on what the channel said about one push; returns 1 if the slot is settled.
    fn settle(&mut self, flight: InFlight, outcome: PushOutcome) -> Result<usize, Halt> {
        let channel = self.setup.channel.clone();
        let replayed = if flight.replay.is_some() {
            " (sent again after a lost answer)"
        } else {
            ""
        };
        let said = match &outcome {
            PushOutcome::Applied => format!("applied{replayed}"),
            PushOutcome::StaleCompare { actual } => {
                format!(
                    "stale compare{replayed}: the channel showed {}",
                    actual.map_or("something else".into(), |a| a.to_string())
                )
            }
            PushOutcome::Rejected(reason) => format!("rejected{replayed}: {reason}"),
        };
        self.audit(&flight, &said);
        match outcome {
            PushOutcome::Applied => {
                self.setup.status.update(&channel, |h| h.pushed += 1);
                self.setup.metrics.pushes.get_or_create(&self.labels).inc();
                self.confirm(&flight)?;
                Ok(1)
            }
            PushOutcome::StaleCompare { .. } => {
                // The channel moved since that read (a sale landed): the push did not apply.
                // Read again next round.
                let attempted = flight.replay.map_or(flight.slot.newest.0, |(id, _)| id);
                self.unapplied.insert(attempted);
                self.setup
                    .status
                    .update(&channel, |h| h.stale_compares += 1);
                self.setup
                    .metrics
                    .stale_compares
                    .get_or_create(&self.labels)
                    .inc();
                Ok(0)
            }
            PushOutcome::Rejected(reason) => {
                // A re-sent push whose first answer was lost may have applied then.
                let may_show = flight.replay.map(|(_, value)| value);
                self.dead_letter(&flight.slot, &reason, may_show)?;
                Ok(1)
            }
        }
    }

    /// Asks the channel's poller for its recent changes when a sale seen in its number has
    /// waited longer than the bound for its order (DESIGN.md rule 2), once per sale.
    fn chase_unseen_sales(&mut self) {
        if self.unseen.is_empty() {
            return;
        }
        let now = self.setup.clock.now();
        let bound =
            i64::try_from(self.setup.tuning.unseen_sale_bound.as_millis()).unwrap_or(i64::MAX);
        let book = self.setup.published.lock();
        let mut overdue = Vec::new();
        self.unseen.retain(|sku, (since, shown)| {
            let published = book
                .get(&(self.setup.channel.clone(), sku.clone()))
                .map(|p| p.quantity);
            if published.is_some_and(|p| p <= *shown) {
                return false;
            }
            if now.as_millis() - since.as_millis() < bound {
                return true;
            }
            overdue.push(sku.clone());
            false
        });
        drop(book);
        if !overdue.is_empty() {
            tracing::info!(channel = %self.setup.channel, skus = ?overdue, "Sales seen in the channel's number have no order yet; fetching its recent changes.");
            self.setup.polls.poll_now(&self.setup.channel);
        }
    }

    /// Where the channel's own moves of `sku` stand: its published value, or before a push
    /// of it is confirmed, the moves the escrow counted. Call under the book's lock.
    fn mark(&self, book: &HashMap<(ChannelId, Sku), Published>, sku: &Sku) -> Mark {
        let channel = &self.setup.channel;
        match book.get(&(channel.clone(), sku.clone())) {
            Some(value) => (Some(value.quantity), 0),
            None => (
                None,
                self.setup
                    .published
                    .escrow()
                    .unpublished_moves(channel, sku),
            ),
        }
    }

    /// Whether the slot's published value (or the own moves counted without one) is no
    /// longer the book's: the channel's own activity moved it after the round read the
    /// outbox.
    fn moved_since_outbox_read(&self, slot: &Slot) -> bool {
        let now = self.mark(&self.setup.published.lock(), &slot.sku);
        now != (slot.published, slot.counted)
    }

    /// Whether `sku`, showing `shows` above `published`, is in its unexplained rise's grace.
    /// The clock starts at the first round that sees the rise and stops when it is explained.
    /// A rise above another published value is another rise: the one seen before was
    /// explained meanwhile (its restock's webhook moved `published`), perhaps in a round that
    /// left the slot without looking (`moved_since_outbox_read`), and must not lend its age
    /// to a new one, which would be corrected as drift before its own webhook could arrive.
    fn rise_in_grace(&mut self, sku: &Sku, published: i64, shows: i64) -> bool {
        if shows <= published {
            self.rises.remove(sku);
            return false;
        }
        let now = self.setup.clock.now();
        let (since, _) = *self
            .rises
            .entry(sku.clone())
            .and_modify(|seen| {
                if seen.1 != published {
                    *seen = (now, published);
                }
            })
            .or_insert((now, published));
        let grace = i64::try_from(self.setup.tuning.rise_grace.as_millis()).unwrap_or(i64::MAX);
        now.as_millis() - since.as_millis() < grace
    }

    /// The channel shows the slot's new value: its entries leave the outbox and `published`
    /// moves as computed, plus whatever the channel's own orders moved it by meanwhile.
    fn confirm(&mut self, flight: &InFlight) -> Result<(), Halt> {
        let channel = &self.setup.channel;
        let (_, entry) = &flight.slot.newest;
        let now = self.setup.clock.now();
        let mut book = self.setup.published.lock();
        let key = (channel.clone(), flight.slot.sku.clone());
        // The channel's own orders that arrived while we pushed moved it further.
        let moved_since_read = match (flight.book_at_read, self.mark(&book, &flight.slot.sku)) {
            (Some(at_read), (Some(now), _)) => now - at_read,
            (None, (None, counted)) => counted - flight.counted_at_read,
            _ => 0,
        };
        let published = Published {
            quantity: flight.published_after + moved_since_read,
            at: now,
        };
        // A re-sent older attempt settles only the entries up to its own; newer ones still
        // need their push.
        let ids: Vec<u64> = match flight.replay {
            Some((replayed, _)) => flight
                .slot
                .ids
                .iter()
                .copied()
                .filter(|id| *id <= replayed)
                .collect(),
            None => flight.slot.ids.clone(),
        };
        self.setup
            .store
            .confirm(
                channel,
                &ids,
                &[(flight.slot.sku.clone(), published.clone())],
            )
            .map_err(Halt::Store)?;
        for id in &ids {
            self.attempt_bases.remove(id);
            self.unapplied.remove(id);
        }
        let before = book.get(&key).map(|p| p.quantity);
        self.setup.published.escrow().settled(
            channel,
            &flight.slot.sku,
            ids.len(),
            before,
            Some(published.quantity),
        );
        book.insert(key, published);
        let lag = (now.as_millis() - entry.created_at.as_millis()).max(0) as f64 / 1000.0;
        self.setup.status.update(&self.setup.channel, |h| {
            h.lag_seconds = if h.lag_seconds == 0.0 {
                lag
            } else {
                h.lag_seconds + LAG_SMOOTHING * (lag - h.lag_seconds)
            };
        });
        self.setup
            .metrics
            .sync_lag_seconds
            .get_or_create(&self.labels)
            .observe(lag);
        Ok(())
    }

    /// Gives up on a slot's entries; `may_show`: what the channel may show because of them
    /// (a push whose answer was lost), which the escrow keeps in the channel's hold and the
    /// dead letters record, so that a restart holds it again.
    fn dead_letter(&self, slot: &Slot, reason: &str, may_show: Option<i64>) -> Result<(), Halt> {
        let channel = &self.setup.channel;
        tracing::warn!(channel = %channel, sku = %slot.sku, reason, "Push dead-lettered; see omnistock deadletter list.");
        // Under the book's lock: no own order may move `published` between what the letter
        // records and what the escrow holds.
        let book = self.setup.published.lock();
        let published = book
            .get(&(channel.clone(), slot.sku.clone()))
            .map(|p| p.quantity);
        let lost = may_show.map(|asked| LostPush { asked, published });
        self.setup
            .store
            .dead_letter(
                channel,
                &slot.ids,
                reason,
                self.setup.clock.now(),
                lost.as_ref(),
            )
            .map_err(Halt::Store)?;
        self.setup.published.escrow().dead_lettered(
            channel,
            &slot.sku,
            slot.ids.len(),
            published,
            may_show,
        );
        drop(book);
        self.setup
            .metrics
            .dead_letters
            .get_or_create(&self.labels)
            .inc();
        Ok(())
    }

    /// One pass as [`Pusher::run`] makes it, a failure noted but not waited out: for a
    /// simulation that schedules the pushers itself.
    #[cfg(test)]
    pub(super) async fn step(&mut self) {
        self.chase_unseen_sales();
        if let Err(halt) = self.round().await {
            self.failed(halt);
        }
    }

    /// What to do after a round stopped on an error.
    async fn recover(&mut self, halt: Halt) {
        let wait = self.failed(halt);
        self.sleep(wait).await;
    }

    /// Counts and reports a round that stopped on an error; returns how long to wait.
    fn failed(&mut self, halt: Halt) -> Duration {
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
        wait
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

/// What a recorded attempt was computed from.
#[derive(Clone, Copy)]
struct AttemptBase {
    /// The published value at the read, if any.
    book: Option<i64>,
    /// The value the push was computed from.
    base: i64,
    /// Without a published value: the own moves the escrow had counted at the read.
    counted: i64,
}

/// Where a channel's own moves of a SKU stand ([`Pusher::mark`]): its published value, or
/// the moves the escrow counted before it had one.
type Mark = (Option<i64>, i64);

/// Groups pending entries by SKU, the newest target standing for all.
fn coalesce(pending: Vec<(u64, OutboxEntry)>, marks: &HashMap<Sku, Mark>) -> Vec<Slot> {
    let mut slots: BTreeMap<Sku, Slot> = BTreeMap::new();
    // Pending entries come oldest first: later ones replace the newest and the attempt.
    for (id, entry) in pending {
        let attempt = entry.attempt.clone().map(|attempt| Recorded {
            id,
            target: entry.target,
            attempt,
        });
        match slots.get_mut(&entry.sku) {
            Some(slot) => {
                slot.ids.push(id);
                slot.attempt = attempt.or(slot.attempt.take());
                slot.newest = (id, entry);
            }
            None => {
                let sku = entry.sku.clone();
                let (published, counted) = marks.get(&sku).copied().unwrap_or_default();
                slots.insert(
                    sku.clone(),
                    Slot {
                        published,
                        counted,
                        sku,
                        ids: vec![id],
                        newest: (id, entry),
                        attempt,
                    },
                );
            }
        }
    }
    slots.into_values().collect()
}

/// The limiter's shape: `per_second` sustained, `burst` at once.
pub(super) fn quota(limits: &ApiLimits) -> Quota {
    let period = Duration::from_secs_f64(1.0 / limits.per_second.max(0.001));
    let burst = NonZeroU32::new(limits.burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
