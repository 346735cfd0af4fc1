//! A fake Shopify Admin API (wiremock) that follows CONTRACTS.md §1, misbehaviour included:
//! for this crate's tests, the daemon's end-to-end tests and demos.
//!
//! "A fake that is kinder than the real API proves nothing", so this one:
//! - answers `POST /admin/api/<version>/graphql.json` only with the right
//!   `X-Shopify-Access-Token`, and emulates the version in the path: `compareQuantity` up to
//!   2025-10, `changeFromQuantity` and `@idempotent` from 2026-01, both mandatory and the old
//!   fields refused from 2026-04;
//! - prices every query (object 1, connection 2 + first × node), refuses one over 1,000
//!   points (`MAX_COST_EXCEEDED`), keeps a leaky bucket refilled at `restoreRate` per second,
//!   answers `THROTTLED` (HTTP 200) when it cannot pay, and reports `extensions.cost` always;
//! - pages with opaque cursors, inventory items and their levels alike;
//! - applies an inventory mutation all or nothing: a stale compare, an unknown item or a
//!   location that does not stock it is a user error and nothing changes; more than 250
//!   quantities is refused;
//! - remembers idempotency keys: the same key and input replays the first answer without
//!   applying again, another input is `IDEMPOTENCY_KEY_PARAMETER_MISMATCH`, a key whose
//!   attempt failed is `IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED`;
//! - can be told to fail the next call: 429 with `Retry-After`, 500, a garbage body, a
//!   `THROTTLED`, or a slow answer (which still applies the mutation, as a real timeout can);
//! - signs webhooks as Shopify does, with stable event ids so a redelivery is a duplicate.
//!
//! It understands the GraphQL our connector sends (arguments as variables or scalar
//! literals), not GraphQL in general.
//!
//! ```ignore
//! let fake = FakeShopify::builder()
//!     .variant("TSHIRT-RED-M", 271_878_346_596_884_015, &[(24_826_418, 3)])
//!     .bucket(1000.0, 50.0)
//!     .start()
//!     .await;
//! let settings = fake.settings("shopify-main").location("24826418", store_1);
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use omnistock_sdk::signature::sign_base64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::gid::{Gid, GidKind};
use crate::settings::{ApiVersion, ShopifySettings};

/// The most a query may cost.
const MAX_COST: f64 = 1000.0;
/// The most quantities one inventory mutation may carry.
const MAX_QUANTITIES: usize = 250;
/// A mutation's cost.
const MUTATION_COST: f64 = 10.0;

pub const DEFAULT_TOKEN: &str = "shpat_fake_token";
pub const DEFAULT_SECRET: &str = "fake-client-secret";
/// The order id of sample webhooks (beyond 2^53, as real ids are).
pub const SAMPLE_ORDER_ID: u64 = 820_982_911_946_154_508;
/// The line item id of sample webhooks.
pub const SAMPLE_LINE_ID: u64 = 866_550_311_766_439_020;

/// The quantities of one inventory level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FakeLevel {
    pub available: i64,
    pub committed: i64,
    pub reserved: i64,
    pub incoming: i64,
}

impl FakeLevel {
    /// `on_hand = available + committed + reserved` (the unavailable states we model).
    pub fn on_hand(&self) -> i64 {
        self.available + self.committed + self.reserved
    }

