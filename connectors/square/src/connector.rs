//! The [`Connector`] for one Square account: the catalog and location maps, listing and
//! re-reading `IN_STOCK` counts, polling the changes feed of owned locations, and the trait
//! impl that ties them to [`crate::push`] and [`crate::webhooks`].

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use omnistock_sdk::connector::push_in_chunks;
use omnistock_sdk::http::HttpClient;
use omnistock_sdk::{
    Capabilities, Connector, ConnectorError, DeltaRequest, ItemLevel, ItemRef, ListPage,
    ListReport, PollPage, PushForm, PushOutcome, PushRequest, Sku, Timestamp, Unmapped,
    WebhookReport,
};
use serde_json::{Value, json};

use crate::api::Api;
use crate::changes::{self, PollCursor};
use crate::mapping::Mapping;
use crate::push;
use crate::settings::SquareSettings;
use crate::webhooks;
use crate::wire::{CatalogPage, ChangesPage, Count, CountsPage, LocationsPage, whole_units};

/// The webhook topics the connector needs subscribed. (`catalog.version.updated` is handled
/// too when subscribed: it reloads the variation map.)
pub const WEBHOOK_TOPICS: &[&str] = &[webhooks::COUNT_UPDATED];
/// The most changes one `BatchChangeInventory` may carry.
pub const MAX_BATCH: usize = 100;
/// The most records Square returns a page (`limit` 1..1000).
const PAGE_LIMIT: u32 = 1000;
/// Item ids asked per counts query.
const IDS_PER_QUERY: usize = 100;

/// A connection to one Square account.
#[derive(Debug)]
pub struct SquareConnector {
    pub(crate) settings: SquareSettings,
    pub(crate) api: Api,
    pub(crate) mapping: Mapping,
}

impl SquareConnector {
    /// Validates the settings and builds the HTTP client. No network call is made.
    pub fn new(settings: SquareSettings) -> Result<Self, ConnectorError> {
        settings.validate().map_err(|problems| {
            ConnectorError::Permanent(format!(
                "channel {}: {}",
                settings.channel,
                problems.join("; ")
            ))
        })?;
        let http = HttpClient::build(&settings.http, &capabilities(&settings))?;
        Ok(Self {
            api: Api::new(http, &settings),
            mapping: Mapping::new(&settings),
            settings,
        })
    }

    pub fn settings(&self) -> &SquareSettings {
        &self.settings
    }

    pub(crate) fn now(&self) -> Timestamp {
        (self.settings.clock)()
    }

