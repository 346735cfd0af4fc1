//! A fake ShipHero (wiremock) that follows the contract notes (`shared/api/warehouse.md`,
//! CONTRACTS.md §4.1), misbehaviour included, for this crate's tests, the daemon's end-to-end
//! tests and demos:
//!
//! - `POST /graphql` only with `Authorization: Bearer <access token>`, else 401; a token can be
//!   expired from a test, and `POST /auth/refresh` with the refresh token issues a new one;
//! - answers wrapped in `request_id` / `complexity`; a credits bucket (4,004 credits refilled
//!   at 60 a second by default) pays each query's complexity, and a query it cannot pay gets
//!   ShipHero's throttling error (code 30, `time_remaining`) in an HTTP 200;
//! - `warehouse_products(warehouse_id, sku, updated_from)` paged with opaque cursors
//!   (`updated_from` inclusive), `inventory_add` / `inventory_remove` applied at once;
//! - can be told to fail the next call: 429 with `Retry-After`, 500, a garbage body, a
//!   throttling error, a slow answer;
//! - `webhook_create` (returns the webhook's own `shared_signature_secret`, once),
//!   `webhooks` (paged, never showing a secret) and `webhook_delete` (by `name` and
//!   `shop_name`); creating a second webhook with the same name and shop is refused [unv];
//! - signs webhooks as ShipHero does: `X-ShipHero-HMAC-SHA256` = base64 HMAC-SHA256 of the
//!   body with the secret of the registered webhook of the body's `webhook_type` (the account's
//!   [`DEFAULT_SECRET`] for a type never registered here: a webhook set up before),
//!   `X-Shiphero-Message-ID` derived from the body so a redelivery is a duplicate;
//! - ships all or part of an order's lines ([`FakeShipHero::ship`]): on hand drops when the
//!   label is made, and the `Shipment Update` lists each line with the units it shipped.
//!
//! It reads the arguments our connector sends as variables, not GraphQL in general.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use omnistock_sdk::signature::sign_base64;
use omnistock_sdk::{LocationId, Timestamp};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::settings::ShipHeroSettings;
use crate::webhooks::{HMAC_HEADER, MESSAGE_ID_HEADER, SHIPMENT_UPDATE};

pub const DEFAULT_TOKEN: &str = "fake-access-token-1";
pub const DEFAULT_REFRESH_TOKEN: &str = "fake-refresh-token";
pub const DEFAULT_SECRET: &str = "fake-webhook-secret";
/// The fake's warehouse (ShipHero's base64 warehouse id) and its legacy number.
pub const WAREHOUSE: &str = "V2FyZWhvdXNlOjc2NzMz";
pub const WAREHOUSE_LEGACY_ID: u64 = 76733;
/// The time products were last counted unless a test says otherwise.
pub const BASE_TIME: &str = "2026-11-23T08:00:00Z";

/// How the next call should go wrong.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    TooManyRequests {
        retry_after_secs: f64,
    },
    ServerError,
    /// HTTP 200 with an HTML page.
    Garbage,
    /// ShipHero's throttling error, whatever the bucket holds.
    NotEnoughCredits,
    /// The normal answer, after the builder's slow delay.
    Slow,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeStats {
    pub requests: u64,
    pub refreshes: u64,
    pub throttled: u64,
    pub adjustments: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Product {
    on_hand: i64,
    allocated: i64,
    updated_at: Timestamp,
}

/// A webhook registered with `webhook_create`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredWebhook {
    /// ShipHero's base64 id (`V2ViaG9vazox`) and its legacy number.
    pub id: String,
    pub legacy_id: u64,
    /// The webhook type: `Shipment Update`.
    pub name: String,
    pub url: String,
    pub shop_name: String,
    /// `shared_signature_secret`: shown once, by `webhook_create`.
    pub secret: String,
}

#[derive(Debug)]
struct State {
    token: String,
    refresh_token: String,
    tokens_issued: u32,
    secret: String,
    products: BTreeMap<(String, String), Product>,
    credits: (f64, f64),
    available: f64,
    refilled: Instant,
    failures: VecDeque<Failure>,
    slow: Duration,
    clock: Timestamp,
    stats: FakeStats,
    requests: Vec<Value>,
    webhooks: Vec<RegisteredWebhook>,
    webhooks_created: u64,
}

/// Builds a [`FakeShipHero`].
#[derive(Debug)]
pub struct FakeShipHeroBuilder {
    products: BTreeMap<(String, String), Product>,
    credits: (f64, f64),
    slow: Duration,
}