    fn named(&self, name: &str) -> Option<i64> {
        Some(match name {
            "available" => self.available,
            "on_hand" => self.on_hand(),
            "committed" => self.committed,
            "reserved" => self.reserved,
            "incoming" => self.incoming,
            "damaged" | "quality_control" | "safety_stock" => 0,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
struct FakeItem {
    sku: Option<String>,
    levels: BTreeMap<u64, FakeLevel>,
}

/// How the next call should go wrong.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// HTTP 429 with `Retry-After: <seconds>`.
    TooManyRequests { retry_after_secs: f64 },
    /// HTTP 500.
    ServerError,
    /// HTTP 200 with an HTML page.
    Garbage,
    /// HTTP 200 with a `THROTTLED` error, whatever the bucket holds.
    Throttled,
    /// The normal answer, after the builder's slow delay (mutations are still applied).
    Slow,
}

/// What the fake saw, for assertions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FakeStats {
    pub requests: u64,
    pub throttled: u64,
    pub mutations_applied: u64,
    pub idempotent_replays: u64,
    pub max_requested_cost: f64,
    pub cost_spent: f64,
    /// The largest number of quantities one mutation carried.
    pub largest_batch: usize,
}

#[derive(Debug)]
struct Bucket {
    max: f64,
    restore: f64,
    available: f64,
    at: Instant,
}

impl Bucket {
    fn refill(&mut self) {
        let now = Instant::now();
        self.available = (self.available
            + self.restore * now.duration_since(self.at).as_secs_f64())
        .min(self.max);
        self.at = now;
    }

    fn status(&self) -> Value {
        json!({
            "maximumAvailable": self.max,
            "currentlyAvailable": self.available.floor(),
            "restoreRate": self.restore,
        })
    }
}

#[derive(Debug)]
struct Stored {
    input: Value,
    data: Value,
    failed: bool,
}

#[derive(Debug)]
struct State {
    token: String,
    secret: String,
    items: BTreeMap<u64, FakeItem>,
    bucket: Bucket,
    failures: VecDeque<Failure>,
    slow: Duration,
    keys: HashMap<String, Stored>,
    subscriptions: BTreeMap<u64, (String, String)>,
    next_id: u64,
    stats: FakeStats,
    requests: Vec<Value>,
}

/// Builds a [`FakeShopify`].
#[derive(Debug)]
pub struct FakeShopifyBuilder {
    items: BTreeMap<u64, FakeItem>,
    bucket: (f64, f64),
    token: String,
    secret: String,
    slow: Duration,
    subscriptions: Vec<(String, String)>,
}

impl FakeShopify {
    /// An empty shop with a 2,000-point bucket refilled at 100/s (a standard plan).
    pub fn builder() -> FakeShopifyBuilder {
        FakeShopifyBuilder {
            items: BTreeMap::new(),
            bucket: (2000.0, 100.0),
            token: DEFAULT_TOKEN.to_owned(),
            secret: DEFAULT_SECRET.to_owned(),
            slow: Duration::from_secs(3),
            subscriptions: Vec::new(),
        }
    }
}

impl FakeShopifyBuilder {
    /// A variant with `sku`, its inventory item `item_id`, stocked at `(location, available)`.
    pub fn variant(mut self, sku: &str, item_id: u64, levels: &[(u64, i64)]) -> Self {
        self.items
            .insert(item_id, item(Some(sku.to_owned()), levels));
        self
    }

    /// A variant without a SKU (Shopify allows it; we must report it, not guess).
    pub fn variant_without_sku(mut self, item_id: u64, levels: &[(u64, i64)]) -> Self {
        self.items.insert(item_id, item(None, levels));
        self
    }

    /// `count` variants `PREFIX-00001…`, item ids from `first_item`, each at every location.
    pub fn many_variants(
        mut self,
        prefix: &str,
        first_item: u64,
        count: u64,
        locations: &[(u64, i64)],
    ) -> Self {
        for n in 0..count {
            self.items.insert(
                first_item + n,
                item(Some(format!("{prefix}-{:05}", n + 1)), locations),
            );
        }
        self
    }

    /// The cost bucket: `maximum` points, refilled at `restore_rate` per second.
    pub fn bucket(mut self, maximum: f64, restore_rate: f64) -> Self {
        self.bucket = (maximum, restore_rate);
        self
    }

    pub fn access_token(mut self, token: &str) -> Self {
        self.token = token.to_owned();
        self
    }

    pub fn webhook_secret(mut self, secret: &str) -> Self {
        self.secret = secret.to_owned();
        self
    }

    /// How late a [`Failure::Slow`] answer comes.
    pub fn slow_answer(mut self, delay: Duration) -> Self {
        self.slow = delay;
        self
    }

    /// An existing webhook subscription (`ORDERS_CREATE`, `https://old.example/hook`).
    pub fn subscription(mut self, topic: &str, uri: &str) -> Self {
        self.subscriptions.push((topic.to_owned(), uri.to_owned()));
        self
    }

    /// Starts the server on a free port.
    pub async fn start(self) -> FakeShopify {
        let (max, restore) = self.bucket;
        let mut subscriptions = BTreeMap::new();
        let mut next_id = 1_000_000_000_000_000_001;
        for (topic, uri) in self.subscriptions {
            subscriptions.insert(next_id, (topic, uri));
            next_id += 1;
        }
        let state = Arc::new(Mutex::new(State {
            token: self.token,
            secret: self.secret,
            items: self.items,
            bucket: Bucket {
                max,
                restore,
                available: max,
                at: Instant::now(),
            },
            failures: VecDeque::new(),
            slow: self.slow,
            keys: HashMap::new(),
            subscriptions,
            next_id,
            stats: FakeStats::default(),
            requests: Vec::new(),
        }));
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/admin/api/[^/]+/graphql\.json$"))
            .respond_with(Handler(state.clone()))
            .mount(&server)
            .await;
        FakeShopify { server, state }
    }
}

fn item(sku: Option<String>, levels: &[(u64, i64)]) -> FakeItem {
    FakeItem {
        sku,
        levels: levels
            .iter()
            .map(|&(location, available)| {
                (
                    location,
                    FakeLevel {
                        available,
                        ..FakeLevel::default()
                    },
                )
            })
            .collect(),
    }
}

/// A running fake shop.
#[derive(Debug)]
pub struct FakeShopify {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl FakeShopify {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shop URL (`http://127.0.0.1:<port>`).
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Connector settings for this shop: its URL, token and secret; no locations mapped.
    pub fn settings(&self, channel: &str) -> ShopifySettings {
        let state = self.state();
        ShopifySettings::new(
            channel,
            self.uri(),
            state.token.clone(),
            state.secret.clone(),
        )
    }

    /// The `available` quantity of an item at a location.
    pub fn level(&self, item_id: u64, location: u64) -> Option<i64> {
        self.quantities(item_id, location).map(|l| l.available)
    }

    /// All quantities of an item at a location.
    pub fn quantities(&self, item_id: u64, location: u64) -> Option<FakeLevel> {
        self.state()
            .items
            .get(&item_id)
            .and_then(|i| i.levels.get(&location))
            .copied()
    }

    /// Changes a number behind our back (a sale in the shop we have not heard of).
    pub fn set_available(&self, item_id: u64, location: u64, available: i64) {
        if let Some(level) = self
            .state()
            .items
            .get_mut(&item_id)
            .and_then(|i| i.levels.get_mut(&location))
        {
            level.available = available;
        }
    }

    /// Makes the next call fail this way (queued: several calls fail in order).
    pub fn fail_next(&self, failure: Failure) {
        self.state().failures.push_back(failure);
    }

    pub fn stats(&self) -> FakeStats {
        self.state().stats.clone()
    }

    /// Every request body received, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.state().requests.clone()
    }

    /// The webhook subscriptions, as (topic enum, uri).
    pub fn subscriptions(&self) -> Vec<(String, String)> {
        self.state().subscriptions.values().cloned().collect()
    }

    /// `X-Shopify-Hmac-Sha256` of `body`.
    pub fn sign(&self, body: &[u8]) -> String {
        sign_base64(self.state().secret.as_bytes(), &[body])
    }

    /// The headers Shopify would send with `body` under `topic`. The event id is derived
    /// from both, so a redelivery of the same body carries the same id.
    pub fn webhook_headers(&self, topic: &str, body: &[u8]) -> Vec<(String, String)> {
        let digest = hex::encode(
            Sha256::new()
                .chain_update(topic)
                .chain_update(body)
                .finalize(),
        );
        let uuid = format!(
            "{}-{}-{}-{}-{}",
            &digest[0..8],
            &digest[8..12],
            &digest[12..16],
            &digest[16..20],
            &digest[20..32]
        );
        vec![
            ("Content-Type".into(), "application/json".into()),
            ("X-Shopify-Topic".into(), topic.into()),
            ("X-Shopify-Hmac-Sha256".into(), self.sign(body)),
            (
                "X-Shopify-Shop-Domain".into(),
                "fake-shop.myshopify.com".into(),
            ),
            (
                "X-Shopify-API-Version".into(),
                ApiVersion::CURRENT.to_string(),
            ),
            ("X-Shopify-Webhook-Id".into(), format!("w{}", &uuid[1..])),
            ("X-Shopify-Event-Id".into(), uuid),
            (
                "X-Shopify-Triggered-At".into(),
                "2026-11-23T11:00:00.000Z".into(),
            ),
        ]
    }

    /// A realistic body for `topic`, about the first variant with a SKU (its first level).
    pub fn sample_body(&self, topic: &str) -> Vec<u8> {
        let state = self.state();
        let (item_id, sku, location, available) = state
            .items
            .iter()
            .find_map(|(id, i)| {
                let sku = i.sku.clone()?;
                let (loc, level) = i.levels.iter().next()?;
                Some((*id, sku, *loc, level.available))
            })
            .unwrap_or((1, "SAMPLE-SKU".into(), 1, 0));
        let line = json!({
            "id": SAMPLE_LINE_ID, "variant_id": 39_072_856u64, "product_id": 632_910_392u64,
            "sku": sku, "quantity": 1, "current_quantity": 1, "fulfillable_quantity": 1,
            "fulfillment_service": "manual", "fulfillment_status": null, "requires_shipping": true,
        });
        let order = |extra: Value| {
            let mut o = json!({
                "id": SAMPLE_ORDER_ID, "admin_graphql_api_id": format!("gid://shopify/Order/{SAMPLE_ORDER_ID}"),
                "name": "#1001", "created_at": "2026-11-23T10:00:00-05:00", "updated_at": "2026-11-23T10:00:00-05:00",
                "cancelled_at": null, "cancel_reason": null, "financial_status": "paid", "fulfillment_status": null,
                "source_name": "web", "location_id": null, "test": false, "line_items": [line.clone()],
            });
            if let (Some(o), Value::Object(extra)) = (o.as_object_mut(), extra) {
                o.extend(extra);
            }
            o
        };
        let body = match topic {
            "inventory_levels/update" => json!({
                "inventory_item_id": item_id, "location_id": location, "available": available,
                "updated_at": "2026-11-23T06:00:00-05:00",
                "admin_graphql_api_id": format!("gid://shopify/InventoryLevel/{location}?inventory_item_id={item_id}"),
            }),
            "orders/create" => order(json!({})),
            "orders/cancelled" => order(json!({
                "cancelled_at": "2026-11-23T12:00:00-05:00", "cancel_reason": "customer",
                "updated_at": "2026-11-23T12:00:00-05:00",
            })),
            "orders/fulfilled" => {
                let mut fulfilled = line.clone();
                fulfilled["fulfillment_status"] = json!("fulfilled");
                fulfilled["fulfillable_quantity"] = json!(0);
                order(json!({
                    "fulfillment_status": "fulfilled", "updated_at": "2026-11-24T09:00:00-05:00",
                    "line_items": [fulfilled],
                }))
            }
            "fulfillments/create" => json!({
                "id": 255_858_046u64, "order_id": SAMPLE_ORDER_ID, "status": "success",
                "created_at": "2026-11-24T09:00:00-05:00", "location_id": location,
                "line_items": [line],
            }),
            "refunds/create" => json!({
                "id": 509_562_969u64, "order_id": SAMPLE_ORDER_ID, "created_at": "2026-11-25T09:00:00-05:00",
                "processed_at": "2026-11-25T09:00:00-05:00", "note": "changed mind", "restock": true,
                "refund_line_items": [{
                    "id": 104_689_539u64, "line_item_id": SAMPLE_LINE_ID, "quantity": 1,
                    "location_id": location, "restock_type": "cancel", "line_item": line,
                }],
                "transactions": [], "order_adjustments": [],
            }),
            other => json!({ "topic": other }),
        };
        body.to_string().into_bytes()
    }

    /// A signed delivery of `body` under `topic`: (headers, body).
    pub fn webhook(&self, topic: &str, body: Vec<u8>) -> (Vec<(String, String)>, Vec<u8>) {
        (self.webhook_headers(topic, &body), body)
    }
}

struct Handler(Arc<Mutex<State>>);

fn throttle_status_response(state: &State, requested: f64) -> Value {
    json!({
        "errors": [{
            "message": "Throttled",
            "extensions": { "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits" },
        }],
        "extensions": { "cost": {
            "requestedQueryCost": requested, "actualQueryCost": null,
            "throttleStatus": state.bucket.status(),
        }},
    })
}

impl Respond for Handler {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        state.stats.requests += 1;
        let token = request
            .headers
            .get("X-Shopify-Access-Token")
            .and_then(|v| v.to_str().ok());
        if token != Some(state.token.as_str()) {
            return ResponseTemplate::new(401).set_body_json(json!({
                "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
            }));
        }
        let version = request
            .url
            .path()
            .split('/')
            .nth(3)
            .and_then(|v| v.parse::<ApiVersion>().ok());
        let Some(version) = version else {
            return ResponseTemplate::new(404).set_body_json(json!({ "errors": "Not Found" }));
        };
        let mut delay = None;
        match state.failures.pop_front() {
            Some(Failure::TooManyRequests { retry_after_secs }) => {
                return ResponseTemplate::new(429)
                    .insert_header("Retry-After", format!("{retry_after_secs:.1}").as_str())
                    .set_body_json(json!({
                        "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
                    }));
            }
            Some(Failure::ServerError) => {
                return ResponseTemplate::new(500)
                    .set_body_json(json!({ "errors": "Internal Server Error" }));
            }
            Some(Failure::Garbage) => {
                return ResponseTemplate::new(200)
                    .insert_header("Content-Type", "text/html")
                    .set_body_string("<html><body><h1>502 Bad Gateway</h1></body></html>");
            }
            Some(Failure::Throttled) => {
                state.stats.throttled += 1;
                let body = throttle_status_response(&state, MUTATION_COST);
                return ResponseTemplate::new(200).set_body_json(body);
            }
            Some(Failure::Slow) => delay = Some(state.slow),
            None => {}
        }
        let body: Value = match serde_json::from_slice(&request.body) {
            Ok(body) => body,
            Err(_) => {
                return ResponseTemplate::new(400).set_body_json(json!({
                    "errors": { "query": "Required parameter missing or invalid" }
                }));
            }
        };
        state.requests.push(body.clone());
        let query = body
            .get("query")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let variables = body.get("variables").cloned().unwrap_or(json!({}));
        let answer = state.execute(version, &query, &variables);
        let response = ResponseTemplate::new(200).set_body_json(answer);
        match delay {
            Some(delay) => response.set_delay(delay),
            None => response,
        }
    }
}

/// What a GraphQL call asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    Set,
    Adjust,
    WebhookCreate,
    WebhookUpdate,
    Webhooks,
    Items,
    Item,
    Nodes,
}

