//! The [`Connector`] for one Shopify shop: listing and re-reading levels, pushing
//! compare-and-set quantities and deltas, and the item → SKU cache webhooks need.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use async_trait::async_trait;
use omnistock_sdk::connector::push_in_chunks;
use omnistock_sdk::http::HttpClient;
use omnistock_sdk::{
    Capabilities, Connector, ConnectorError, DeltaRequest, ItemLevel, ItemRef, ListPage,
    ListReport, LocationId, PushForm, PushOutcome, PushRequest, Sku, Unmapped, WebhookReport,
};
use serde_json::{Value, json};

use crate::gid::{Gid, GidKind};
use crate::graphql::Graphql;
use crate::push::{self, Form};
use crate::queries::{self, ItemNode, LevelNode};
use crate::settings::ShopifySettings;
use crate::webhooks;

/// The webhook topics the connector handles and needs subscribed.
pub const WEBHOOK_TOPICS: &[&str] = &[
    "inventory_levels/update",
    "orders/create",
    "orders/cancelled",
    "orders/fulfilled",
    "fulfillments/create",
    "refunds/create",
];

/// The largest number of quantities one inventory mutation may carry.
pub const MAX_BATCH: usize = 250;

/// One inventory level with every named quantity we read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShopifyLevel {
    /// The inventory item's GID, our item ref.
    pub item: ItemRef,
    pub item_id: u64,
    /// The variant's SKU, if it has a usable one.
    pub sku: Option<Sku>,
    pub shopify_location: u64,
    /// Our location, if the config maps the Shopify one.
    pub location: Option<LocationId>,
    /// `available`, `on_hand`, `committed`, `reserved`, `incoming`.
    pub quantities: BTreeMap<String, i64>,
}

/// A page of levels with their named quantities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LevelsPage {
    pub levels: Vec<ShopifyLevel>,
    pub next: Option<String>,
    pub unmapped: Vec<Unmapped>,
}

/// A connection to one Shopify shop.
#[derive(Debug)]
pub struct ShopifyConnector {
    pub(crate) settings: ShopifySettings,
    pub(crate) graphql: Graphql,
    /// Shopify location number → ours, and back.
    pub(crate) locations: BTreeMap<u64, LocationId>,
    reverse_locations: HashMap<LocationId, u64>,
    /// Inventory item ↔ SKU, learned from listings and reads (and from the daemon's catalog
    /// through [`ShopifyConnector::learn_skus`]); `inventory_levels/update` carries no SKU.
    catalog: RwLock<Catalog>,
}

/// Inventory item ids and SKUs, both ways.
#[derive(Debug, Default)]
struct Catalog {
    skus: HashMap<u64, Sku>,
    items: HashMap<Sku, u64>,
}

impl Catalog {
    fn learn(&mut self, item_id: u64, sku: Sku) {
        if let Some(old) = self.skus.insert(item_id, sku.clone()) {
            self.items.remove(&old);
        }
        self.items.insert(sku, item_id);
    }
}