/// A running fake ShipHero account.
#[derive(Debug)]
pub struct FakeShipHero {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

fn base_time() -> Timestamp {
    Timestamp::parse_rfc3339(BASE_TIME).unwrap_or(Timestamp::EPOCH)
}

impl FakeShipHero {
    /// An account with no products, a 4,004-credit bucket refilled at 60 a second.
    pub fn builder() -> FakeShipHeroBuilder {
        FakeShipHeroBuilder {
            products: BTreeMap::new(),
            credits: (4004.0, 60.0),
            slow: Duration::from_secs(3),
        }
    }
}

impl FakeShipHeroBuilder {
    /// `sku` stocked at `warehouse` with `on_hand` units, counted at [`BASE_TIME`].
    pub fn product(mut self, warehouse: &str, sku: &str, on_hand: i64) -> Self {
        self.products.insert(
            (warehouse.to_owned(), sku.to_owned()),
            Product {
                on_hand,
                allocated: 0,
                updated_at: base_time(),
            },
        );
        self
    }

    /// `count` products `PREFIX-00001…` at `warehouse`, each with `on_hand`.
    pub fn many_products(
        mut self,
        warehouse: &str,
        prefix: &str,
        count: usize,
        on_hand: i64,
    ) -> Self {
        for n in 1..=count {
            self = self.product(warehouse, &format!("{prefix}-{n:05}"), on_hand);
        }
        self
    }

    /// The credits bucket: `maximum`, refilled at `per_second`.
    pub fn credits(mut self, maximum: f64, per_second: f64) -> Self {
        self.credits = (maximum, per_second);
        self
    }

    pub fn slow_answer(mut self, delay: Duration) -> Self {
        self.slow = delay;
        self
    }

    pub async fn start(self) -> FakeShipHero {
        let state = Arc::new(Mutex::new(State {
            token: DEFAULT_TOKEN.to_owned(),
            refresh_token: DEFAULT_REFRESH_TOKEN.to_owned(),
            tokens_issued: 1,
            secret: DEFAULT_SECRET.to_owned(),
            products: self.products,
            credits: self.credits,
            available: self.credits.0,
            refilled: Instant::now(),
            failures: VecDeque::new(),
            slow: self.slow,
            clock: base_time(),
            stats: FakeStats::default(),
            requests: Vec::new(),
            webhooks: Vec::new(),
            webhooks_created: 0,
        }));
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .respond_with(Api(state.clone()))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/auth/refresh"))
            .respond_with(Refresh(state.clone()))
            .mount(&server)
            .await;
        FakeShipHero { server, state }
    }
}

impl FakeShipHero {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Connector settings for this account, [`WAREHOUSE`] mapped to `location`: the
    /// account's [`DEFAULT_SECRET`] as `webhook_secret`, and the secret of each webhook
    /// registered so far in `webhook_secrets`.
    pub fn settings(&self, channel: &str, location: LocationId) -> ShipHeroSettings {
        let state = self.state();
        let mut settings = ShipHeroSettings::new(
            channel,
            self.uri(),
            state.token.clone(),
            state.refresh_token.clone(),
            state.secret.clone(),
        )
        .warehouse(WAREHOUSE, location);
        for hook in &state.webhooks {
            settings
                .webhook_secrets
                .insert(hook.name.clone(), hook.secret.clone());
        }
        settings
    }

    /// Registers a webhook as someone did in ShipHero before (what `webhook_create` does);
    /// returns its secret.
    pub fn register_webhook(&self, name: &str, url: &str, shop_name: &str) -> String {
        self.state().create_webhook(name, url, shop_name).secret
    }

    /// The webhooks registered, oldest first, secrets included.
    pub fn webhooks(&self) -> Vec<RegisteredWebhook> {
        self.state().webhooks.clone()
    }