fn operation(query: &str) -> Option<Operation> {
    [
        ("inventorySetQuantities(", Operation::Set),
        ("inventoryAdjustQuantities(", Operation::Adjust),
        ("webhookSubscriptionCreate(", Operation::WebhookCreate),
        ("webhookSubscriptionUpdate(", Operation::WebhookUpdate),
        ("webhookSubscriptions(", Operation::Webhooks),
        ("inventoryItems(", Operation::Items),
        ("inventoryItem(", Operation::Item),
        ("nodes(", Operation::Nodes),
    ]
    .into_iter()
    .find(|(name, _)| query.contains(name))
    .map(|(_, op)| op)
}

/// The argument text of `field(…)` in `query`.
fn args_of<'q>(query: &'q str, field: &str) -> Option<&'q str> {
    let start = query.find(&format!("{field}("))? + field.len() + 1;
    let mut depth = 1;
    for (i, c) in query[start..].char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&query[start..start + i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// The value of argument `name` in an argument text: a `$variable`, an integer, a string, a
/// list of strings, or an enum / boolean / null.
fn arg(args: &str, name: &str, variables: &Value) -> Option<Value> {
    let mut search = args;
    let rest = loop {
        let at = search.find(name)?;
        let before_ok = at == 0
            || !search[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
        let after = search[at + name.len()..].trim_start();
        if before_ok && after.starts_with(':') {
            break after[1..].trim_start();
        }
        search = &search[at + name.len()..];
    };
    let token_end = |s: &str| {
        s.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(s.len())
    };
    if let Some(var) = rest.strip_prefix('$') {
        let var = &var[..token_end(var)];
        return variables.get(var).cloned();
    }
    if let Some(text) = rest.strip_prefix('"') {
        return Some(Value::String(text[..text.find('"')?].to_owned()));
    }
    if let Some(list) = rest.strip_prefix('[') {
        let list = &list[..list.find(']')?];
        return Some(Value::Array(
            list.split(',')
                .map(|s| s.trim().trim_matches('"'))
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ));
    }
    let token = &rest[..token_end(rest)];
    if let Ok(n) = token.parse::<i64>() {
        return Some(json!(n));
    }
    Some(match token {
        "true" => json!(true),
        "false" => json!(false),
        "null" => Value::Null,
        other => Value::String(other.to_owned()),
    })
}

fn int_arg(query: &str, field: &str, name: &str, variables: &Value) -> Option<u64> {
    args_of(query, field)
        .and_then(|a| arg(a, name, variables))
        .and_then(|v| v.as_u64())
}

fn top_error(message: &str, code: &str) -> Value {
    json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })
}