impl ShopifyConnector {
    /// Validates the settings and builds the HTTP client. No network call is made.
    pub fn new(settings: ShopifySettings) -> Result<Self, ConnectorError> {
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
            settings.endpoint(),
            settings.access_token.clone(),
            settings.max_throttle_wait,
        );
        let locations = settings.location_map();
        let reverse_locations = locations.iter().map(|(k, v)| (v.clone(), *k)).collect();
        Ok(Self {
            settings,
            graphql,
            locations,
            reverse_locations,
            catalog: RwLock::new(Catalog::default()),
        })
    }

    /// The settings the connector was built from.
    pub fn settings(&self) -> &ShopifySettings {
        &self.settings
    }

    /// Tells the connector item → SKU pairs it has not listed yet (from the daemon's catalog),
    /// so `inventory_levels/update` webhooks for them map before the first reconciliation.
    pub fn learn_skus(&self, pairs: impl IntoIterator<Item = (ItemRef, Sku)>) {
        let mut catalog = self.catalog.write().unwrap_or_else(|p| p.into_inner());
        for (item, sku) in pairs {
            if let Ok(gid) = Gid::parse_or_number(item.as_str(), GidKind::InventoryItem) {
                catalog.learn(gid.id, sku);
            }
        }
    }

    pub(crate) fn sku_of(&self, item_id: u64) -> Option<Sku> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .skus
            .get(&item_id)
            .cloned()
    }

    /// The inventory item (as its GID) a SKU was learned for.
    pub fn item_of(&self, sku: &Sku) -> Option<ItemRef> {
        let id = *self
            .catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .items
            .get(sku)?;
        ItemRef::new(Gid::format(GidKind::InventoryItem, id)).ok()
    }

    /// The last `throttleStatus` Shopify reported, for metrics.
    pub fn throttle_status(&self) -> Option<crate::graphql::ThrottleStatus> {
        self.graphql.throttle_status()
    }

    fn levels_first(&self) -> u32 {
        self.settings.levels_per_item
    }

    /// One page of every item's levels, with all named quantities.
    pub async fn list_levels(&self, cursor: Option<String>) -> Result<LevelsPage, ConnectorError> {
        let levels = self.levels_first();
        let first = queries::items_per_page(levels);
        let action = format!("listing inventory of {}", self.settings.channel);
        let data: queries::ListData = self
            .graphql
            .call(
                &action,
                &queries::list_query(),
                json!({ "first": first, "levels": levels, "after": cursor }),
                queries::list_cost(first, levels),
            )
            .await?;
        let mut page = LevelsPage {
            levels: Vec::new(),
            next: None,
            unmapped: Vec::new(),
        };
        for edge in data.inventory_items.edges {
            self.collect_item(edge.node, &mut page).await?;
        }
        page.next = data
            .inventory_items
            .page_info
            .filter(|p| p.has_next_page)
            .and_then(|p| p.end_cursor);
        Ok(page)
    }

    /// The current levels of some items, with all named quantities.
    pub async fn read_levels(&self, items: &[ItemRef]) -> Result<LevelsPage, ConnectorError> {
        let levels = self.levels_first();
        let chunk = queries::items_per_page(levels) as usize;
        let mut page = LevelsPage {
            levels: Vec::new(),
            next: None,
            unmapped: Vec::new(),
        };
        let mut ids = Vec::new();
        for item in items {
            match Gid::parse_or_number(item.as_str(), GidKind::InventoryItem) {
                Ok(gid) => ids.push(Gid::format(GidKind::InventoryItem, gid.id)),
                Err(e) => page.unmapped.push(Unmapped {
                    what: item.to_string(),
                    reason: e,
                }),
            }
        }
        for ids in ids.chunks(chunk) {
            let action = format!("reading {} items from {}", ids.len(), self.settings.channel);
            let n = ids.len() as u32;
            let data: queries::ReadData = self
                .graphql
                .call(
                    &action,
                    &queries::read_query(),
                    json!({ "ids": ids, "levels": levels }),
                    queries::list_cost(n, levels),
                )
                .await?;
            for (id, node) in ids.iter().zip(data.nodes) {
                let item = node
                    .filter(|n| n.get("id").is_some())
                    .map(serde_json::from_value::<ItemNode>)
                    .transpose()
                    .map_err(|e| {
                        ConnectorError::Retryable(format!("{action}: unexpected item shape: {e}"))
                    })?;
                match item {
                    Some(item) => self.collect_item(item, &mut page).await?,
                    None => page.unmapped.push(Unmapped {
                        what: id.clone(),
                        reason: "no such inventory item".into(),
                    }),
                }
            }
        }
        Ok(page)
    }

    /// Turns one item node into levels, fetching the rest of its levels if it has more.
    async fn collect_item(
        &self,
        item: ItemNode,
        page: &mut LevelsPage,
    ) -> Result<(), ConnectorError> {
        let item_id = Gid::parse(&item.id, GidKind::InventoryItem)
            .map_err(|e| ConnectorError::Retryable(format!("reading an inventory item: {e}")))?;
        let item_ref = ItemRef::new(Gid::format(GidKind::InventoryItem, item_id.id))
            .map_err(|e| ConnectorError::Permanent(e.to_string()))?;
        let sku = item
            .sku
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .and_then(|s| Sku::new(s).ok());
        match &sku {
            Some(sku) => {
                self.catalog
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .learn(item_id.id, sku.clone());
            }
            None => page.unmapped.push(Unmapped {
                what: item_ref.to_string(),
                reason: format!("no usable SKU ({:?})", item.sku.unwrap_or_default()),
            }),
        }
        let mut nodes: Vec<LevelNode> = item
            .inventory_levels
            .edges
            .into_iter()
            .map(|e| e.node)
            .collect();
        let mut more = item.inventory_levels.page_info;
        while let Some(info) = more.filter(|p| p.has_next_page) {
            let action = format!("reading the levels of {item_ref}");
            let levels = self.levels_first().max(50);
            let data: queries::ItemData = self
                .graphql
                .call(
                    &action,
                    &queries::item_levels_query(),
                    json!({ "id": item_ref.as_str(), "levels": levels, "after": info.end_cursor }),
                    f64::from(2 + queries::item_cost(levels)),
                )
                .await?;
            let Some(rest) = data.inventory_item else {
                break;
            };
            nodes.extend(rest.inventory_levels.edges.into_iter().map(|e| e.node));
            more = rest.inventory_levels.page_info;
        }
        for node in nodes {
            let location = Gid::parse(&node.location.id, GidKind::Location)
                .map_err(|e| ConnectorError::Retryable(format!("reading {item_ref}: {e}")))?;
            let ours = self.locations.get(&location.id).cloned();
            if ours.is_none() {
                page.unmapped.push(Unmapped {
                    what: format!("{} at {}", item_ref, node.location.id),
                    reason: "location not in config".into(),
                });
            }
            page.levels.push(ShopifyLevel {
                item: item_ref.clone(),
                item_id: item_id.id,
                sku: sku.clone(),
                shopify_location: location.id,
                location: ours,
                quantities: node.quantities(),
            });
        }
        Ok(())
    }

    fn to_item_levels(page: LevelsPage) -> (Vec<ItemLevel>, Vec<Unmapped>) {
        let mut unmapped = page.unmapped;
        let mut levels = Vec::new();
        for level in page.levels {
            let Some(location) = level.location else {
                continue; // already reported
            };
            match level.quantities.get("available") {
                Some(&available) => levels.push(ItemLevel {
                    item: level.item,
                    sku: level.sku,
                    location,
                    available,
                }),
                None => unmapped.push(Unmapped {
                    what: format!("{} at {location}", level.item),
                    reason: "no available quantity".into(),
                }),
            }
        }
        (levels, unmapped)
    }

    /// Our location's Shopify number, if the config maps it.
    pub(crate) fn shopify_location(&self, ours: &LocationId) -> Option<u64> {
        self.reverse_locations.get(ours).copied()
    }

    pub(crate) fn push_form(&self) -> Form {
        Form::for_version(self.settings.api_version)
    }

    pub(crate) async fn run_set(
        &self,
        input: Value,
        key: &str,
        n: usize,
    ) -> Result<Vec<queries::UserError>, ConnectorError> {
        let data: queries::SetData = self
            .run_mutation(
                format!("pushing {n} quantities to {}", self.settings.channel),
                queries::set_mutation,
                input,
                key,
            )
            .await?;
        Ok(data.inventory_set_quantities.user_errors)
    }

    pub(crate) async fn run_adjust(
        &self,
        input: Value,
        key: &str,
        n: usize,
    ) -> Result<Vec<queries::UserError>, ConnectorError> {
        let data: queries::AdjustData = self
            .run_mutation(
                format!("adjusting {n} quantities on {}", self.settings.channel),
                queries::adjust_mutation,
                input,
                key,
            )
            .await?;
        Ok(data.inventory_adjust_quantities.user_errors)
    }

    /// One inventory mutation (`action` names it in errors), with the idempotency key where
    /// the pinned version takes one.
    async fn run_mutation<D: serde::de::DeserializeOwned>(
        &self,
        action: String,
        document: fn(bool) -> String,
        input: Value,
        key: &str,
    ) -> Result<D, ConnectorError> {
        let idempotent = self.push_form().idempotent();
        let mut variables = json!({ "input": input });
        if idempotent {
            variables["idempotencyKey"] = json!(key);
        }
        self.graphql
            .call(
                &action,
                &document(idempotent),
                variables,
                queries::MUTATION_COST,
            )
            .await
    }
}

