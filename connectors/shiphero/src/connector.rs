//! The [`Connector`] for one ShipHero account: on-hand per warehouse and SKU (listed, read,
//! polled for changes since ShipHero's own `updated_at`), shipment webhooks, and — only when
//! `allow_adjustments` is on — cycle-count adjustments as `inventory_add` / `inventory_remove`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use omnistock_sdk::http::HttpClient;
use omnistock_sdk::{
    Capabilities, Connector, ConnectorError, DeltaRequest, EventId, ItemLevel, ItemRef, ListPage,
    LocationId, PollPage, PushForm, PushOutcome, PushRequest, Sku, StockChange, StockEvent,
    Timestamp, Unmapped, WebhookReport,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::graphql::{self, Graphql};
use crate::settings::ShipHeroSettings;
use crate::webhooks;

/// The webhook types the connector handles (`webhook_create` them for this channel).
pub const WEBHOOK_TYPES: &[&str] = &[webhooks::SHIPMENT_UPDATE, webhooks::INVENTORY_UPDATE];

/// Products asked per page (ShipHero's connections take up to 100).
pub const PAGE_SIZE: u32 = 100;
/// The page asked for when reading one SKU: a query costs `1 + first` credits, and one SKU
/// is one product per warehouse, so asking for 100 (101 credits a shipped SKU) drained the
/// bucket (4,004, refilled at 60/s) at the demo's 20 events/s. A few spare rows in case the
/// filter also matches other SKUs (they are filtered out by name).
const ONE_SKU_PAGE: u32 = 5;

pub const LEVELS_QUERY: &str = "query Levels($warehouse_id: String, $sku: String, $updated_from: ISODateTime, $first: Int, $after: String) { \
warehouse_products(warehouse_id: $warehouse_id, sku: $sku, updated_from: $updated_from) { request_id complexity \
data(first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { node { sku warehouse_id on_hand allocated available updated_at } } } } }";

pub const ADD_MUTATION: &str = "mutation Add($data: UpdateInventoryInput!) { inventory_add(data: $data) { request_id complexity warehouse_product { sku warehouse_id on_hand } } }";
pub const REMOVE_MUTATION: &str = "mutation Remove($data: UpdateInventoryInput!) { inventory_remove(data: $data) { request_id complexity warehouse_product { sku warehouse_id on_hand } } }";

#[derive(Deserialize)]
struct LevelsData {
    warehouse_products: graphql::Connection<Node>,
}

/// One page of warehouse products.
type Page = graphql::Page<Node>;

#[derive(Clone, Debug, Deserialize)]
struct Node {
    sku: Option<String>,
    on_hand: i64,
    updated_at: Option<String>,
}

/// Where an incremental poll stands: the warehouse and page being read, changes from
/// `since` (ShipHero's `updated_at`, inclusive), and the latest `updated_at` seen so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct PollCursor {
    since: Option<Timestamp>,
    warehouse: usize,
    after: Option<String>,
    latest: Option<Timestamp>,
}

/// A connection to one ShipHero account.
#[derive(Debug)]
pub struct ShipHeroConnector {
    settings: ShipHeroSettings,
    graphql: Graphql,
    /// Our location → ShipHero warehouse id.
    reverse: BTreeMap<LocationId, String>,
    /// Idempotency keys of adjustments applied by this process: ShipHero's mutations take
    /// none, so a re-sent adjustment is recognised here (not across a restart).
    applied: Mutex<HashSet<String>>,
    /// When each shipment was first delivered: its time, the same on every redelivery.
    first_seen: Mutex<HashMap<String, Timestamp>>,
    /// SKUs shipped since the last poll, with the latest shipment's time: see
    /// [`ShipHeroConnector::recount_shipped`].
    shipped: Mutex<BTreeMap<Sku, Timestamp>>,
}

/// Shipments whose first delivery time is remembered; older ones are forgotten (a
/// redelivery after that is still dropped by the daemon's dedup, by its event id).
const FIRST_SEEN_CAP: usize = 10_000;

/// ShipHero times come with an offset or without one (UTC).
fn shiphero_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text).or_else(|_| Timestamp::parse_rfc3339(&format!("{text}Z")))
}