/// The top-level error for an input line carrying `field`, which its version does not define.
fn undefined_field(input_type: &str, field: &str) -> Value {
    top_error(
        &format!(
            "Variable $input of type {input_type} was provided invalid value: {field} (Field is not defined on InventoryQuantityInput)"
        ),
        "INVALID_VARIABLE",
    )
}

fn user_error(code: &str, field: &[&str], message: &str) -> Value {
    json!({ "code": code, "field": field, "message": message })
}

fn encode_cursor(kind: &str, id: u64) -> String {
    BASE64.encode(format!("{{\"last_id\":{id},\"kind\":\"{kind}\"}}"))
}

fn decode_cursor(cursor: &Value) -> Option<u64> {
    let text = cursor.as_str()?;
    let json: Value = serde_json::from_slice(&BASE64.decode(text).ok()?).ok()?;
    json.get("last_id")?.as_u64()
}

const REASONS: &[&str] = &[
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_updated",
    "movement_received",
    "movement_canceled",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
];

impl State {
    fn next_gid(&mut self, kind: &str) -> String {
        self.next_id += 1;
        format!("gid://shopify/{kind}/{}", self.next_id)
    }

    fn execute(&mut self, version: ApiVersion, query: &str, variables: &Value) -> Value {
        let Some(op) = operation(query) else {
            return top_error("Field doesn't exist on type 'QueryRoot'", "undefinedField");
        };
        let levels_first = int_arg(query, "inventoryLevels", "first", variables).unwrap_or(0);
        let item_cost = |levels: u64| 3 + 3 * levels;
        let requested = match op {
            Operation::Items => {
                let first = int_arg(query, "inventoryItems", "first", variables).unwrap_or(0);
                2 + first * item_cost(levels_first)
            }
            Operation::Nodes => {
                let ids = args_of(query, "nodes")
                    .and_then(|a| arg(a, "ids", variables))
                    .and_then(|v| v.as_array().map(Vec::len))
                    .unwrap_or(0) as u64;
                2 + ids * item_cost(levels_first)
            }
            Operation::Item => 2 + item_cost(levels_first),
            Operation::Webhooks => {
                2 + int_arg(query, "webhookSubscriptions", "first", variables).unwrap_or(0)
            }
            _ => MUTATION_COST as u64,
        } as f64;
        if requested > MAX_COST {
            return json!({ "errors": [{
                "message": format!("Query cost is {requested}, which exceeds the single query max cost limit (1000)."),
                "extensions": { "code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_COST },
            }]});
        }
        self.bucket.refill();
        self.stats.max_requested_cost = self.stats.max_requested_cost.max(requested);
        if self.bucket.available < requested {
            self.stats.throttled += 1;
            return throttle_status_response(self, requested);
        }
        self.bucket.available -= requested;
        let (mut answer, actual) = match op {
            Operation::Items => self.items_page(query, variables, levels_first),
            Operation::Item => self.item_levels(query, variables, levels_first),
            Operation::Nodes => self.nodes(query, variables, levels_first),
            Operation::Set => (self.set(version, query, variables), MUTATION_COST),
            Operation::Adjust => (self.adjust(version, query, variables), MUTATION_COST),
            Operation::Webhooks => self.webhooks(),
            Operation::WebhookCreate => (self.webhook_create(query, variables), MUTATION_COST),
            Operation::WebhookUpdate => (self.webhook_update(query, variables), MUTATION_COST),
        };
        let actual = actual.min(requested);
        self.bucket.available += requested - actual;
        self.stats.cost_spent += actual;
        if let Some(obj) = answer.as_object_mut() {
            obj.insert(
                "extensions".into(),
                json!({ "cost": {
                    "requestedQueryCost": requested, "actualQueryCost": actual,
                    "throttleStatus": self.bucket.status(),
                }}),
            );
        }
        answer
    }

    fn quantity_names(query: &str, variables: &Value) -> Vec<String> {
        args_of(query, "quantities")
            .and_then(|a| arg(a, "names", variables))
            .and_then(|v| v.as_array().cloned())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An item node with at most `first` levels after `after`; and its cost.
    fn item_node(
        &self,
        id: u64,
        item: &FakeItem,
        names: &[String],
        first: u64,
        after: Option<u64>,
    ) -> (Value, f64) {
        let levels: Vec<(&u64, &FakeLevel)> = item
            .levels
            .iter()
            .filter(|(loc, _)| after.is_none_or(|a| **loc > a))
            .collect();
        let shown: Vec<_> = levels.iter().take(first as usize).collect();
        let edges: Vec<Value> = shown
            .iter()
            .map(|(loc, level)| {
                let quantities: Vec<Value> = names
                    .iter()
                    .filter_map(|n| level.named(n).map(|q| json!({ "name": n, "quantity": q })))
                    .collect();
                json!({ "cursor": encode_cursor("level", **loc), "node": {
                    "location": { "id": Gid::format(GidKind::Location, **loc) },
                    "quantities": quantities,
                }})
            })
            .collect();
        let node = json!({
            "id": Gid::format(GidKind::InventoryItem, id),
            "sku": item.sku,
            "inventoryLevels": {
                "edges": edges,
                "pageInfo": {
                    "hasNextPage": levels.len() > shown.len(),
                    "endCursor": shown.last().map(|(loc, _)| encode_cursor("level", **loc)),
                },
            },
        });
        (node, (3 + 3 * shown.len()) as f64)
    }

    fn items_page(&self, query: &str, variables: &Value, levels: u64) -> (Value, f64) {
        let first = int_arg(query, "inventoryItems", "first", variables).unwrap_or(0);
        let after = args_of(query, "inventoryItems")
            .and_then(|a| arg(a, "after", variables))
            .and_then(|c| decode_cursor(&c));
        let names = Self::quantity_names(query, variables);
        let candidates: Vec<_> = self
            .items
            .iter()
            .filter(|(id, _)| after.is_none_or(|a| **id > a))
            .collect();
        let mut cost = 2.0;
        let mut edges = Vec::new();
        for (id, item) in candidates.iter().take(first as usize) {
            let (node, c) = self.item_node(**id, item, &names, levels, None);
            cost += c;
            edges.push(json!({ "cursor": encode_cursor("item", **id), "node": node }));
        }
        let last = candidates
            .iter()
            .take(first as usize)
            .next_back()
            .map(|(id, _)| **id);
        let data = json!({ "data": { "inventoryItems": {
            "edges": edges,
            "pageInfo": {
                "hasNextPage": candidates.len() > first as usize,
                "endCursor": last.map(|id| encode_cursor("item", id)),
            },
        }}});
        (data, cost)
    }

    fn item_levels(&self, query: &str, variables: &Value, levels: u64) -> (Value, f64) {
        let args = args_of(query, "inventoryItem").unwrap_or("");
        let id = arg(args, "id", variables).and_then(|v| {
            v.as_str()
                .and_then(|s| Gid::parse(s, GidKind::InventoryItem).ok())
        });
        let after = args_of(query, "inventoryLevels")
            .and_then(|a| arg(a, "after", variables))
            .and_then(|c| decode_cursor(&c));
        let names = Self::quantity_names(query, variables);
        match id.and_then(|g| self.items.get(&g.id).map(|i| (g.id, i))) {
            Some((id, item)) => {
                let (node, cost) = self.item_node(id, item, &names, levels, after);
                (json!({ "data": { "inventoryItem": node } }), 2.0 + cost)
            }
            None => (json!({ "data": { "inventoryItem": null } }), 2.0),
        }
    }

    fn nodes(&self, query: &str, variables: &Value, levels: u64) -> (Value, f64) {
        let ids = args_of(query, "nodes")
            .and_then(|a| arg(a, "ids", variables))
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        let names = Self::quantity_names(query, variables);
        let mut cost = 2.0;
        let nodes: Vec<Value> = ids
            .iter()
            .map(|id| {
                let found = id
                    .as_str()
                    .and_then(|s| Gid::parse(s, GidKind::InventoryItem).ok())
                    .and_then(|g| self.items.get(&g.id).map(|i| (g.id, i)));
                match found {
                    Some((id, item)) => {
                        let (node, c) = self.item_node(id, item, &names, levels, None);
                        cost += c;
                        node
                    }
                    None => Value::Null,
                }
            })
            .collect();
        (json!({ "data": { "nodes": nodes } }), cost)
    }

    fn idempotency_key(&self, query: &str, variables: &Value) -> Option<String> {
        let directive = query.find("@idempotent")?;
        let args = args_of(&query[directive..], "@idempotent")?;
        arg(args, "key", variables).and_then(|v| v.as_str().map(str::to_owned))
    }

    /// Version rules shared by both inventory mutations; `Err` is a top-level error.
    fn check_version(
        &self,
        version: ApiVersion,
        query: &str,
        entries: &[Value],
        entry_type: &str,
    ) -> Result<(), Value> {
        let has_directive = query.contains("@idempotent");
        if !version.uses_change_from() {
            if has_directive {
                return Err(top_error(
                    "Directive 'idempotent' is not defined",
                    "undefinedDirective",
                ));
            }
            if entries
                .iter()
                .any(|e| e.get("changeFromQuantity").is_some())
            {
                return Err(undefined_field(entry_type, "changeFromQuantity"));
            }
        }
        if version.requires_idempotency() {
            if entries.iter().any(|e| e.get("compareQuantity").is_some()) {
                return Err(undefined_field(entry_type, "compareQuantity"));
            }
            if !has_directive {
                return Err(top_error(
                    "The @idempotent directive is required for this mutation.",
                    "BAD_REQUEST",
                ));
            }
            if entries
                .iter()
                .any(|e| e.get("changeFromQuantity").is_none())
            {
                return Err(top_error(
                    "changeFromQuantity is required on every quantity (pass null to opt out).",
                    "BAD_REQUEST",
                ));
            }
        }
        Ok(())
    }

    /// Replays or refuses a known key; `None` when the key is new.
    fn replay(&mut self, key: Option<&String>, input: &Value, root: &str) -> Option<Value> {
        let stored = self.keys.get(key?)?;
        let payload = if stored.input != *input {
            json!({ "inventoryAdjustmentGroup": null, "userErrors": [user_error(
                "IDEMPOTENCY_KEY_PARAMETER_MISMATCH", &["input"],
                "The same idempotency key cannot be used with different operation parameters.")] })
        } else if stored.failed {
            json!({ "inventoryAdjustmentGroup": null, "userErrors": [user_error(
                "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED", &["input"],
                "A previous request with this idempotency key failed. Retry with a new idempotency key.")] })
        } else {
            self.stats.idempotent_replays += 1;
            return Some(stored.data.clone());
        };
        Some(json!({ "data": { root: payload } }))
    }

    fn remember(&mut self, key: Option<String>, input: &Value, data: &Value, failed: bool) {
        if let Some(key) = key {
            self.keys.insert(
                key,
                Stored {
                    input: input.clone(),
                    data: data.clone(),
                    failed,
                },
            );
        }
    }

    fn level_errors(
        &self,
        entries: &[Value],
        list: &str,
        errors: &mut Vec<Value>,
    ) -> Vec<Option<(u64, u64)>> {
        let mut seen = std::collections::HashSet::new();
        entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let index = i.to_string();
                let item = e
                    .get("inventoryItemId")
                    .and_then(Value::as_str)
                    .and_then(|s| Gid::parse(s, GidKind::InventoryItem).ok());
                let location = e
                    .get("locationId")
                    .and_then(Value::as_str)
                    .and_then(|s| Gid::parse(s, GidKind::Location).ok());
                let Some(item) = item.filter(|g| self.items.contains_key(&g.id)) else {
                    errors.push(user_error(
                        "INVALID_INVENTORY_ITEM",
                        &["input", list, &index, "inventoryItemId"],
                        "The specified inventory item could not be found.",
                    ));
                    return None;
                };
                let known_location =
                    location.filter(|l| self.items.values().any(|i| i.levels.contains_key(&l.id)));
                let Some(location) = known_location else {
                    errors.push(user_error(
                        "INVALID_LOCATION",
                        &["input", list, &index, "locationId"],
                        "The specified location could not be found.",
                    ));
                    return None;
                };
                if !self.items[&item.id].levels.contains_key(&location.id) {
                    errors.push(user_error(
                        "ITEM_NOT_STOCKED_AT_LOCATION",
                        &["input", list, &index, "locationId"],
                        "The specified inventory item is not stocked at the location.",
                    ));
                    return None;
                }
                if !seen.insert((item.id, location.id)) {
                    errors.push(user_error(
                        "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                        &["input", list, &index],
                        "The combination of inventoryItemId and locationId must be unique.",
                    ));
                    return None;
                }
                Some((item.id, location.id))
            })
            .collect()
    }

