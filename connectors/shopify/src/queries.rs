//! The GraphQL documents we send, the shapes we read back, and what each costs.
//!
//! Cost follows Shopify's published rule: a scalar costs 0, an object 1, a connection
//! 2 + `first` × the cost of one node. An inventory item with `L` levels costs
//! 1 + (2 + L × 3) (level, its location, its quantities), so a page of `F` items costs
//! 2 + F × (3 + 3L); we pick `F` to stay within [`crate::graphql::MAX_QUERY_COST`].

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::graphql::MAX_QUERY_COST;

/// The named quantities we read (CONTRACTS.md §1: on_hand = available + committed + unavailable).
pub const QUANTITY_NAMES: &str = r#"["available", "on_hand", "committed", "reserved", "incoming"]"#;

const LEVELS_SELECTION: &str = r#"edges { node { location { id } quantities(names: ["available", "on_hand", "committed", "reserved", "incoming"]) { name quantity } } }
      pageInfo { hasNextPage endCursor }"#;

/// A page of inventory items with their levels.
pub fn list_query() -> String {
    format!(
        "query OmnistockLevels($first: Int!, $levels: Int!, $after: String) {{
  inventoryItems(first: $first, after: $after) {{
    edges {{ node {{ id sku
      inventoryLevels(first: $levels) {{
      {LEVELS_SELECTION} }} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"
    )
}

/// The rest of one item's levels, when it has more than a listing page asked for.
pub fn item_levels_query() -> String {
    format!(
        "query OmnistockItemLevels($id: ID!, $levels: Int!, $after: String) {{
  inventoryItem(id: $id) {{ id sku
    inventoryLevels(first: $levels, after: $after) {{
      {LEVELS_SELECTION} }}
  }}
}}"
    )
}

/// Some items by id, for the re-reads around a push.
pub fn read_query() -> String {
    format!(
        "query OmnistockRead($ids: [ID!]!, $levels: Int!) {{
  nodes(ids: $ids) {{
    ... on InventoryItem {{ id sku
      inventoryLevels(first: $levels) {{
      {LEVELS_SELECTION} }} }}
  }}
}}"
    )
}

const CHANGES_SELECTION: &str = "inventoryAdjustmentGroup { createdAt reason referenceDocumentUri changes { name delta quantityAfterChange item { id } location { id } } }
    userErrors { code field message }";

/// `inventorySetQuantities`, with `@idempotent` from 2026-01 on.
pub fn set_mutation(idempotent: bool) -> String {
    if idempotent {
        format!(
            "mutation OmnistockSet($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {{
  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {{
    {CHANGES_SELECTION}
  }}
}}"
        )
    } else {
        format!(
            "mutation OmnistockSet($input: InventorySetQuantitiesInput!) {{
  inventorySetQuantities(input: $input) {{
    {CHANGES_SELECTION}
  }}
}}"
        )
    }
}

/// `inventoryAdjustQuantities`, with `@idempotent` from 2026-01 on.
pub fn adjust_mutation(idempotent: bool) -> String {
    if idempotent {
        format!(
            "mutation OmnistockAdjust($input: InventoryAdjustQuantitiesInput!, $idempotencyKey: String!) {{
  inventoryAdjustQuantities(input: $input) @idempotent(key: $idempotencyKey) {{
    {CHANGES_SELECTION}
  }}
}}"
        )
    } else {
        format!(
            "mutation OmnistockAdjust($input: InventoryAdjustQuantitiesInput!) {{
  inventoryAdjustQuantities(input: $input) {{
    {CHANGES_SELECTION}
  }}
}}"
        )
    }
}

pub const WEBHOOKS_QUERY: &str = "query OmnistockWebhooks($after: String) {
  webhookSubscriptions(first: 100, after: $after) {
    edges { node { id topic uri } }
    pageInfo { hasNextPage endCursor }
  }
}";

pub const WEBHOOK_CREATE: &str = "mutation OmnistockWebhookCreate($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}";

pub const WEBHOOK_UPDATE: &str =
    "mutation OmnistockWebhookUpdate($id: ID!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionUpdate(id: $id, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}";

/// A mutation's cost.
pub const MUTATION_COST: f64 = 10.0;

/// The cost of one item with `levels` levels.
pub fn item_cost(levels: u32) -> u32 {
    3 + 3 * levels
}

/// Items per listing page so that a page costs at most 1,000 points (and at most 250).
pub fn items_per_page(levels: u32) -> u32 {
    ((MAX_QUERY_COST - 2) / item_cost(levels)).clamp(1, 250)
}

/// The requested cost of a listing page.
pub fn list_cost(first: u32, levels: u32) -> f64 {
    f64::from(2 + first * item_cost(levels))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Edges<T> {
    pub edges: Vec<Edge<T>>,
    #[serde(rename = "pageInfo")]
    pub page_info: Option<PageInfo>,
}

#[derive(Debug, Deserialize)]
pub struct Edge<T> {
    pub node: T,
}

#[derive(Debug, Deserialize)]
pub struct IdOnly {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub struct NamedQuantity {
    pub name: String,
    pub quantity: i64,
}

#[derive(Debug, Deserialize)]
pub struct LevelNode {
    pub location: IdOnly,
    pub quantities: Vec<NamedQuantity>,
}

impl LevelNode {
    pub fn quantities(&self) -> BTreeMap<String, i64> {
        self.quantities
            .iter()
            .map(|q| (q.name.clone(), q.quantity))
            .collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemNode {
    pub id: String,
    pub sku: Option<String>,
    pub inventory_levels: Edges<LevelNode>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListData {
    pub inventory_items: Edges<ItemNode>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemData {
    pub inventory_item: Option<ItemNode>,
}

#[derive(Debug, Deserialize)]
pub struct ReadData {
    /// `null` for an id that names nothing; `{}` for an object that is not an item.
    pub nodes: Vec<Option<serde_json::Value>>,
}

#[derive(Debug, Deserialize)]
pub struct UserError {
    pub code: Option<String>,
    pub field: Option<Vec<String>>,
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MutationPayload {
    pub user_errors: Vec<UserError>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetData {
    pub inventory_set_quantities: MutationPayload,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdjustData {
    pub inventory_adjust_quantities: MutationPayload,
}

#[derive(Debug, Deserialize)]
pub struct WebhookNode {
    pub id: String,
    pub topic: String,
    pub uri: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhooksData {
    pub webhook_subscriptions: Edges<WebhookNode>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    pub webhook_subscription: Option<WebhookNode>,
    pub user_errors: Vec<UserError>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookCreateData {
    pub webhook_subscription_create: WebhookPayload,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookUpdateData {
    pub webhook_subscription_update: WebhookPayload,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_stay_within_the_cost_limit() {
        for levels in [1, 5, 10, 50, 250] {
            let first = items_per_page(levels);
            assert!(
                list_cost(first, levels) <= f64::from(MAX_QUERY_COST),
                "{levels}"
            );
        }
        // The contract's example: 50 × 5 is about 950; we ask for 55.
        assert_eq!(items_per_page(5), 55);
    }
}