/// Now: when a shipment was first delivered (see `webhooks::parse`); the fake also stamps
/// the changes it makes with it, as ShipHero does.
#[allow(clippy::disallowed_methods)] // the crate's one clock read; see webhooks::parse
pub(crate) fn received_now() -> Timestamp {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_millis(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
}

impl ShipHeroConnector {
    /// Validates the settings and builds the HTTP client. No network call is made.
    pub fn new(settings: ShipHeroSettings) -> Result<Self, ConnectorError> {
        settings.validate().map_err(|problems| {
            ConnectorError::Permanent(format!(
                "channel {}: {}",
                settings.channel,
                problems.join("; ")
            ))
        })?;
        let http = HttpClient::build(&settings.http, &capabilities(&settings))?;
        let graphql = Graphql::new(
            http,
            &settings.api_url,
            settings.access_token.clone(),
            settings.refresh_token.clone(),
        );
        let reverse = settings
            .warehouses
            .iter()
            .map(|(k, v)| (v.clone(), k.clone()))
            .collect();
        Ok(Self {
            settings,
            graphql,
            reverse,
            applied: Mutex::new(HashSet::new()),
            first_seen: Mutex::new(HashMap::new()),
            shipped: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn settings(&self) -> &ShipHeroSettings {
        &self.settings
    }

    pub(crate) fn graphql(&self) -> &Graphql {
        &self.graphql
    }

    /// When shipment `id` was first delivered.
    fn first_seen(&self, id: &str) -> Timestamp {
        let mut seen = self.first_seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= FIRST_SEEN_CAP && !seen.contains_key(id) {
            seen.clear();
        }
        *seen.entry(id.to_owned()).or_insert_with(received_now)
    }

    fn warehouse(&self, index: usize) -> Option<(&String, &LocationId)> {
        self.settings.warehouses.iter().nth(index)
    }

    /// One page of one warehouse's products.
    async fn levels(
        &self,
        warehouse: &str,
        sku: Option<&str>,
        updated_from: Option<Timestamp>,
        after: Option<&str>,
    ) -> Result<Page, ConnectorError> {
        let action = format!(
            "reading on-hand of warehouse {warehouse} from {}",
            self.settings.channel
        );
        let data: LevelsData = self
            .graphql
            .call(
                &action,
                LEVELS_QUERY,
                json!({
                    "warehouse_id": warehouse, "sku": sku, "after": after,
                    "first": if sku.is_some() { ONE_SKU_PAGE } else { PAGE_SIZE },
                    "updated_from": updated_from.map(Timestamp::to_rfc3339),
                }),
            )
            .await?;
        Ok(data.warehouse_products.data)
    }

    fn level(
        node: &Node,
        location: &LocationId,
        unmapped: &mut Vec<Unmapped>,
    ) -> Option<ItemLevel> {
        let text = node.sku.as_deref().map(str::trim).unwrap_or_default();
        match (Sku::new(text), ItemRef::new(text)) {
            (Ok(sku), Ok(item)) => Some(ItemLevel {
                item,
                sku: Some(sku),
                location: location.clone(),
                available: node.on_hand,
            }),
            _ => {
                unmapped.push(Unmapped {
                    what: format!("product {text:?} at {location}"),
                    reason: "no usable SKU".into(),
                });
                None
            }
        }
    }

    async fn poll_changes(&self, cursor: Option<String>) -> Result<PollPage, ConnectorError> {
        let recounted = self.recount_shipped().await?;
        if !recounted.events.is_empty() || !recounted.unmapped.is_empty() {
            return Ok(recounted);
        }
        let mut at: PollCursor = match cursor.as_deref() {
            None => PollCursor::default(),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                ConnectorError::Permanent(format!("reading the ShipHero poll cursor {text:?}: {e}"))
            })?,
        };
        let Some((warehouse, location)) = self.warehouse(at.warehouse) else {
            at = PollCursor {
                since: at.latest.or(at.since),
                ..PollCursor::default()
            };
            return Ok(PollPage {
                cursor: serde_json::to_string(&at).ok(),
                ..PollPage::default()
            });
        };
        let page = self
            .levels(warehouse, None, at.since, at.after.as_deref())
            .await?;
        let mut report = PollPage::default();
        for edge in page.edges {
            if let Some(event) =
                self.count_event(warehouse, location, &edge.node, None, &mut report.unmapped)?
            {
                at.latest = at.latest.max(Some(event.occurred_at));
                report.events.push(event);
            }
        }
        let last = at.warehouse + 1 >= self.settings.warehouses.len();
        match (page.page_info.has_next_page, page.page_info.end_cursor) {
            (true, Some(end)) => {
                at.after = Some(end);
                report.more = true;
            }
            _ if last => {
                at = PollCursor {
                    since: at.latest.or(at.since),
                    ..PollCursor::default()
                };
            }
            _ => {
                at.warehouse += 1;
                at.after = None;
                report.more = true;
            }
        }
        report.cursor = serde_json::to_string(&at).ok();
        Ok(report)
    }

    /// A product's count as an event, at ShipHero's `updated_at` (or `at_least`, if later).
    fn count_event(
        &self,
        warehouse: &str,
        location: &LocationId,
        node: &Node,
        at_least: Option<Timestamp>,
        unmapped: &mut Vec<Unmapped>,
    ) -> Result<Option<StockEvent>, ConnectorError> {
        let Some(level) = Self::level(node, location, unmapped) else {
            return Ok(None);
        };
        let Some(sku) = level.sku.clone() else {
            return Ok(None);
        };
        let Some(updated) = node.updated_at.as_deref() else {
            unmapped.push(Unmapped {
                what: format!("{} at {location}", level.item),
                reason: "no updated_at: the time of the count is unknown".into(),
            });
            return Ok(None);
        };
        let updated = shiphero_time(updated).map_err(|e| {
            ConnectorError::Retryable(format!(
                "reading {} from {}: {e}",
                level.item, self.settings.channel
            ))
        })?;
        let at = updated.max(at_least.unwrap_or(updated));
        let id = match EventId::new(format!(
            "level/{warehouse}/{}/{}",
            level.item,
            at.as_millis()
        )) {
            Ok(id) => id,
            Err(e) => {
                unmapped.push(Unmapped {
                    what: format!("{} at {location}", level.item),
                    reason: format!("no usable event id: {e}"),
                });
                return Ok(None);
            }
        };
        Ok(Some(StockEvent {
            id,
            occurred_at: at,
            sku,
            change: StockChange::LevelObserved {
                location: level.location,
                quantity: level.available,
            },
        }))
    }

    /// Re-reads the SKUs shipped since the last poll, each count stamped no earlier than its
    /// shipment. ShipHero takes the units off on-hand when the label is made, before it
    /// sends `Shipment Update`, so a read after the webhook includes the shipment; but its
    /// `updated_at` is older than the shipment's time (when we received it), and rule 3
    /// would keep the reservation until the SKU's next count. Stamped at the shipment's
    /// time, this read is that count. Kept in memory: after a restart, a shipped SKU waits
    /// for its next change in ShipHero instead (under-selling, never over-selling).
    async fn recount_shipped(&self) -> Result<PollPage, ConnectorError> {
        let shipped = std::mem::take(&mut *self.shipped.lock().unwrap_or_else(|p| p.into_inner()));
        let mut page = PollPage::default();
        for (sku, shipped_at) in &shipped {
            for (warehouse, location) in &self.settings.warehouses {
                let read = self.levels(warehouse, Some(sku.as_str()), None, None).await;
                let read = match read {
                    Ok(read) => read,
                    Err(e) => {
                        let mut pending = self.shipped.lock().unwrap_or_else(|p| p.into_inner());
                        for (sku, at) in &shipped {
                            let entry = pending.entry(sku.clone()).or_insert(*at);
                            *entry = (*entry).max(*at);
                        }
                        return Err(e);
                    }
                };
                for edge in read
                    .edges
                    .iter()
                    .filter(|e| e.node.sku.as_deref() == Some(sku.as_str()))
                {
                    if let Some(event) = self.count_event(
                        warehouse,
                        location,
                        &edge.node,
                        Some(*shipped_at),
                        &mut page.unmapped,
                    )? {
                        page.events.push(event);
                    }
                }
            }
        }
        page.more = !page.events.is_empty();
        Ok(page)
    }

    async fn adjust(&self, request: &DeltaRequest) -> Result<PushOutcome, ConnectorError> {
        if self
            .applied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&request.idempotency_key)
        {
            return Ok(PushOutcome::Applied);
        }
        let Some(warehouse) = self.reverse.get(&request.location) else {
            return Ok(PushOutcome::Rejected(format!(
                "location {} is no ShipHero warehouse in config",
                request.location
            )));
        };
        if request.by == 0 {
            return Ok(PushOutcome::Applied);
        }
        let (mutation, verb) = if request.by > 0 {
            (ADD_MUTATION, "adding")
        } else {
            (REMOVE_MUTATION, "removing")
        };
        let action = format!(
            "{verb} {} of {} at {warehouse} on {}",
            request.by.unsigned_abs(),
            request.item,
            self.settings.channel
        );
        let _: serde_json::Value = self
            .graphql
            .call(
                &action,
                mutation,
                json!({ "data": {
                    "sku": request.item.as_str(), "warehouse_id": warehouse,
                    "quantity": request.by.unsigned_abs(),
                    "reason": format!("omnistock cycle count {}", request.idempotency_key),
                }}),
            )
            .await?;
        self.applied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(request.idempotency_key.clone());
        Ok(PushOutcome::Applied)
    }
}

/// The capabilities of a connector built from `settings`: the delta form only when
/// adjustments are allowed; otherwise nothing is ever pushed.
pub fn capabilities(settings: &ShipHeroSettings) -> Capabilities {
    Capabilities {
        push_forms: if settings.allow_adjustments {
            vec![PushForm::Delta]
        } else {
            Vec::new()
        },
        max_batch: 50,
        calls_per_second: settings.calls_per_second,
        burst: settings.burst,
        // `Inventory Update` is handled too, but only as a reason to poll now.
        webhook_topics: vec![webhooks::SHIPMENT_UPDATE.to_owned()],
    }
}

#[async_trait]
impl Connector for ShipHeroConnector {
    fn capabilities(&self) -> Capabilities {
        capabilities(&self.settings)
    }

    /// Every configured warehouse's products; the cursor is `<warehouse index>:<page cursor>`.
    async fn list(&self, cursor: Option<String>) -> Result<ListPage, ConnectorError> {
        let (index, after) = match cursor.as_deref().map(|c| c.split_once(':')) {
            None => (0, None),
            Some(Some((index, after))) => (
                index.parse().map_err(|_| {
                    ConnectorError::Permanent(format!("ShipHero listing cursor {cursor:?}"))
                })?,
                Some(after).filter(|a| !a.is_empty()),
            ),
            Some(None) => {
                return Err(ConnectorError::Permanent(format!(
                    "ShipHero listing cursor {cursor:?}"
                )));
            }
        };
        let Some((warehouse, location)) = self.warehouse(index) else {
            return Ok(ListPage {
                levels: Vec::new(),
                next: None,
            });
        };
        let page = self.levels(warehouse, None, None, after).await?;
        let mut unmapped = Vec::new();
        let levels = page
            .edges
            .iter()
            .filter_map(|e| Self::level(&e.node, location, &mut unmapped))
            .collect();
        let next = match (page.page_info.has_next_page, page.page_info.end_cursor) {
            (true, Some(end)) => Some(format!("{index}:{end}")),
            _ => (index + 1 < self.settings.warehouses.len()).then(|| format!("{}:", index + 1)),
        };
        Ok(ListPage { levels, next })
    }

    async fn read(&self, items: &[ItemRef]) -> Result<Vec<ItemLevel>, ConnectorError> {
        let mut levels = Vec::new();
        let mut unmapped = Vec::new();
        for (warehouse, location) in &self.settings.warehouses {
            for item in items {
                let page = self
                    .levels(warehouse, Some(item.as_str()), None, None)
                    .await?;
                levels.extend(
                    page.edges
                        .iter()
                        .filter(|e| e.node.sku.as_deref() == Some(item.as_str()))
                        .filter_map(|e| Self::level(&e.node, location, &mut unmapped)),
                );
            }
        }
        Ok(levels)
    }

    fn parse_webhook_report(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<WebhookReport, ConnectorError> {
        let mut report = webhooks::parse(&self.settings, headers, body, &|id| self.first_seen(id))?;
        let mut shipped = self.shipped.lock().unwrap_or_else(|p| p.into_inner());
        for event in &report.events {
            if let StockChange::OrderLineFulfilled { .. } = event.change {
                let at = shipped
                    .entry(event.sku.clone())
                    .or_insert(event.occurred_at);
                *at = (*at).max(event.occurred_at);
                report.poll_now = true;
            }
        }
        drop(shipped);
        for u in &report.unmapped {
            tracing::warn!(channel = %self.settings.channel, what = %u.what, reason = %u.reason, "ShipHero webhook content not mapped.");
        }
        Ok(report)
    }

    /// ShipHero owns its counts: a set is never pushed.
    async fn push(&self, batch: &[PushRequest]) -> Result<Vec<PushOutcome>, ConnectorError> {
        Err(ConnectorError::Permanent(format!(
            "pushing {} quantities to {}: ShipHero owns its counts and takes no set",
            batch.len(),
            self.settings.channel
        )))
    }

    async fn push_deltas(
        &self,
        batch: &[DeltaRequest],
    ) -> Result<Vec<PushOutcome>, ConnectorError> {
        if !self.settings.allow_adjustments {
            return Err(ConnectorError::Permanent(format!(
                "adjusting {} quantities on {}: allow_adjustments is off",
                batch.len(),
                self.settings.channel
            )));
        }
        let mut outcomes = Vec::with_capacity(batch.len());
        for request in batch {
            outcomes.push(self.adjust(request).await?);
        }
        Ok(outcomes)
    }

    async fn poll(&self, cursor: Option<String>) -> Result<PollPage, ConnectorError> {
        self.poll_changes(cursor).await
    }

    /// With `allow_adjustments`, cycle counts made in omnistock reach ShipHero as
    /// `inventory_add` / `inventory_remove`.
    fn takes_adjustments(&self) -> bool {
        self.settings.allow_adjustments
    }

    fn poll_interval(&self) -> Option<Duration> {
        Some(self.settings.poll_interval)
    }
}