    /// The secret `body` is signed with: the latest registered webhook of its
    /// `webhook_type`, else the account's [`DEFAULT_SECRET`].
    pub fn secret_for(&self, body: &[u8]) -> String {
        let kind = serde_json::from_slice::<Value>(body).ok().and_then(|b| {
            b.get("webhook_type")
                .or_else(|| b.pointer("/fulfillment/webhook_type"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let state = self.state();
        state
            .webhooks
            .iter()
            .rev()
            .find(|h| Some(&h.name) == kind.as_ref())
            .map_or_else(|| state.secret.clone(), |h| h.secret.clone())
    }

    /// The on-hand of `sku` at `warehouse`.
    pub fn on_hand(&self, warehouse: &str, sku: &str) -> Option<i64> {
        self.state()
            .products
            .get(&(warehouse.to_owned(), sku.to_owned()))
            .map(|p| p.on_hand)
    }

    /// The warehouse counts `sku` anew (a pick, a receipt, a cycle count) at `at` (RFC 3339).
    pub fn count(&self, warehouse: &str, sku: &str, on_hand: i64, at: &str) {
        let at = Timestamp::parse_rfc3339(at).unwrap_or(Timestamp::EPOCH);
        let mut state = self.state();
        state.clock = state.clock.max(at);
        let product = state
            .products
            .entry((warehouse.to_owned(), sku.to_owned()))
            .or_insert(Product {
                on_hand,
                allocated: 0,
                updated_at: at,
            });
        product.on_hand = on_hand;
        product.updated_at = at;
    }

    /// The warehouse ships `(partner line item id, sku, units)` of the shop's order at `at`
    /// (RFC 3339): as ShipHero does when the label is made, each SKU's on hand at
    /// [`WAREHOUSE`] drops by its units, stamped `at`. Returns the `Shipment Update` body it
    /// then sends (sign it with [`FakeShipHero::webhook`]). Ship part of a line by naming
    /// fewer units than ordered; ship the rest with another `shipment_id`.
    pub fn ship(
        &self,
        shipment_id: u64,
        shop_name: &str,
        partner_order_id: &str,
        lines: &[(&str, &str, u32)],
        at: &str,
    ) -> Value {
        for (_, sku, units) in lines {
            let on_hand = self.on_hand(WAREHOUSE, sku).unwrap_or(0);
            self.count(WAREHOUSE, sku, on_hand - i64::from(*units), at);
        }
        shipment_update(shipment_id, shop_name, partner_order_id, lines)
    }

    /// Makes the current access token expire: the next call gets 401 until refreshed.
    pub fn expire_token(&self) {
        let mut state = self.state();
        state.tokens_issued += 1;
        state.token = format!("fake-access-token-{}", state.tokens_issued);
    }

    /// Makes the next call fail this way (queued).
    pub fn fail_next(&self, failure: Failure) {
        self.state().failures.push_back(failure);
    }

    pub fn stats(&self) -> FakeStats {
        self.state().stats.clone()
    }

    /// Every GraphQL request body received, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.state().requests.clone()
    }

    /// `X-ShipHero-HMAC-SHA256` of `body`, with the secret of its webhook type
    /// ([`FakeShipHero::secret_for`]).
    pub fn sign(&self, body: &[u8]) -> String {
        sign_base64(self.secret_for(body).as_bytes(), &[body])
    }

    /// The headers ShipHero sends with `body`; the message id is derived from the body.
    pub fn webhook_headers(&self, body: &[u8]) -> Vec<(String, String)> {
        let id = format!("{:016x}", fnv(body));
        vec![
            ("Content-Type".into(), "application/json".into()),
            (HMAC_HEADER.into(), self.sign(body)),
            (MESSAGE_ID_HEADER.into(), id),
        ]
    }

    /// A signed delivery of `body`: (headers, body).
    pub fn webhook(&self, body: Value) -> (Vec<(String, String)>, Vec<u8>) {
        let body = body.to_string().into_bytes();
        (self.webhook_headers(&body), body)
    }
}

/// A `Shipment Update` body: shipment `shipment_id` of the shop's order `partner_order_id`
/// from `shop_name`, shipping `(partner line item id, sku, quantity)` from [`WAREHOUSE`],
/// each entry in a package of its own (ShipHero lists a line once per package it is in).
pub fn shipment_update(
    shipment_id: u64,
    shop_name: &str,
    partner_order_id: &str,
    lines: &[(&str, &str, u32)],
) -> Value {
    let line_items: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(n, (id, sku, quantity))| {
            json!({
                "id": id, "shiphero_id": 828_656_700 + n as u64, "quantity": quantity, "sku": sku,
                "serial_numbers": [], "customs_description": "", "package": format!("Package #{}", n + 1),
                "lot_id": null, "lot_name": null, "lot_expiration": null,
            })
        })
        .collect();
    json!({
        "test": "0",
        "webhook_type": SHIPMENT_UPDATE,
        "fulfillment": {
            "shipment_id": shipment_id, "shipment_uuid": BASE64.encode(format!("Shipment:{shipment_id}")),
            "warehouse": "Primary", "warehouse_id": WAREHOUSE_LEGACY_ID, "warehouse_uuid": WAREHOUSE,
            "webhook_type": SHIPMENT_UPDATE, "partner_order_id": partner_order_id,
            "order_number": format!("#{partner_order_id}"), "shop_name": shop_name,
            "tracking_number": "15619819718", "line_items": line_items,
            "custom_tracking_url": "", "package_number": 1, "total_packages": lines.len().max(1),
            "shipping_method": "Ground", "shipping_carrier": "UPS",
        },
    })
}

/// An `Inventory Update` body for `sku` at [`WAREHOUSE`].
pub fn inventory_update(sku: &str, on_hand: i64) -> Value {
    json!({
        "account_id": 7556, "account_uuid": "QWNjb3VudDo3NTU2", "webhook_type": "Inventory Update",
        "inventory": [{
            "sku": sku, "inventory": on_hand.to_string(), "backorder_quantity": "0",
            "on_hand": on_hand.to_string(), "virtual": false,
            "updated_warehouse": {
                "warehouse_id": WAREHOUSE_LEGACY_ID, "warehouse_uuid": WAREHOUSE,
                "identifier": "Primary", "inventory": on_hand.to_string(),
            },
        }],
    })
}

/// A small stable hash for message ids (not for security).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A webhook mutation's `data.<name>` input, if it is a string.
fn data_field<'v>(variables: &'v Value, name: &str) -> Option<&'v str> {
    variables
        .pointer(&format!("/data/{name}"))
        .and_then(Value::as_str)
}

fn request_id(state: &State) -> String {
    format!("{:024x}", state.stats.requests)
}

fn encode_cursor(offset: usize) -> String {
    BASE64.encode(format!("arrayconnection:{offset}"))
}

fn decode_cursor(cursor: &Value) -> Option<usize> {
    let text = cursor.as_str()?;
    let bytes = BASE64.decode(text).ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("arrayconnection:")?
        .parse()
        .ok()
}

struct Api(Arc<Mutex<State>>);

impl Respond for Api {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        state.stats.requests += 1;
        let bearer = request
            .headers
            .get("Authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if bearer != Some(state.token.as_str()) {
            return ResponseTemplate::new(401)
                .set_body_json(json!({ "code": 401, "message": "Expired or invalid token" }));
        }
        let mut delay = None;
        match state.failures.pop_front() {
            Some(Failure::TooManyRequests { retry_after_secs }) => {
                return ResponseTemplate::new(429)
                    .insert_header("Retry-After", format!("{retry_after_secs:.0}").as_str())
                    .set_body_json(json!({ "message": "Too many requests" }));
            }
            Some(Failure::ServerError) => {
                return ResponseTemplate::new(500)
                    .set_body_json(json!({ "errors": [{ "message": "Internal server error" }] }));
            }
            Some(Failure::Garbage) => {
                return ResponseTemplate::new(200)
                    .insert_header("Content-Type", "text/html")
                    .set_body_string("<html><body><h1>502 Bad Gateway</h1></body></html>");
            }
            Some(Failure::NotEnoughCredits) => {
                state.stats.throttled += 1;
                return ResponseTemplate::new(200).set_body_json(not_enough_credits(101.0, 0.0, 2));
            }
            Some(Failure::Slow) => delay = Some(state.slow),
            None => {}
        }
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return ResponseTemplate::new(400)
                .set_body_json(json!({ "errors": [{ "message": "Must provide query string." }] }));
        };
        state.requests.push(body.clone());
        let query = body
            .get("query")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let variables = body.get("variables").cloned().unwrap_or(json!({}));
        let answer = state.execute(&query, &variables);
        let response = ResponseTemplate::new(200).set_body_json(answer);
        match delay {
            Some(delay) => response.set_delay(delay),
            None => response,
        }
    }
}