    fn group(&mut self, input: &Value, changes: Vec<Value>) -> Value {
        json!({
            "id": self.next_gid("InventoryAdjustmentGroup"),
            "createdAt": "2026-11-23T10:00:00Z",
            "reason": input.get("reason").cloned().unwrap_or(Value::Null),
            "referenceDocumentUri": input.get("referenceDocumentUri").cloned().unwrap_or(Value::Null),
            "changes": changes,
        })
    }

    fn change(name: &str, delta: i64, after: i64, item: u64, location: u64) -> Value {
        json!({
            "name": name, "delta": delta, "quantityAfterChange": after,
            "item": { "id": Gid::format(GidKind::InventoryItem, item) },
            "location": { "id": Gid::format(GidKind::Location, location) },
        })
    }

    /// An inventory mutation's input, its lines (under `list`) and its idempotency key; `Err`
    /// is the top-level error refusing it before any line is looked at.
    fn mutation_input(
        &self,
        version: ApiVersion,
        query: &str,
        variables: &Value,
        list: &str,
        input_type: &str,
    ) -> Result<(Value, Vec<Value>, Option<String>), Value> {
        let input = variables.get("input").cloned().unwrap_or(Value::Null);
        let entries = input
            .get(list)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if entries.len() > MAX_QUANTITIES {
            return Err(top_error(
                &format!(
                    "The input array size of {} is greater than the maximum allowed of {MAX_QUANTITIES}.",
                    entries.len()
                ),
                "MAX_INPUT_SIZE_EXCEEDED",
            ));
        }
        self.check_version(version, query, &entries, input_type)?;
        let key = self.idempotency_key(query, variables);
        Ok((input, entries, key))
    }