/// The capabilities of a connector built from `settings`.
pub fn capabilities(settings: &ShopifySettings) -> Capabilities {
    Capabilities {
        push_forms: vec![PushForm::CompareAndSet, PushForm::Delta],
        max_batch: MAX_BATCH,
        calls_per_second: settings.calls_per_second,
        burst: settings.burst,
        webhook_topics: WEBHOOK_TOPICS.iter().map(|t| (*t).to_owned()).collect(),
    }
}

#[async_trait]
impl Connector for ShopifyConnector {
    fn capabilities(&self) -> Capabilities {
        capabilities(&self.settings)
    }

    fn item_for(&self, sku: &Sku) -> Option<ItemRef> {
        self.item_of(sku)
    }

    async fn list(&self, cursor: Option<String>) -> Result<ListPage, ConnectorError> {
        Ok(self.list_report(cursor).await?.page)
    }

    async fn list_report(&self, cursor: Option<String>) -> Result<ListReport, ConnectorError> {
        let page = self.list_levels(cursor).await?;
        let next = page.next.clone();
        let (levels, unmapped) = Self::to_item_levels(page);
        for u in &unmapped {
            tracing::debug!(channel = %self.settings.channel, what = %u.what, reason = %u.reason, "Shopify level not mapped.");
        }
        Ok(ListReport {
            page: ListPage { levels, next },
            unmapped,
        })
    }

    async fn read(&self, items: &[ItemRef]) -> Result<Vec<ItemLevel>, ConnectorError> {
        let page = self.read_levels(items).await?;
        Ok(Self::to_item_levels(page).0)
    }

    fn parse_webhook_report(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<WebhookReport, ConnectorError> {
        webhooks::parse(self, headers, body)
    }

    async fn push(&self, batch: &[PushRequest]) -> Result<Vec<PushOutcome>, ConnectorError> {
        push_in_chunks(batch, MAX_BATCH, |chunk| push::push_set(self, chunk)).await
    }

    async fn push_deltas(
        &self,
        batch: &[DeltaRequest],
    ) -> Result<Vec<PushOutcome>, ConnectorError> {
        push_in_chunks(batch, MAX_BATCH, |chunk| push::push_adjust(self, chunk)).await
    }
}
