//! The [`Connector`] for one WooCommerce shop: the trait impl over the catalog, push, poll
//! and webhook modules, and the SKU ↔ item cache they share.

use std::sync::RwLock;
use std::time::Duration;

use async_trait::async_trait;
use omnistock_sdk::connector::push_in_chunks;
use omnistock_sdk::http::HttpClient;
use omnistock_sdk::{
    Capabilities, Connector, ConnectorError, DeltaRequest, ItemLevel, ItemRef, ListPage,
    ListReport, PollPage, PushForm, PushOutcome, PushRequest, Sku, WebhookReport,
};

use crate::api::{LineItem, Rest};
use crate::catalog::Catalog;
use crate::item::WooItem;
use crate::settings::WooSettings;
use crate::webhooks;

/// The webhook topics the connector handles and `omnistock connect` creates.
pub const WEBHOOK_TOPICS: &[&str] = &["order.created", "order.updated", "product.updated"];

/// The most objects one batch call may carry (more is HTTP 413).
pub const MAX_BATCH: usize = 100;

/// A connection to one WooCommerce shop.
#[derive(Debug)]
pub struct WooConnector {
    pub(crate) settings: WooSettings,
    pub(crate) rest: Rest,
    pub(crate) catalog: RwLock<Catalog>,
    /// Delta pushes in a row that left the number where it was (see `push::UNMOVED_LIMIT`).
    pub(crate) unmoved_deltas: std::sync::atomic::AtomicU32,
}

impl WooConnector {
    /// Validates the settings (plain HTTP to a remote host is refused) and builds the HTTP
    /// client. No network call is made.
    pub fn new(settings: WooSettings) -> Result<Self, ConnectorError> {
        settings.validate().map_err(|problems| {
            ConnectorError::Permanent(format!(
                "channel {}: {}",
                settings.channel,
                problems.join("; ")
            ))
        })?;
        let http = HttpClient::build(&settings.http, &capabilities(&settings))?;
        Ok(Self {
            rest: Rest::new(http, &settings),
            settings,
            catalog: RwLock::new(Catalog::default()),
            unmoved_deltas: std::sync::atomic::AtomicU32::new(0),
        })
    }

    /// The settings the connector was built from.
    pub fn settings(&self) -> &WooSettings {
        &self.settings
    }

    pub(crate) fn learn(&self, item: WooItem, sku: Sku) {
        self.catalog
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .learn(item, sku);
    }

    /// An order line names its product (and variation) and SKU: learn the pair, unless the
    /// SKU is only the parent's.
    pub(crate) fn learn_line(&self, line: &LineItem) {
        let (Some(item), Some(sku)) = (line.item(), line.usable_sku()) else {
            return;
        };
        if !self.borrows_parent_sku(item, &sku) {
            self.learn(item, sku);
        }
    }

    /// Whether an order line's SKU is only its parent's.
    pub(crate) fn line_borrows_sku(&self, line: &LineItem, sku: &Sku) -> bool {
        line.item()
            .is_some_and(|item| self.borrows_parent_sku(item, sku))
    }

    /// The item a SKU was learned for.
    pub fn item_of(&self, sku: &Sku) -> Option<WooItem> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .item_of(sku)
    }
}

/// The capabilities of a connector built from `settings`: the server-side delta where the
/// shop honours it, else the blind set (read, set, re-read).
pub fn capabilities(settings: &WooSettings) -> Capabilities {
    Capabilities {
        push_forms: vec![if settings.inventory_delta {
            PushForm::Delta
        } else {
            PushForm::BlindSet
        }],
        max_batch: MAX_BATCH,
        calls_per_second: settings.calls_per_second,
        burst: settings.burst,
        webhook_topics: WEBHOOK_TOPICS.iter().map(|t| (*t).to_owned()).collect(),
    }
}

#[async_trait]
impl Connector for WooConnector {
    fn capabilities(&self) -> Capabilities {
        capabilities(&self.settings)
    }

    fn item_for(&self, sku: &Sku) -> Option<ItemRef> {
        self.item_of(sku).map(WooItem::item_ref)
    }

    async fn list(&self, cursor: Option<String>) -> Result<ListPage, ConnectorError> {
        Ok(self.list_report(cursor).await?.page)
    }

    async fn list_report(&self, cursor: Option<String>) -> Result<ListReport, ConnectorError> {
        let report = self.list_page(cursor).await?;
        for u in &report.unmapped {
            tracing::debug!(channel = %self.settings.channel, what = %u.what, reason = %u.reason, "WooCommerce item not mapped.");
        }
        Ok(report)
    }

    async fn read(&self, items: &[ItemRef]) -> Result<Vec<ItemLevel>, ConnectorError> {
        self.read_levels(items).await
    }

    fn parse_webhook_report(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<WebhookReport, ConnectorError> {
        webhooks::parse(self, headers, body)
    }

    async fn push(&self, batch: &[PushRequest]) -> Result<Vec<PushOutcome>, ConnectorError> {
        push_in_chunks(batch, MAX_BATCH, |chunk| self.push_set(chunk)).await
    }

    async fn push_deltas(
        &self,
        batch: &[DeltaRequest],
    ) -> Result<Vec<PushOutcome>, ConnectorError> {
        if !self.settings.inventory_delta {
            return Err(ConnectorError::Permanent(format!(
                "pushing {} deltas to {}: inventory_delta is off for this shop",
                batch.len(),
                self.settings.channel
            )));
        }
        push_in_chunks(batch, MAX_BATCH, |chunk| self.push_delta(chunk)).await
    }

    async fn poll(&self, cursor: Option<String>) -> Result<PollPage, ConnectorError> {
        self.poll_orders(cursor).await
    }

    fn poll_interval(&self) -> Option<Duration> {
        Some(self.settings.poll_interval)
    }
}