/// ShipHero's throttling answer [doc/obs: code 30 with `time_remaining`].
fn not_enough_credits(required: f64, balance: f64, seconds: u64) -> Value {
    json!({
        "errors": [{
            "code": 30,
            "message": format!(
                "There are not enough credits to perform the requested operation, which requires {required} credits. \
                 The current balance is {balance}. {required} more credits will be available in {seconds} seconds."
            ),
            "operation": "warehouse_products",
            "request_id": "5f5692457acb6db59e0d556e",
            "required_credits": required,
            "remaining_credits": balance,
            "time_remaining": format!("{seconds} seconds"),
        }],
        "data": null,
    })
}

impl State {
    /// Pays for a connection query of `first` nodes (at most 100, 100 when not given): one
    /// credit for the query and one per node it may return. The page size and the cost, or the
    /// throttled answer.
    fn pay_for_page(&mut self, variables: &Value) -> Result<(usize, f64), Value> {
        let first = variables
            .get("first")
            .and_then(Value::as_u64)
            .unwrap_or(100)
            .min(100) as usize;
        let cost = 1.0 + first as f64;
        self.pay(cost)?;
        Ok((first, cost))
    }

    fn pay(&mut self, cost: f64) -> Result<(), Value> {
        let now = Instant::now();
        let (max, restore) = self.credits;
        self.available =
            (self.available + restore * now.duration_since(self.refilled).as_secs_f64()).min(max);
        self.refilled = now;
        if self.available < cost {
            self.stats.throttled += 1;
            let seconds = ((cost - self.available) / restore.max(0.001)).ceil() as u64;
            return Err(not_enough_credits(
                cost,
                self.available.floor(),
                seconds.max(1),
            ));
        }
        self.available -= cost;
        Ok(())
    }

