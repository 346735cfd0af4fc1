//! A simulated channel: one outside system the demo plays, behind one small trait, and the
//! [`Site`] they all talk to omnistock through (exactly as the real systems would: signed
//! `POST /v1/events`, signed webhooks).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, bail};
use async_trait::async_trait;
use omnistock_sdk::signature::sign_hex;
use omnistock_sdk::{ChannelId, EventId, LocationId, Sku, StockChange, StockEvent, Timestamp};

use super::catalog::{Catalog, Dice};
use super::table::ChannelTable;
use crate::clock::{Clock, SystemClock};

/// An order line a channel opened (an online sale), to be cancelled or shipped later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenLine {
    pub channel: ChannelId,
    pub order: String,
    pub line: String,
    pub sku: Sku,
    pub location: LocationId,
    pub quantity: u32,
}

/// One system the demo plays. Adding a kind of channel to the demo is one module
/// implementing this (with the connector's fake behind it).
#[async_trait]
pub trait Simulated: Send + Sync {
    fn id(&self) -> &ChannelId;
    /// Its `[channels.NAME]` table, with the secret files it names.
    fn table(&self) -> ChannelTable;
    /// At start, before any traffic: an owner reports its counts.
    async fn open(&self, _site: &Site, _catalog: &Catalog) -> anyhow::Result<()> {
        Ok(())
    }
    /// A customer buys `quantity` of `sku` here. Returns the order line when the sale is an
    /// online order (to cancel or ship later); `None` for a till sale or when it shows
    /// too few units to sell.
    async fn sell(&self, site: &Site, sku: &Sku, quantity: u32)
    -> anyhow::Result<Option<OpenLine>>;
    /// An order line it opened is cancelled, and its units go back on sale here.
    async fn cancel(&self, _site: &Site, _line: &OpenLine) -> anyhow::Result<()> {
        Ok(())
    }
    /// For a location's owner: `quantity` units of `sku` arrive. False when it owns none.
    async fn receive(&self, _site: &Site, _sku: &Sku, _quantity: i64) -> anyhow::Result<bool> {
        Ok(false)
    }
    /// Its API fails its next call, the way the real one can; says how. `None` when
    /// omnistock does not call it.
    fn fail_next(&self, _dice: &mut Dice) -> Option<&'static str> {
        None
    }
}

/// For [`Simulated::fail_next`]: one of `failures` (a fake's failure, and how the log says
/// it), chosen by `dice`, handed to `fail`; how it fails.
pub fn fail_one_of<F>(
    dice: &mut Dice,
    failures: Vec<(F, &'static str)>,
    fail: impl FnOnce(F),
) -> Option<&'static str> {
    let chosen = dice.below(failures.len() as u64) as usize;
    let (failure, said) = failures.into_iter().nth(chosen)?;
    fail(failure);
    Some(said)
}

/// The running daemon as the simulated systems see it, and the units the owners count.
pub struct Site {
    pub url: String,
    http: reqwest::Client,
    clock: SystemClock,
    next_event: AtomicU64,
    next_order: AtomicU64,
    /// What each owner counts, per SKU and location: the systems' own truth.
    counts: Mutex<BTreeMap<(Sku, LocationId), i64>>,
}

impl Site {
    pub fn new(url: String, catalog: &Catalog) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .context("building the demo's HTTP client")?;
        Ok(Self {
            url,
            http,
            clock: SystemClock,
            next_event: AtomicU64::new(1),
            next_order: AtomicU64::new(1001),
            counts: Mutex::new(catalog.stock.clone()),
        })
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A new order number, unique in this run.
    pub fn order_number(&self) -> u64 {
        self.next_order.fetch_add(1, Ordering::Relaxed)
    }

    /// An event of `channel` with a fresh id, happening now.
    pub fn event(
        &self,
        channel: &ChannelId,
        sku: &Sku,
        change: StockChange,
    ) -> anyhow::Result<StockEvent> {
        let n = self.next_event.fetch_add(1, Ordering::Relaxed);
        Ok(StockEvent {
            id: EventId::new(format!("{channel}-{n}"))?,
            occurred_at: self.now(),
            sku: sku.clone(),
            change,
        })
    }

    /// What the owner of `location` counts of `sku`.
    pub fn count(&self, sku: &Sku, location: &LocationId) -> i64 {
        self.lock()
            .get(&(sku.clone(), location.clone()))
            .copied()
            .unwrap_or(0)
    }

    /// Moves the owner's count by `by`; returns the new count.
    pub fn move_count(&self, sku: &Sku, location: &LocationId, by: i64) -> i64 {
        let mut counts = self.lock();
        let count = counts.entry((sku.clone(), location.clone())).or_default();
        *count += by;
        *count
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(Sku, LocationId), i64>> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Posts `events` to `POST /v1/events` as `channel`, signed with `secret`.
    pub async fn post_events(
        &self,
        channel: &ChannelId,
        secret: &str,
        events: &[StockEvent],
    ) -> anyhow::Result<()> {
        let body = serde_json::to_vec(&serde_json::json!({ "events": events }))?;
        let signature = format!("sha256={}", sign_hex(secret.as_bytes(), &[&body]));
        let headers = [
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                omnistock_generic::protocol::CHANNEL_HEADER.to_owned(),
                channel.to_string(),
            ),
            (
                omnistock_generic::protocol::SIGNATURE_HEADER.to_owned(),
                signature,
            ),
        ];
        self.post(&format!("{}/v1/events", self.url), &headers, body, channel)
            .await
    }

    /// Delivers a channel's own webhook to `POST /v1/webhooks/{channel}`.
    pub async fn deliver_webhook(
        &self,
        channel: &ChannelId,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> anyhow::Result<()> {
        self.post(
            &format!("{}/v1/webhooks/{channel}", self.url),
            headers,
            body,
            channel,
        )
        .await
    }

    async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
        channel: &ChannelId,
    ) -> anyhow::Result<()> {
        let mut request = self.http.post(url).body(body);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{channel}: posting to {url}"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            bail!("{channel}: {url} answered {status}: {text}");
        }
        Ok(())
    }
}