    /// A mutation's `reason` must be one Shopify knows.
    fn check_reason(input: &Value, errors: &mut Vec<Value>) {
        if !REASONS.contains(&input.get("reason").and_then(Value::as_str).unwrap_or("")) {
            errors.push(user_error(
                "INVALID_REASON",
                &["input", "reason"],
                "The specified reason is invalid.",
            ));
        }
    }

    /// The answer to mutation `root` refused with user `errors`, remembered under its key.
    fn refuse(
        &mut self,
        root: &str,
        key: Option<String>,
        input: &Value,
        errors: Vec<Value>,
    ) -> Value {
        let data =
            json!({ "data": { root: { "inventoryAdjustmentGroup": null, "userErrors": errors } } });
        self.remember(key, input, &data, true);
        data
    }

    /// The answer to mutation `root` applied as `changes`, remembered under its key.
    fn applied(
        &mut self,
        root: &str,
        key: Option<String>,
        input: &Value,
        changes: Vec<Value>,
    ) -> Value {
        self.stats.mutations_applied += 1;
        let group = self.group(input, changes);
        let data =
            json!({ "data": { root: { "inventoryAdjustmentGroup": group, "userErrors": [] } } });
        self.remember(key, input, &data, false);
        data
    }

    fn set(&mut self, version: ApiVersion, query: &str, variables: &Value) -> Value {
        const ROOT: &str = "inventorySetQuantities";
        let (input, entries, key) = match self.mutation_input(
            version,
            query,
            variables,
            "quantities",
            "InventorySetQuantitiesInput!",
        ) {
            Ok(opened) => opened,
            Err(e) => return e,
        };
        if version.requires_idempotency() && input.get("ignoreCompareQuantity").is_some() {
            return top_error(
                "Variable $input of type InventorySetQuantitiesInput! was provided invalid value: ignoreCompareQuantity (Field is not defined)",
                "INVALID_VARIABLE",
            );
        }
        if let Some(replayed) = self.replay(key.as_ref(), &input, ROOT) {
            return replayed;
        }
        self.stats.largest_batch = self.stats.largest_batch.max(entries.len());
        let name = input.get("name").and_then(Value::as_str).unwrap_or("");
        let mut errors = Vec::new();
        if !matches!(name, "available" | "on_hand") {
            errors.push(user_error(
                "INVALID_NAME",
                &["input", "name"],
                "The quantity name must be either 'available' or 'on_hand'.",
            ));
        }
        Self::check_reason(&input, &mut errors);
        let targets = self.level_errors(&entries, "quantities", &mut errors);
        let ignore_compare =
            input.get("ignoreCompareQuantity").and_then(Value::as_bool) == Some(true);
        for (i, (entry, target)) in entries.iter().zip(&targets).enumerate() {
            let Some((item, location)) = *target else {
                continue;
            };
            let level = self.items[&item].levels[&location];
            let current = if name == "on_hand" {
                level.on_hand()
            } else {
                level.available
            };
            let index = i.to_string();
            if entry.get("quantity").and_then(Value::as_i64).unwrap_or(0) > 1_000_000_000 {
                errors.push(user_error(
                    "INVALID_QUANTITY_TOO_HIGH",
                    &["input", "quantities", &index, "quantity"],
                    "The quantity can't be higher than 1,000,000,000.",
                ));
            }
            if version.uses_change_from() && entry.get("changeFromQuantity").is_some() {
                if let Some(from) = entry.get("changeFromQuantity").and_then(Value::as_i64)
                    && from != current
                {
                    errors.push(user_error(
                        "CHANGE_FROM_QUANTITY_STALE",
                        &["input", "quantities", &index, "changeFromQuantity"],
                        "The changeFromQuantity value does not match persisted value.",
                    ));
                }
            } else if !ignore_compare {
                match entry.get("compareQuantity").and_then(Value::as_i64) {
                    None => errors.push(user_error("COMPARE_QUANTITY_REQUIRED",
                        &["input", "quantities", &index, "compareQuantity"],
                        "The compareQuantity argument must be given to each quantity or ignored using ignoreCompareQuantity.")),
                    Some(compare) if compare != current => errors.push(user_error("COMPARE_QUANTITY_STALE",
                        &["input", "quantities", &index, "compareQuantity"],
                        "The compareQuantity value does not match persisted value.")),
                    Some(_) => {}
                }
            }
        }
        if !errors.is_empty() {
            return self.refuse(ROOT, key, &input, errors);
        }
        let mut changes = Vec::new();
        for (entry, target) in entries.iter().zip(&targets) {
            let Some((item, location)) = *target else {
                continue;
            };
            let quantity = entry.get("quantity").and_then(Value::as_i64).unwrap_or(0);
            let level = self.level_mut(item, location);
            let delta = if name == "on_hand" {
                quantity - level.on_hand()
            } else {
                quantity - level.available
            };
            level.available += delta;
            let (available, on_hand) = (level.available, level.on_hand());
            changes.push(Self::change("available", delta, available, item, location));
            changes.push(Self::change("on_hand", delta, on_hand, item, location));
        }
        self.applied(ROOT, key, &input, changes)
    }

