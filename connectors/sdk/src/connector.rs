//! The [`Connector`] trait: the seam between the core and one outside system.
//!
//! The core asks a connector four things — list everything (reconciliation), read some items
//! (re-reads before and after a push), turn a webhook into events, push target numbers — and
//! learns from [`Capabilities`] how to drive it safely. It is an open trait, used as
//! `dyn Connector`, so integrators can add systems we don't ship.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::ConnectorError;
use crate::event::StockEvent;
use crate::ids::{ItemRef, LocationId, Sku};

/// Asks the daemon to poll a channel now; see [`Connector::watch`].
pub type PollNow = std::sync::Arc<dyn Fn() + Send + Sync>;

/// How a channel lets us change the number it shows, safest first (DESIGN.md rule 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PushForm {
    /// Set `to` only if the channel still shows `from` (Shopify `changeFromQuantity`).
    CompareAndSet,
    /// Move the number by a difference applied on the server (Square `ADJUSTMENT`,
    /// WooCommerce `inventory_delta`). See [`Connector::push_deltas`] and
    /// [`Connector::takes_holds`].
    Delta,
    /// Overwrite the number; the engine must read, set (read value + change) and re-read.
    BlindSet,
}

/// What the engine needs to know to drive a connector within its API's rules.
#[derive(Clone, Debug, PartialEq)]
pub struct Capabilities {
    /// The push forms the channel supports; the engine uses the safest.
    pub push_forms: Vec<PushForm>,
    /// The largest number of quantities one push call may carry.
    pub max_batch: usize,
    /// The sustained call rate the API allows, and its burst.
    pub calls_per_second: f64,
    pub burst: u32,
    /// The webhook topics the connector needs subscribed.
    pub webhook_topics: Vec<String>,
}

/// One item's number at one location, as the channel shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemLevel {
    pub item: ItemRef,
    /// The SKU the item maps to, where the channel exposes one.
    pub sku: Option<Sku>,
    pub location: LocationId,
    pub available: i64,
}

/// One page of a full listing, with the cursor of the next page if there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage {
    pub levels: Vec<ItemLevel>,
    pub next: Option<String>,
}

/// A target number to make the channel show, with what we believe it shows now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushRequest {
    /// Derived from the outbox entry, so a retried push is applied once.
    pub idempotency_key: String,
    pub item: ItemRef,
    pub location: LocationId,
    /// The value read from the channel just before; the compare of a compare-and-set.
    pub expected: i64,
    pub target: i64,
}

/// What the channel said about one pushed quantity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The channel now shows the target.
    Applied,
    /// The channel no longer showed `expected`: re-read and apply the same difference again.
    StaleCompare { actual: Option<i64> },
    /// The channel refused this item; retrying will not help.
    Rejected(String),
}

/// A difference to apply on the channel's side, for systems (or intents) where a delta is what
/// we mean: a manual adjustment, a transfer. Used with [`Connector::push_deltas`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeltaRequest {
    /// Derived from the outbox entry, so a retried delta is applied once.
    pub idempotency_key: String,
    pub item: ItemRef,
    pub location: LocationId,
    /// The change: `-2` takes two units away.
    pub by: i64,
}

/// Something a connector saw but could not turn into an event or a level: an item without a
/// SKU, a location the config does not map, a topic it does not handle. Reported, never
/// guessed, and never a reason to lose the rest of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmapped {
    /// What was seen, in the channel's own words (`gid://shopify/Location/7`, `line 42`).
    pub what: String,
    /// Why it was left out (`location not in config`, `no SKU`).
    pub reason: String,
}

/// The events of one webhook, with what could not be mapped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebhookReport {
    pub events: Vec<StockEvent>,
    pub unmapped: Vec<Unmapped>,
    /// The webhook says something changed without carrying the change in a form the core can
    /// merge (Square's `inventory.count.updated` at a location Square owns: a total, where we
    /// need its changes with their ids): the daemon runs [`Connector::poll`] now instead of
    /// at the next interval.
    pub poll_now: bool,
}