    fn execute(&mut self, query: &str, variables: &Value) -> Value {
        if query.contains("warehouse_products") {
            self.warehouse_products(variables)
        } else if query.contains("webhook_create") {
            self.webhook_create(variables)
        } else if query.contains("webhook_delete") {
            self.webhook_delete(variables)
        } else if query.contains("webhooks") {
            self.list_webhooks(variables)
        } else if query.contains("inventory_add") {
            self.adjust(variables, "inventory_add", 1)
        } else if query.contains("inventory_remove") {
            self.adjust(variables, "inventory_remove", -1)
        } else {
            json!({ "errors": [{ "message": "Cannot query field on type \"Query\"." }], "data": null })
        }
    }

    fn warehouse_products(&mut self, variables: &Value) -> Value {
        let (first, cost) = match self.pay_for_page(variables) {
            Ok(paid) => paid,
            Err(throttled) => return throttled,
        };
        let text = |name: &str| variables.get(name).and_then(Value::as_str);
        let from = text("updated_from").and_then(|t| Timestamp::parse_rfc3339(t).ok());
        let matching: Vec<Value> = self
            .products
            .iter()
            .filter(|((w, sku), p)| {
                text("warehouse_id").is_none_or(|x| x == w)
                    && text("sku").is_none_or(|x| x == sku)
                    && from.is_none_or(|f| p.updated_at >= f)
            })
            .map(|((w, sku), p)| {
                json!({ "node": {
                    "sku": sku, "warehouse_id": w, "on_hand": p.on_hand, "allocated": p.allocated,
                    "available": p.on_hand - p.allocated, "backorder": 0,
                    // ShipHero's ISODateTime, without a zone [unv].
                    "updated_at": p.updated_at.to_rfc3339().trim_end_matches('Z'),
                }})
            })
            .collect();
        let start = variables
            .get("after")
            .and_then(decode_cursor)
            .map_or(0, |o| o + 1);
        let end = matching.len().min(start + first);
        let edges = matching.get(start..end).unwrap_or(&[]).to_vec();
        json!({ "data": { "warehouse_products": {
            "request_id": request_id(self), "complexity": cost,
            "data": {
                "pageInfo": {
                    "hasNextPage": end < matching.len(),
                    "endCursor": (end > start).then(|| encode_cursor(end - 1)),
                },
                "edges": edges,
            },
        }}})
    }

    fn create_webhook(&mut self, name: &str, url: &str, shop_name: &str) -> RegisteredWebhook {
        self.webhooks_created += 1;
        let n = self.webhooks_created;
        let hook = RegisteredWebhook {
            id: BASE64.encode(format!("Webhook:{n}")),
            legacy_id: n,
            name: name.to_owned(),
            url: url.to_owned(),
            shop_name: shop_name.to_owned(),
            secret: format!("fake-shared-secret-{n}-{:08x}", fnv(name.as_bytes()) as u32),
        };
        self.webhooks.push(hook.clone());
        hook
    }