    /// Reloads the variation map from the Catalog API; returns the variations without a SKU.
    pub async fn refresh_catalog(&self) -> Result<Vec<Unmapped>, ConnectorError> {
        let action = format!("listing the catalog of {}", self.settings.channel);
        let mut objects = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("types", "ITEM_VARIATION")];
            if let Some(c) = &cursor {
                query.push(("cursor", c.as_str()));
            }
            let page: CatalogPage = self.api.get("/v2/catalog/list", &query, &action).await?;
            objects.extend(
                page.objects
                    .into_iter()
                    .filter(|o| o.kind == "ITEM_VARIATION"),
            );
            match page.cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => break,
            }
        }
        Ok(self.mapping.load(&objects))
    }

    /// Reloads the catalog if a webhook or a catalog event asked for it.
    async fn fresh_catalog(&self) -> Result<Vec<Unmapped>, ConnectorError> {
        if self.mapping.is_stale() {
            self.refresh_catalog().await
        } else {
            Ok(Vec::new())
        }
    }

    /// The configured locations checked against the Locations API.
    pub async fn check_locations(&self) -> Result<Vec<Unmapped>, ConnectorError> {
        let action = format!("listing the locations of {}", self.settings.channel);
        let page: LocationsPage = self.api.get("/v2/locations", &[], &action).await?;
        let active: BTreeSet<String> = page
            .locations
            .into_iter()
            .filter(|l| l.status.as_deref() != Some("INACTIVE"))
            .map(|l| l.id)
            .collect();
        Ok(self.mapping.check_locations(&active))
    }

    async fn counts(&self, body: &Value, action: &str) -> Result<CountsPage, ConnectorError> {
        Ok(self
            .api
            .post("/v2/inventory/counts/batch-retrieve", body, action)
            .await?)
    }

    /// Counts as levels at our locations; the ones we cannot use are reported.
    fn to_levels(&self, counts: Vec<Count>, unmapped: &mut Vec<Unmapped>) -> Vec<ItemLevel> {
        let mut levels = Vec::new();
        for count in counts.into_iter().filter(|c| c.state == "IN_STOCK") {
            let what = format!("{} at {}", count.catalog_object_id, count.location_id);
            let Some(place) = self.mapping.place(&count.location_id) else {
                unmapped.push(Unmapped {
                    what,
                    reason: "location not in config".into(),
                });
                continue;
            };
            let item = match ItemRef::new(count.catalog_object_id.as_str()) {
                Ok(item) => item,
                Err(e) => {
                    unmapped.push(Unmapped {
                        what,
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            let available = match whole_units(&count.quantity) {
                Ok(n) => n,
                Err(reason) => {
                    unmapped.push(Unmapped { what, reason });
                    continue;
                }
            };
            let sku = self.mapping.sku(&count.catalog_object_id);
            if sku.is_none() {
                unmapped.push(Unmapped {
                    what,
                    reason: "item variation without a SKU".into(),
                });
            }
            levels.push(ItemLevel {
                item,
                sku,
                location: place.ours.clone(),
                available,
            });
        }
        levels
    }

    /// The current `IN_STOCK` of `items` at every mapped location, paged to the end.
    pub(crate) async fn read_counts(
        &self,
        items: &[ItemRef],
    ) -> Result<(Vec<ItemLevel>, Vec<Unmapped>), ConnectorError> {
        let mut levels = Vec::new();
        let mut unmapped = Vec::new();
        let locations = self.mapping.square_locations(false);
        for ids in items.chunks(IDS_PER_QUERY) {
            let action = format!("reading {} items from {}", ids.len(), self.settings.channel);
            let ids: Vec<&str> = ids.iter().map(ItemRef::as_str).collect();
            let mut cursor: Option<String> = None;
            loop {
                let mut body = json!({ "catalog_object_ids": ids, "location_ids": locations,
                    "states": ["IN_STOCK"], "limit": PAGE_LIMIT });
                if let Some(c) = &cursor {
                    body["cursor"] = json!(c);
                }
                let page = self.counts(&body, &action).await?;
                levels.extend(self.to_levels(page.counts, &mut unmapped));
                match page.cursor {
                    Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                    _ => break,
                }
            }
        }
        Ok((levels, unmapped))
    }

    /// One page of what changed at the owned locations since `cursor`: the seed of their
    /// counts first, then the changes feed (see [`crate::changes`]).
    pub async fn poll_changes(&self, cursor: Option<String>) -> Result<PollPage, ConnectorError> {
        let saved = PollCursor::resume(cursor.as_deref()).map_err(|e| {
            ConnectorError::Permanent(format!("polling {}: {e}", self.settings.channel))
        })?;
        let unmapped = self.fresh_catalog().await?;
        if self.settings.owned.is_empty() {
            // Nothing to poll: where Square is not the owner its webhooks carry the number.
            return Ok(PollPage {
                unmapped,
                ..PollPage::default()
            });
        }
        match saved {
            None => self.seed(self.now(), None, unmapped).await,
            Some(c) => match c.seed.clone() {
                Some(page) => self.seed(c.updated_after, Some(page), unmapped).await,
                None => self.changes(c, unmapped).await,
            },
        }
    }

    /// One page of the owned locations' current counts, as the seed of their on hand.
    async fn seed(
        &self,
        since: Timestamp,
        page: Option<String>,
        mut unmapped: Vec<Unmapped>,
    ) -> Result<PollPage, ConnectorError> {
        let mut body = json!({ "location_ids": self.mapping.square_locations(true),
            "states": ["IN_STOCK"], "limit": PAGE_LIMIT });
        if let Some(c) = &page {
            body["cursor"] = json!(c);
        }
        let action = format!("seeding the owned counts of {}", self.settings.channel);
        let counts = self.counts(&body, &action).await?;
        let mut events = Vec::new();
        for count in &counts.counts {
            match changes::seed_event(&self.mapping, count) {
                Ok(Some(event)) => events.push(event),
                Ok(None) => {}
                Err(report) => unmapped.push(report),
            }
        }
        let next = counts.cursor.filter(|next| Some(next) != page.as_ref());
        let cursor = PollCursor::seeding(since, next);
        Ok(PollPage {
            events,
            unmapped,
            cursor: Some(cursor.encode()),
            more: true,
        })
    }

    /// One page of the changes feed of the owned locations.
    async fn changes(
        &self,
        start: PollCursor,
        mut unmapped: Vec<Unmapped>,
    ) -> Result<PollPage, ConnectorError> {
        let mut body = json!({ "location_ids": self.mapping.square_locations(true),
            "types": ["ADJUSTMENT", "PHYSICAL_COUNT"],
            "updated_after": start.updated_after.to_rfc3339(), "limit": PAGE_LIMIT });
        if let Some(page) = &start.page {
            body["cursor"] = json!(page);
        }
        let action = format!("polling the inventory changes of {}", self.settings.channel);
        let page: ChangesPage = self
            .api
            .post("/v2/inventory/changes/batch-retrieve", &body, &action)
            .await?;
        let mut events = Vec::new();
        let mut newest = None;
        for change in &page.changes {
            newest = newest.max(received_at(change));
            match changes::to_event(&self.mapping, change) {
                Ok(Some(event)) => events.push(event),
                Ok(None) => {}
                Err(report) => unmapped.push(report),
            }
        }
        let next = page.cursor.filter(|next| Some(next) != start.page.as_ref());
        let more = next.is_some();
        let cursor = start.advance(newest, next);
        Ok(PollPage {
            events,
            unmapped,
            cursor: Some(cursor.encode()),
            more,
        })
    }
}

/// When Square received a change (what `updated_after` filters on).
fn received_at(change: &crate::wire::Change) -> Option<Timestamp> {
    let at = match (&change.adjustment, &change.physical_count) {
        (Some(a), _) => a.created_at.as_deref(),
        (_, Some(c)) => c.created_at.as_deref(),
        _ => None,
    };
    at.and_then(|t| Timestamp::parse_rfc3339(t).ok())
}

/// The capabilities of a connector built from `settings`.
pub fn capabilities(settings: &SquareSettings) -> Capabilities {
    Capabilities {
        push_forms: vec![PushForm::Delta, PushForm::BlindSet],
        max_batch: MAX_BATCH,
        calls_per_second: settings.calls_per_second,
        burst: settings.burst,
        webhook_topics: WEBHOOK_TOPICS.iter().map(|t| (*t).to_owned()).collect(),
    }
}

#[async_trait]
impl Connector for SquareConnector {
    fn capabilities(&self) -> Capabilities {
        capabilities(&self.settings)
    }

    fn item_for(&self, sku: &Sku) -> Option<ItemRef> {
        self.mapping.variation(sku)
    }

    async fn list(&self, cursor: Option<String>) -> Result<ListPage, ConnectorError> {
        Ok(self.list_report(cursor).await?.page)
    }

    /// A listing starts by reloading the catalog and checking the locations, then pages
    /// through the `IN_STOCK` counts of every mapped location.
    async fn list_report(&self, cursor: Option<String>) -> Result<ListReport, ConnectorError> {
        let mut unmapped = Vec::new();
        if cursor.is_none() {
            unmapped.extend(self.refresh_catalog().await?);
            unmapped.extend(self.check_locations().await?);
        }
        let action = format!("listing the inventory of {}", self.settings.channel);
        let mut body = json!({ "location_ids": self.mapping.square_locations(false),
            "states": ["IN_STOCK"], "limit": PAGE_LIMIT });
        if let Some(c) = &cursor {
            body["cursor"] = json!(c);
        }
        let page = self.counts(&body, &action).await?;
        let levels = self.to_levels(page.counts, &mut unmapped);
        for u in &unmapped {
            tracing::debug!(channel = %self.settings.channel, what = %u.what, reason = %u.reason, "Square level not mapped.");
        }
        Ok(ListReport {
            page: ListPage {
                levels,
                next: page.cursor.filter(|next| Some(next) != cursor.as_ref()),
            },
            unmapped,
        })
    }

    async fn read(&self, items: &[ItemRef]) -> Result<Vec<ItemLevel>, ConnectorError> {
        Ok(self.read_counts(items).await?.0)
    }

    fn parse_webhook_report(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<WebhookReport, ConnectorError> {
        webhooks::parse(
            &self.mapping,
            &self.settings.webhook_signature_key,
            &self.settings.notification_url,
            headers,
            body,
        )
    }

    async fn push(&self, batch: &[PushRequest]) -> Result<Vec<PushOutcome>, ConnectorError> {
        push_in_chunks(batch, MAX_BATCH, |chunk| push::push_counts(self, chunk)).await
    }

    async fn push_deltas(
        &self,
        batch: &[DeltaRequest],
    ) -> Result<Vec<PushOutcome>, ConnectorError> {
        push_in_chunks(batch, MAX_BATCH, |chunk| {
            push::push_adjustments(self, chunk)
        })
        .await
    }

    /// Square reports an owned location's changes (and skips ours as echoes): it is pushed
    /// holds there.
    fn takes_holds(&self) -> bool {
        true
    }

    async fn poll(&self, cursor: Option<String>) -> Result<PollPage, ConnectorError> {
        self.poll_changes(cursor).await
    }

    /// Only a channel that owns a location polls: elsewhere its webhooks carry the number.
    fn poll_interval(&self) -> Option<Duration> {
        (!self.settings.owned.is_empty()).then_some(self.settings.poll_interval)
    }
}