/// One page of what changed on a channel since a cursor, from [`Connector::poll`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollPage {
    /// The changes, each with an id that stays the same when polled again: pages may overlap
    /// and a page may be fetched twice (a crash before its cursor was saved).
    pub events: Vec<StockEvent>,
    pub unmapped: Vec<Unmapped>,
    /// Where the next poll resumes. The daemon saves it only after every event of this page
    /// is durable, and passes it back as it was; `None` keeps the cursor it had.
    pub cursor: Option<String>,
    /// More pages are waiting: poll again at once rather than after the interval.
    pub more: bool,
}

/// One page of a listing, with what could not be mapped on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListReport {
    pub page: ListPage,
    pub unmapped: Vec<Unmapped>,
}

/// A connection to one outside system.
#[async_trait]
pub trait Connector: Send + Sync {
    /// How to drive this channel: push forms, batch size, rate limit, webhook topics.
    fn capabilities(&self) -> Capabilities;

    /// One page of every item and location the channel knows, for reconciliation.
    async fn list(&self, cursor: Option<String>) -> Result<ListPage, ConnectorError>;

    /// The current levels of `items`, for the re-reads around a push.
    async fn read(&self, items: &[ItemRef]) -> Result<Vec<ItemLevel>, ConnectorError>;

    /// Verifies a webhook's signature over its raw body and turns it into events.
    /// A wrong signature or a malformed body is [`ConnectorError::BadInput`].
    ///
    /// Implement this or [`Connector::parse_webhook_report`]: each defaults to the other
    /// (this one drops what the report could not map; the daemon logs it from the report).
    fn parse_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<StockEvent>, ConnectorError> {
        Ok(self.parse_webhook_report(headers, body)?.events)
    }

    /// Pushes one batch (at most `max_batch` requests); one outcome per request, in order.
    /// Must be idempotent per `idempotency_key`: the engine sends a push whose answer it never
    /// got (a timeout, a crash) again as it was, and a re-sent push that had applied must
    /// answer `Applied` without applying twice.
    async fn push(&self, batch: &[PushRequest]) -> Result<Vec<PushOutcome>, ConnectorError>;