    fn webhook_create(&mut self, variables: &Value) -> Value {
        if let Err(throttled) = self.pay(5.0) {
            return throttled;
        }
        let field = |name: &str| data_field(variables, name).unwrap_or("").to_owned();
        let (name, url, shop_name) = (field("name"), field("url"), field("shop_name"));
        if name.is_empty() || url.is_empty() {
            return json!({ "errors": [{ "message": "name and url are required" }], "data": null });
        }
        if self
            .webhooks
            .iter()
            .any(|h| h.name == name && h.shop_name == shop_name)
        {
            return json!({ "errors": [{ "message": format!("A webhook {name} already exists for shop {shop_name}") }], "data": null });
        }
        let hook = self.create_webhook(&name, &url, &shop_name);
        json!({ "data": { "webhook_create": {
            "request_id": request_id(self), "complexity": 5,
            "webhook": {
                "id": hook.id, "legacy_id": hook.legacy_id, "account_id": "QWNjb3VudDo3NTU2",
                "shop_name": hook.shop_name, "name": hook.name, "url": hook.url,
                "source": "api", "shared_signature_secret": hook.secret,
            },
        }}})
    }

    fn webhook_delete(&mut self, variables: &Value) -> Value {
        if let Err(throttled) = self.pay(5.0) {
            return throttled;
        }
        let field = |name: &str| data_field(variables, name);
        let before = self.webhooks.len();
        let (name, shop_name) = (field("name"), field("shop_name"));
        self.webhooks.retain(|h| {
            !(Some(h.name.as_str()) == name && Some(h.shop_name.as_str()) == shop_name)
        });
        if self.webhooks.len() == before {
            return json!({ "errors": [{ "message": "Webhook not found" }], "data": null });
        }
        json!({ "data": { "webhook_delete": { "request_id": request_id(self), "complexity": 5 } } })
    }

    fn list_webhooks(&mut self, variables: &Value) -> Value {
        let (first, cost) = match self.pay_for_page(variables) {
            Ok(paid) => paid,
            Err(throttled) => return throttled,
        };
        let start = variables
            .get("after")
            .and_then(decode_cursor)
            .map_or(0, |o| o + 1);
        let end = self.webhooks.len().min(start + first);
        let edges: Vec<Value> = self
            .webhooks
            .get(start..end)
            .unwrap_or(&[])
            .iter()
            .map(|h| {
                json!({ "node": {
                    "id": h.id, "legacy_id": h.legacy_id, "account_id": "QWNjb3VudDo3NTU2",
                    "shop_name": h.shop_name, "name": h.name, "url": h.url, "source": "api",
                }})
            })
            .collect();
        json!({ "data": { "webhooks": {
            "request_id": request_id(self), "complexity": cost,
            "data": {
                "pageInfo": {
                    "hasNextPage": end < self.webhooks.len(),
                    "endCursor": (end > start).then(|| encode_cursor(end - 1)),
                },
                "edges": edges,
            },
        }}})
    }

    fn adjust(&mut self, variables: &Value, field: &str, sign: i64) -> Value {
        if let Err(throttled) = self.pay(5.0) {
            return throttled;
        }
        let data = variables.get("data").cloned().unwrap_or(json!({}));
        let key = (
            data.get("warehouse_id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            data.get("sku")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        );
        let quantity = data.get("quantity").and_then(Value::as_i64).unwrap_or(0);
        // ShipHero stamps the change when it makes it: now, after the adjustment we sent,
        // and after every count the test set by hand.
        let now = crate::connector::received_now();
        self.clock = Timestamp::from_millis(self.clock.as_millis() + 1000).max(now);
        let at = self.clock;
        let Some(product) = self.products.get_mut(&key) else {
            return json!({ "errors": [{ "message": format!("Product with sku {} not found", key.1) }], "data": null });
        };
        product.on_hand += sign * quantity;
        product.updated_at = at;
        let on_hand = product.on_hand;
        self.stats.adjustments += 1;
        json!({ "data": { field: {
            "request_id": request_id(self), "complexity": 5,
            "warehouse_product": { "sku": key.1, "warehouse_id": key.0, "on_hand": on_hand },
        }}})
    }
}

struct Refresh(Arc<Mutex<State>>);

impl Respond for Refresh {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let given = serde_json::from_slice::<Value>(&request.body)
            .ok()
            .and_then(|b| {
                b.get("refresh_token")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        if given.as_deref() != Some(state.refresh_token.as_str()) {
            return ResponseTemplate::new(403)
                .set_body_json(json!({ "error": "invalid_grant", "error_description": "Unknown or invalid refresh token." }));
        }
        state.stats.refreshes += 1;
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": state.token, "expires_in": 2_419_200,
            "scope": "openid profile offline_access", "token_type": "Bearer",
        }))
    }
}