    fn level_mut(&mut self, item: u64, location: u64) -> &mut FakeLevel {
        self.items
            .get_mut(&item)
            .and_then(|i| i.levels.get_mut(&location))
            .unwrap_or_else(|| unreachable!("checked by level_errors"))
    }

    fn adjust(&mut self, version: ApiVersion, query: &str, variables: &Value) -> Value {
        const ROOT: &str = "inventoryAdjustQuantities";
        let (input, entries, key) = match self.mutation_input(
            version,
            query,
            variables,
            "changes",
            "InventoryAdjustQuantitiesInput!",
        ) {
            Ok(opened) => opened,
            Err(e) => return e,
        };
        if let Some(replayed) = self.replay(key.as_ref(), &input, ROOT) {
            return replayed;
        }
        self.stats.largest_batch = self.stats.largest_batch.max(entries.len());
        let mut errors = Vec::new();
        if input.get("name").and_then(Value::as_str) != Some("available") {
            errors.push(user_error(
                "INVALID_QUANTITY_NAME",
                &["input", "name"],
                "The quantity name is not adjustable here.",
            ));
        }
        Self::check_reason(&input, &mut errors);
        let targets = self.level_errors(&entries, "changes", &mut errors);
        for (i, (entry, target)) in entries.iter().zip(&targets).enumerate() {
            let Some((item, location)) = *target else {
                continue;
            };
            if let Some(from) = entry.get("changeFromQuantity").and_then(Value::as_i64)
                && version.uses_change_from()
                && from != self.items[&item].levels[&location].available
            {
                errors.push(user_error(
                    "CHANGE_FROM_QUANTITY_STALE",
                    &["input", "changes", &i.to_string(), "changeFromQuantity"],
                    "The changeFromQuantity value does not match persisted value.",
                ));
            }
            if entry.get("ledgerDocumentUri").is_some() {
                errors.push(user_error(
                    "INVALID_AVAILABLE_DOCUMENT",
                    &["input", "changes", &i.to_string(), "ledgerDocumentUri"],
                    "A ledger document URI is not allowed when adjusting available.",
                ));
            }
        }
        if !errors.is_empty() {
            return self.refuse(ROOT, key, &input, errors);
        }
        let mut changes = Vec::new();
        for (entry, target) in entries.iter().zip(&targets) {
            let Some((item, location)) = *target else {
                continue;
            };
            let delta = entry.get("delta").and_then(Value::as_i64).unwrap_or(0);
            let level = self.level_mut(item, location);
            level.available += delta;
            let available = level.available;
            changes.push(Self::change("available", delta, available, item, location));
        }
        self.applied(ROOT, key, &input, changes)
    }