    /// Like [`Connector::parse_webhook`], and also says what it could not map (an unknown SKU,
    /// a location not in config), so the daemon can count and log it. The default reports
    /// nothing beyond [`Connector::parse_webhook`]'s events.
    fn parse_webhook_report(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<WebhookReport, ConnectorError> {
        Ok(WebhookReport {
            events: self.parse_webhook(headers, body)?,
            ..WebhookReport::default()
        })
    }

    /// Like [`Connector::list`], and also says what it could not map on the page. The default
    /// reports nothing beyond the page.
    async fn list_report(&self, cursor: Option<String>) -> Result<ListReport, ConnectorError> {
        Ok(ListReport {
            page: self.list(cursor).await?,
            unmapped: Vec::new(),
        })
    }

    /// Applies differences on the channel's side, for channels that offer [`PushForm::Delta`].
    /// One outcome per request, in order. The default refuses: a connector that lists
    /// `Delta` in its capabilities overrides it.
    async fn push_deltas(
        &self,
        batch: &[DeltaRequest],
    ) -> Result<Vec<PushOutcome>, ConnectorError> {
        Err(ConnectorError::Permanent(format!(
            "pushing {} deltas: this connector has no delta form",
            batch.len()
        )))
    }

    /// Whether the channel is pushed *holds* at the locations it owns: its number there is
    /// moved by deltas down by other channels' open reservations (and back up when they are
    /// cancelled), never set, so a sale at its till a second earlier is kept. Only for a
    /// connector that offers [`PushForm::Delta`] and reports an owned location's *changes*
    /// (sales, receipts, counts, each with its own id) rather than its totals, which would
    /// then include our holds, and that skips its own pushed deltas as echoes. The default
    /// is `false`: an owner is then never pushed at all.
    fn takes_holds(&self) -> bool {
        false
    }

    /// Whether the channel, at the locations it owns, takes the adjustments made in omnistock
    /// (an operator's cycle count: `omnistock adjust`) as deltas, so its own count — still
    /// the truth there — stays in step with them. Only the difference between our on hand
    /// and what we last sent is pushed, never a number read back: a change the channel made
    /// that has not reached us yet is never undone. Needs [`PushForm::Delta`]. Default
    /// `false`.
    fn takes_adjustments(&self) -> bool {
        false
    }

    /// How this channel names the item a SKU maps to, for `read` and `push`. The default is
    /// the SKU itself (systems keyed by SKU); a connector with ids of its own answers from
    /// what its listings taught it, and `None` for a SKU it has not seen.
    fn item_for(&self, sku: &Sku) -> Option<ItemRef> {
        ItemRef::new(sku.as_str()).ok()
    }

    /// What changed since `cursor` (`None`: since a moment the connector picks, such as the
    /// last day), for channels whose webhooks are not enough on their own: an incremental
    /// poll of changes (Square inventory changes, WooCommerce orders, a WMS's shipments, a
    /// file dropped in a folder). The safety net behind webhooks, which no system guarantees.
    /// Only called when [`Connector::poll_interval`] is `Some`.
    async fn poll(&self, cursor: Option<String>) -> Result<PollPage, ConnectorError> {
        Err(ConnectorError::Permanent(format!(
            "polling from {}: this connector does not poll",
            cursor.as_deref().unwrap_or("the start")
        )))
    }

    /// Called once when the daemon starts the channel's poller: a connector that learns of
    /// changes by itself (a watched folder) calls `poll_now` to have the daemon poll at once
    /// rather than at the next interval, which stays the fallback. The default watches
    /// nothing.
    fn watch(&self, poll_now: PollNow) {
        let _ = poll_now;
    }

    /// How long to wait between polls when the last page said no more are waiting; `None`
    /// (the default) for a channel that does not poll.
    fn poll_interval(&self) -> Option<Duration> {
        None
    }
}

/// Pushes `batch` through `push` in chunks of at most `size` requests (a system's limit per
/// call), in order, and gathers their outcomes in the batch's order. Stops at the first chunk
/// that fails, with its error: the engine retries the whole batch, and the requests'
/// idempotency keys keep the chunks already sent from being applied twice.
pub async fn push_in_chunks<'a, R, F, Fut>(
    batch: &'a [R],
    size: usize,
    mut push: F,
) -> Result<Vec<PushOutcome>, ConnectorError>
where
    F: FnMut(&'a [R]) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<PushOutcome>, ConnectorError>>,
{
    let mut outcomes = Vec::with_capacity(batch.len());
    for chunk in batch.chunks(size) {
        outcomes.extend(push(chunk).await?);
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chunks_are_pushed_in_order_and_the_first_failure_stops_them() {
        let batch: Vec<i64> = (1..=5).collect();
        let mut sizes = Vec::new();
        let outcomes = push_in_chunks(&batch, 2, |chunk| {
            sizes.push(chunk.len());
            let outcomes = chunk
                .iter()
                .map(|n| PushOutcome::StaleCompare { actual: Some(*n) })
                .collect();
            async move { Ok(outcomes) }
        })
        .await
        .expect("every chunk applied");
        assert_eq!(sizes, [2, 2, 1]);
        let actual: Vec<_> = outcomes
            .iter()
            .map(|o| match o {
                PushOutcome::StaleCompare { actual } => *actual,
                _ => None,
            })
            .collect();
        assert_eq!(actual, [Some(1), Some(2), Some(3), Some(4), Some(5)]);

        let mut calls = 0;
        let failed = push_in_chunks(&batch, 2, |_| {
            calls += 1;
            async { Err(ConnectorError::Retryable("down".into())) }
        })
        .await;
        assert!(matches!(failed, Err(ConnectorError::Retryable(_))));
        assert_eq!(calls, 1, "no chunk after the one that failed");
    }
}