    fn webhooks(&self) -> (Value, f64) {
        let edges: Vec<Value> = self
            .subscriptions
            .iter()
            .map(|(id, (topic, uri))| json!({ "node": {
                "id": Gid::format(GidKind::WebhookSubscription, *id), "topic": topic, "uri": uri,
            }}))
            .collect();
        let cost = 2.0 + edges.len() as f64;
        (
            json!({ "data": { "webhookSubscriptions": {
                "edges": edges, "pageInfo": { "hasNextPage": false, "endCursor": null },
            }}}),
            cost,
        )
    }

    fn webhook_create(&mut self, query: &str, variables: &Value) -> Value {
        let args = args_of(query, "webhookSubscriptionCreate").unwrap_or("");
        let topic = arg(args, "topic", variables).and_then(|v| v.as_str().map(str::to_owned));
        let uri = arg(args, "webhookSubscription", variables)
            .and_then(|v| v.get("uri").and_then(Value::as_str).map(str::to_owned));
        let (Some(topic), Some(uri)) = (topic, uri) else {
            return json!({ "data": { "webhookSubscriptionCreate": { "webhookSubscription": null,
                "userErrors": [{ "field": ["webhookSubscription", "uri"], "message": "Address can't be blank" }] } } });
        };
        if self
            .subscriptions
            .values()
            .any(|(t, u)| *t == topic && *u == uri)
        {
            return json!({ "data": { "webhookSubscriptionCreate": { "webhookSubscription": null,
                "userErrors": [{ "field": ["webhookSubscription", "uri"], "message": "Address for this topic has already been taken" }] } } });
        }
        self.next_id += 1;
        let id = self.next_id;
        self.subscriptions.insert(id, (topic.clone(), uri.clone()));
        json!({ "data": { "webhookSubscriptionCreate": { "webhookSubscription": {
            "id": Gid::format(GidKind::WebhookSubscription, id), "topic": topic, "uri": uri,
        }, "userErrors": [] } } })
    }

    fn webhook_update(&mut self, query: &str, variables: &Value) -> Value {
        let args = args_of(query, "webhookSubscriptionUpdate").unwrap_or("");
        let id = arg(args, "id", variables).and_then(|v| {
            v.as_str()
                .and_then(|s| Gid::parse(s, GidKind::WebhookSubscription).ok())
        });
        let uri = arg(args, "webhookSubscription", variables)
            .and_then(|v| v.get("uri").and_then(Value::as_str).map(str::to_owned));
        match (
            id.and_then(|g| self.subscriptions.get_mut(&g.id).map(|s| (g.id, s))),
            uri,
        ) {
            (Some((id, sub)), Some(uri)) => {
                sub.1 = uri;
                json!({ "data": { "webhookSubscriptionUpdate": { "webhookSubscription": {
                    "id": Gid::format(GidKind::WebhookSubscription, id), "topic": sub.0, "uri": sub.1,
                }, "userErrors": [] } } })
            }
            _ => json!({ "data": { "webhookSubscriptionUpdate": { "webhookSubscription": null,
                "userErrors": [{ "field": ["id"], "message": "Webhook subscription does not exist" }] } } }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_resolve_from_variables_and_literals() {
        let vars = json!({ "first": 55, "after": "abc" });
        let q = "inventoryItems(first: $first, after: $after) { inventoryLevels(first: 5) { quantities(names: [\"available\", \"on_hand\"]) } }";
        assert_eq!(int_arg(q, "inventoryItems", "first", &vars), Some(55));
        assert_eq!(int_arg(q, "inventoryLevels", "first", &vars), Some(5));
        assert_eq!(
            args_of(q, "inventoryItems").and_then(|a| arg(a, "after", &vars)),
            Some(json!("abc"))
        );
        assert_eq!(
            State::quantity_names(q, &vars),
            vec!["available", "on_hand"]
        );
        let m = "inventorySetQuantities(input: $input) @idempotent(key: \"k-1\") { x }";
        let d = m.find("@idempotent").expect("present");
        assert_eq!(
            args_of(&m[d..], "@idempotent").and_then(|a| arg(a, "key", &vars)),
            Some(json!("k-1"))
        );
    }

    #[test]
    fn cursors_round_trip() {
        assert_eq!(
            decode_cursor(&json!(encode_cursor("item", u64::MAX))),
            Some(u64::MAX)
        );
    }
}
