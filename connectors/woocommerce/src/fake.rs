//! A fake WooCommerce REST API v3 (wiremock) that follows CONTRACTS.md §3, misbehaviour
//! included: for this crate's tests, the daemon's end-to-end tests and demos.
//!
//! "A fake that is kinder than the real API proves nothing", so this one:
//! - answers only under HTTP basic auth with the right consumer key and secret (401 with
//!   WooCommerce's error body otherwise);
//! - pages every list (`per_page` at most 100, `X-WP-Total`, `X-WP-TotalPages`), filters by
//!   `include`, `type`, `modified_after`;
//! - applies batch updates item by item, answering each item's error inside the HTTP 200;
//!   more than 100 objects is a 413; `stock_quantity` is ignored unless the item manages its
//!   stock; `inventory_delta` is honoured or ignored (a switch), never idempotent;
//!   `meta_data` entries are upserted by key;
//! - moves stock the way WooCommerce does when an order changes status (down on
//!   `processing`, `on-hold`, `completed`; back up on `cancelled`, `pending`; not on
//!   `refunded`, `failed`), and stamps `date_modified_gmt` on every save;
//! - delivers webhooks signed as WooCommerce signs them (body = the resource's current REST
//!   form), with delivery ids that repeat within a second, no retries, and a webhook
//!   disabled after more than 5 failed deliveries in a row; pings a webhook when it is
//!   created (`webhook_id=N`, form-encoded);
//! - can be told to fail the next call (429 with `Retry-After`, 500, a garbage body, a slow
//!   answer that still applies) and to let a sale land right after the next read of an item
//!   (before our set).
//!
//! ```ignore
//! let fake = FakeWoo::builder().simple(93, "MUG", 7).inventory_delta(true).start().await;
//! let connector = WooConnector::new(fake.settings("woo-eu", location))?;
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use omnistock_sdk::LocationId;
use omnistock_sdk::signature::sign_base64;
use serde_json::{Value, json};
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::settings::WooSettings;

pub const DEFAULT_KEY: &str = "ck_fake0123456789";
pub const DEFAULT_SECRET: &str = "cs_fake0123456789";
pub const DEFAULT_WEBHOOK_SECRET: &str = "fake-webhook-secret";
/// The most objects a batch may carry.
const MAX_BATCH: usize = 100;
/// The largest page.
const MAX_PAGE: usize = 100;
/// Consecutive failed deliveries after which WooCommerce disables a webhook ("more than 5").
const DISABLE_AFTER: u32 = 5;
/// The fake's clock starts at 2026-11-23T10:00:00Z and moves one second per save.
const START: i64 = 1_795_428_000;

/// How the next call should go wrong.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// HTTP 429 with `Retry-After: <seconds>` (a host's limit).
    TooManyRequests { retry_after_secs: u64 },
    /// HTTP 500 with WordPress's critical-error body.
    ServerError,
    /// HTTP 200 with an HTML page.
    Garbage,
    /// The normal answer (writes applied), `delay` late.
    Slow(Duration),
}

#[derive(Clone, Debug)]
struct FakeProduct {
    parent_id: u64,
    kind: &'static str,
    sku: String,
    manage_stock: Value,
    stock: Option<i64>,
    variations: Vec<u64>,
    meta: Vec<(u64, String, Value)>,
    modified: i64,
}

#[derive(Clone, Debug)]
struct FakeLine {
    id: u64,
    product_id: u64,
    variation_id: u64,
    quantity: i64,
    sku: String,
}

#[derive(Clone, Debug)]
struct FakeOrder {
    status: String,
    created: i64,
    modified: i64,
    lines: Vec<FakeLine>,
    stock_reduced: bool,
}

/// A webhook as the fake holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeWebhook {
    pub id: u64,
    pub name: String,
    pub topic: String,
    pub delivery_url: String,
    pub secret: String,
    pub status: String,
    pub failures: u32,
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct FakeRequest {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub body: Value,
}

#[derive(Debug)]
struct State {
    key: String,
    secret: String,
    webhook_secret: String,
    inventory_delta: bool,
    products: BTreeMap<u64, FakeProduct>,
    orders: BTreeMap<u64, FakeOrder>,
    webhooks: BTreeMap<u64, FakeWebhook>,
    pings: Vec<u64>,
    failures: VecDeque<Failure>,
    sale_after_read: Option<(u64, i64)>,
    refuse_update: Vec<u64>,
    clock: i64,
    next_id: u64,
    requests: Vec<FakeRequest>,
}

/// Builds a [`FakeWoo`].
#[derive(Debug)]
pub struct FakeWooBuilder {
    state: State,
}

impl FakeWoo {
    /// An empty shop that ignores `inventory_delta` (switch it on with the builder).
    pub fn builder() -> FakeWooBuilder {
        FakeWooBuilder {
            state: State {
                key: DEFAULT_KEY.to_owned(),
                secret: DEFAULT_SECRET.to_owned(),
                webhook_secret: DEFAULT_WEBHOOK_SECRET.to_owned(),
                inventory_delta: false,
                products: BTreeMap::new(),
                orders: BTreeMap::new(),
                webhooks: BTreeMap::new(),
                pings: Vec::new(),
                failures: VecDeque::new(),
                sale_after_read: None,
                refuse_update: Vec::new(),
                clock: START,
                next_id: 5000,
                requests: Vec::new(),
            },
        }
    }
}

fn product(kind: &'static str, sku: &str, manage: Value, stock: Option<i64>) -> FakeProduct {
    FakeProduct {
        parent_id: 0,
        kind,
        sku: sku.to_owned(),
        manage_stock: manage,
        stock,
        variations: Vec::new(),
        meta: Vec::new(),
        modified: START,
    }
}

impl FakeWooBuilder {
    /// A simple product managing its stock.
    pub fn simple(mut self, id: u64, sku: &str, stock: i64) -> Self {
        self.state
            .products
            .insert(id, product("simple", sku, json!(true), Some(stock)));
        self
    }

    /// A simple product without stock management (reported, never mapped).
    pub fn unmanaged(mut self, id: u64, sku: &str) -> Self {
        self.state
            .products
            .insert(id, product("simple", sku, json!(false), None));
        self
    }

    /// `count` simple products `PREFIX-00001…`, ids from `first_id`, each with `stock`.
    pub fn many_simple(mut self, prefix: &str, first_id: u64, count: u64, stock: i64) -> Self {
        for n in 0..count {
            self = self.simple(first_id + n, &format!("{prefix}-{:05}", n + 1), stock);
        }
        self
    }

    /// A variable product with SKU `sku` and its variations `(id, sku, stock)`, each managing
    /// its own stock. A variation with `""` has no SKU of its own and shows its parent's, as
    /// WooCommerce does.
    pub fn variable(mut self, parent: u64, sku: &str, variations: &[(u64, &str, i64)]) -> Self {
        let mut container = product("variable", sku, json!(false), None);
        for &(id, sku, stock) in variations {
            container.variations.push(id);
            let mut v = product("variation", sku, json!(true), Some(stock));
            v.parent_id = parent;
            self.state.products.insert(id, v);
        }
        self.state.products.insert(parent, container);
        self
    }

    /// A variation of `parent` whose stock is its parent's (`manage_stock: "parent"`).
    pub fn variation_using_parent_stock(mut self, parent: u64, id: u64, sku: &str) -> Self {
        let mut v = product("variation", sku, json!("parent"), None);
        v.parent_id = parent;
        self.state.products.insert(id, v);
        if let Some(p) = self.state.products.get_mut(&parent) {
            p.variations.push(id);
        }
        self
    }

    /// Whether the shop honours `inventory_delta`.
    pub fn inventory_delta(mut self, honoured: bool) -> Self {
        self.state.inventory_delta = honoured;
        self
    }

    /// An existing webhook.
    pub fn webhook(mut self, name: &str, topic: &str, url: &str, status: &str) -> Self {
        let id = self.state.next_id;
        self.state.next_id += 1;
        self.state.webhooks.insert(
            id,
            FakeWebhook {
                id,
                name: name.to_owned(),
                topic: topic.to_owned(),
                delivery_url: url.to_owned(),
                secret: self.state.webhook_secret.clone(),
                status: status.to_owned(),
                failures: 0,
            },
        );
        self
    }

    /// Starts the server on a free port.
    pub async fn start(self) -> FakeWoo {
        let state = Arc::new(Mutex::new(self.state));
        let server = MockServer::start().await;
        Mock::given(path_regex(r"^/wp-json/wc/v3/"))
            .respond_with(Handler(state.clone()))
            .mount(&server)
            .await;
        FakeWoo {
            server,
            state,
            client: reqwest::Client::new(),
        }
    }
}

/// A running fake shop.
#[derive(Debug)]
pub struct FakeWoo {
    server: MockServer,
    state: Arc<Mutex<State>>,
    client: reqwest::Client,
}

impl FakeWoo {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shop URL (`http://127.0.0.1:<port>`).
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Connector settings for this shop: its URL, keys and webhook secret, `location`, and
    /// `inventory_delta` as the shop behaves.
    pub fn settings(&self, channel: &str, location: LocationId) -> WooSettings {
        let state = self.state();
        let mut settings = WooSettings::new(
            channel,
            self.uri(),
            state.key.clone(),
            state.secret.clone(),
            state.webhook_secret.clone(),
            location,
        );
        settings.inventory_delta = state.inventory_delta;
        settings
    }

    /// The stock number of a product or variation.
    pub fn stock(&self, id: u64) -> Option<i64> {
        self.state().products.get(&id).and_then(|p| p.stock)
    }

    /// Changes a number behind our back (a stock take in the shop's admin).
    pub fn set_stock(&self, id: u64, stock: i64) {
        let mut state = self.state();
        let now = state.tick();
        if let Some(p) = state.products.get_mut(&id) {
            p.stock = Some(stock);
            p.modified = now;
        }
    }

    /// A meta_data value of a product or variation.
    pub fn meta(&self, id: u64, key: &str) -> Option<Value> {
        self.state()
            .products
            .get(&id)
            .and_then(|p| p.meta.iter().find(|m| m.1 == key).map(|m| m.2.clone()))
    }

    /// Switches `inventory_delta` support (an upgrade, a plugin that filters it out).
    pub fn set_inventory_delta(&self, honoured: bool) {
        self.state().inventory_delta = honoured;
    }

    /// A customer orders `quantity` of `sku` in `status`; stock moves as WooCommerce moves it.
    /// Returns the order id.
    pub fn place_order(&self, sku: &str, quantity: i64, status: &str) -> u64 {
        self.state().place_order(sku, quantity, status)
    }

    /// A customer orders `quantity` of product or variation `id` in `status`. The line
    /// carries the SKU WooCommerce shows for it (a variation without its own: its parent's).
    pub fn place_order_of(&self, id: u64, quantity: i64, status: &str) -> u64 {
        self.state().place_order_of(id, quantity, status)
    }

    /// Moves an order to `status`, restocking or reducing as WooCommerce does.
    pub fn set_order_status(&self, order: u64, status: &str) {
        self.state().set_order_status(order, status);
    }

    /// Makes the next call fail this way (queued: several calls fail in order).
    pub fn fail_next(&self, failure: Failure) {
        self.state().failures.push_back(failure);
    }

    /// Right after the next read that shows item `id`, a customer buys `quantity` of it: the
    /// reader saw the number before the sale, and a set based on it would overwrite the sale.
    pub fn sell_after_next_read(&self, id: u64, quantity: i64) {
        self.state().sale_after_read = Some((id, quantity));
    }

    /// The next batch update of item `id` is refused inside the 200
    /// (`woocommerce_rest_cannot_edit`, as for a product the keys' user may not edit).
    pub fn refuse_next_update(&self, id: u64) {
        self.state().refuse_update.push(id);
    }

    /// The ids of every order, oldest first.
    pub fn order_ids(&self) -> Vec<u64> {
        self.state().orders.keys().copied().collect()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<FakeRequest> {
        self.state().requests.clone()
    }

    /// The webhooks, by id.
    pub fn webhooks(&self) -> Vec<FakeWebhook> {
        self.state().webhooks.values().cloned().collect()
    }

    /// The current REST form of an order, as `order.*` webhooks carry it.
    pub fn order_body(&self, order: u64) -> Vec<u8> {
        let state = self.state();
        state
            .orders
            .get(&order)
            .map(|o| order_json(order, o))
            .unwrap_or(Value::Null)
            .to_string()
            .into_bytes()
    }

    /// The current REST form of a product or variation (`type: "variation"` with its
    /// `parent_id`), as `product.updated` carries it.
    pub fn product_body(&self, id: u64) -> Vec<u8> {
        self.state()
            .product_json(id, true)
            .unwrap_or(Value::Null)
            .to_string()
            .into_bytes()
    }

    /// `X-WC-Webhook-Signature` of `body` with the shop's webhook secret.
    pub fn sign(&self, body: &[u8]) -> String {
        sign_base64(self.state().webhook_secret.as_bytes(), &[body])
    }

    /// The headers WooCommerce sends with `body` under `topic` (webhook 1, this second).
    pub fn webhook_headers(&self, topic: &str, body: &[u8]) -> Vec<(String, String)> {
        let state = self.state();
        delivery_headers(
            &self.uri(),
            topic,
            1,
            state.clock,
            &sign_base64(state.webhook_secret.as_bytes(), &[body]),
        )
    }

    /// Delivers `topic` about resource `id` to every active webhook of that topic, once (no
    /// retries), and returns each answer's status (0: no answer). A failed delivery counts
    /// towards disabling the webhook.
    pub async fn deliver(&self, topic: &str, id: u64) -> Vec<u16> {
        let body = if topic.starts_with("order.") {
            self.order_body(id)
        } else {
            self.product_body(id)
        };
        let targets: Vec<FakeWebhook> = self
            .webhooks()
            .into_iter()
            .filter(|w| w.topic == topic && w.status == "active")
            .collect();
        let mut statuses = Vec::new();
        for hook in targets {
            let clock = self.state().clock;
            let headers = delivery_headers(
                &self.uri(),
                topic,
                hook.id,
                clock,
                &sign_base64(hook.secret.as_bytes(), &[&body]),
            );
            let mut request = self.client.post(&hook.delivery_url).body(body.clone());
            for (name, value) in &headers {
                request = request.header(name, value);
            }
            let status = request
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            self.state().delivered(hook.id, status);
            statuses.push(status);
        }
        statuses
    }

    /// Sends the pings of webhooks created since the last call (`webhook_id=N`,
    /// form-encoded, no `X-WC-` headers); returns each answer's status.
    pub async fn deliver_pings(&self) -> Vec<u16> {
        let pings = std::mem::take(&mut self.state().pings);
        let mut statuses = Vec::new();
        for id in pings {
            let Some(url) = self
                .state()
                .webhooks
                .get(&id)
                .map(|w| w.delivery_url.clone())
            else {
                continue;
            };
            let status = self
                .client
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(format!("webhook_id={id}"))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            self.state().delivered(id, status);
            statuses.push(status);
        }
        statuses
    }
}

fn gmt(secs: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default()
}

fn delivery_headers(
    source: &str,
    topic: &str,
    webhook: u64,
    clock: i64,
    signature: &str,
) -> Vec<(String, String)> {
    let (resource, event) = topic.split_once('.').unwrap_or((topic, ""));
    vec![
        ("Content-Type".into(), "application/json".into()),
        (
            "User-Agent".into(),
            "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)".into(),
        ),
        ("X-WC-Webhook-Source".into(), format!("{source}/")),
        ("X-WC-Webhook-Topic".into(), topic.into()),
        ("X-WC-Webhook-Resource".into(), resource.into()),
        ("X-WC-Webhook-Event".into(), event.into()),
        ("X-WC-Webhook-Signature".into(), signature.into()),
        ("X-WC-Webhook-ID".into(), webhook.to_string()),
        // wp_hash(webhook id . time()): repeats within a second.
        (
            "X-WC-Webhook-Delivery-ID".into(),
            format!("{:032x}", (webhook as i64).wrapping_mul(1_000_003) ^ clock),
        ),
    ]
}

fn stock_status(p: &FakeProduct) -> &'static str {
    match p.stock {
        Some(n) if n <= 0 => "outofstock",
        _ => "instock",
    }
}

/// The REST form of a product; `as_product` gives a variation its product form (`type`,
/// `parent_id`), as the products endpoint and webhooks show it. `sku` is what WooCommerce
/// shows: a variation without a SKU of its own shows its parent's.
fn product_json(id: u64, p: &FakeProduct, sku: &str, as_product: bool) -> Value {
    let mut body = json!({
        "id": id, "name": format!("Item {id}"), "sku": sku, "status": "publish",
        "manage_stock": p.manage_stock, "stock_quantity": p.stock, "stock_status": stock_status(p),
        "backorders": "no", "backorders_allowed": false, "backordered": false,
        "date_modified": gmt(p.modified), "date_modified_gmt": gmt(p.modified),
        "meta_data": p.meta.iter().map(|(mid, k, v)| json!({"id": mid, "key": k, "value": v})).collect::<Vec<_>>(),
    });
    if as_product {
        body["type"] = json!(p.kind);
        body["parent_id"] = json!(p.parent_id);
        body["variations"] = json!(p.variations);
    }
    body
}

fn order_json(id: u64, o: &FakeOrder) -> Value {
    json!({
        "id": id, "parent_id": 0, "status": o.status, "currency": "EUR",
        "date_created": gmt(o.created), "date_created_gmt": gmt(o.created),
        "date_modified": gmt(o.modified), "date_modified_gmt": gmt(o.modified),
        "line_items": o.lines.iter().map(|l| json!({
            "id": l.id, "name": format!("Item {}", l.product_id), "product_id": l.product_id,
            "variation_id": l.variation_id, "quantity": l.quantity, "sku": l.sku, "meta_data": [],
        })).collect::<Vec<_>>(),
    })
}

fn error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({ "code": code, "message": message, "data": { "status": status } }))
}

fn error_item(id: u64, code: &str, message: &str, status: u16) -> Value {
    json!({ "id": id, "error": { "code": code, "message": message, "data": { "status": status } } })
}

impl State {
    /// The REST form of product or variation `id`, if it exists.
    fn product_json(&self, id: u64, as_product: bool) -> Option<Value> {
        let p = self.products.get(&id)?;
        Some(product_json(id, p, &self.shown_sku(id), as_product))
    }

    fn tick(&mut self) -> i64 {
        self.clock += 1;
        self.clock
    }

    fn delivered(&mut self, webhook: u64, status: u16) {
        if let Some(hook) = self.webhooks.get_mut(&webhook) {
            if (200..300).contains(&status) || status == 301 || status == 302 {
                hook.failures = 0;
            } else {
                hook.failures += 1;
                if hook.failures > DISABLE_AFTER {
                    hook.status = "disabled".into();
                }
            }
        }
    }

    fn place_order(&mut self, sku: &str, quantity: i64, status: &str) -> u64 {
        let found = self
            .products
            .iter()
            .find(|(_, p)| p.sku == sku)
            .map(|(id, _)| *id);
        self.place_order_of(found.unwrap_or(0), quantity, status)
    }

    /// The SKU WooCommerce shows for `id`: its own, or a variation's parent's.
    fn shown_sku(&self, id: u64) -> String {
        let Some(p) = self.products.get(&id) else {
            return String::new();
        };
        match self.products.get(&p.parent_id) {
            Some(parent) if p.sku.is_empty() => parent.sku.clone(),
            _ => p.sku.clone(),
        }
    }

    fn place_order_of(&mut self, item: u64, quantity: i64, status: &str) -> u64 {
        let (product_id, variation_id) = match self.products.get(&item).map(|p| p.parent_id) {
            Some(0) => (item, 0),
            Some(parent) => (parent, item),
            None => (0, 0),
        };
        let sku = self.shown_sku(item);
        let id = self.next_id;
        let line = self.next_id + 1;
        self.next_id += 2;
        let now = self.tick();
        self.orders.insert(
            id,
            FakeOrder {
                status: "pending".into(),
                created: now,
                modified: now,
                lines: vec![FakeLine {
                    id: line,
                    product_id,
                    variation_id,
                    quantity,
                    sku,
                }],
                stock_reduced: false,
            },
        );
        self.set_order_status(id, status);
        id
    }

    fn set_order_status(&mut self, order: u64, status: &str) {
        let now = self.tick();
        let Some(o) = self.orders.get_mut(&order) else {
            return;
        };
        o.status = status.to_owned();
        o.modified = now;
        let sign = match status {
            "processing" | "on-hold" | "completed" if !o.stock_reduced => -1,
            "cancelled" | "pending" if o.stock_reduced => 1,
            _ => 0,
        };
        if sign == 0 {
            return;
        }
        o.stock_reduced = sign < 0;
        let lines = o.lines.clone();
        for line in lines {
            let id = if line.variation_id != 0 {
                line.variation_id
            } else {
                line.product_id
            };
            if let Some(p) = self.products.get_mut(&id)
                && p.manage_stock == json!(true)
            {
                p.stock = Some(p.stock.unwrap_or(0) + sign * line.quantity);
                p.modified = now;
            }
        }
    }

    /// Lets the armed sale land if `shown` includes its item.
    fn after_read(&mut self, shown: &[u64]) {
        if let Some((id, quantity)) = self.sale_after_read
            && shown.contains(&id)
        {
            self.sale_after_read = None;
            self.place_order_of(id, quantity, "processing");
        }
    }
}

/// `per_page` and `page` as WordPress checks them; `Err` names the bad parameter.
fn paging(query: &BTreeMap<String, String>) -> Result<(usize, usize), &'static str> {
    let number = |name: &'static str, default: usize| match query.get(name) {
        None => Ok(default),
        Some(v) => v.parse::<usize>().ok().filter(|n| *n >= 1).ok_or(name),
    };
    let per_page = number("per_page", 10)?;
    if per_page > MAX_PAGE {
        return Err("per_page");
    }
    Ok((per_page, number("page", 1)?))
}

fn invalid_param(name: &str) -> ResponseTemplate {
    error(
        400,
        "rest_invalid_param",
        &format!("Invalid parameter(s): {name}"),
    )
}

fn page_of(items: Vec<Value>, per_page: usize, page: usize) -> ResponseTemplate {
    let total = items.len();
    let pages = total.div_ceil(per_page);
    let body: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    ResponseTemplate::new(200)
        .insert_header("X-WP-Total", total.to_string().as_str())
        .insert_header("X-WP-TotalPages", pages.to_string().as_str())
        .set_body_json(body)
}

fn include(query: &BTreeMap<String, String>) -> Option<Vec<u64>> {
    query
        .get("include")
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
}

struct Handler(Arc<Mutex<State>>);

impl Respond for Handler {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let query: BTreeMap<String, String> = request.url.query_pairs().into_owned().collect();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let path = request
            .url
            .path()
            .trim_start_matches("/wp-json/wc/v3")
            .to_owned();
        state.requests.push(FakeRequest {
            method: request.method.to_string(),
            path: path.clone(),
            query: query.clone(),
            body: body.clone(),
        });
        let auth = request
            .headers
            .get("Authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|v| BASE64.decode(v.trim()).ok())
            .and_then(|v| String::from_utf8(v).ok());
        match auth {
            None => {
                return error(
                    401,
                    "woocommerce_rest_cannot_view",
                    "Sorry, you cannot list resources.",
                );
            }
            Some(pair) if pair != format!("{}:{}", state.key, state.secret) => {
                return error(
                    401,
                    "woocommerce_rest_authentication_error",
                    "Consumer secret is invalid.",
                );
            }
            Some(_) => {}
        }
        let mut delay = None;
        match state.failures.pop_front() {
            Some(Failure::TooManyRequests { retry_after_secs }) => {
                return error(
                    429,
                    "too_many_requests",
                    "Too many requests. Please slow down.",
                )
                .insert_header("Retry-After", retry_after_secs.to_string().as_str());
            }
            Some(Failure::ServerError) => {
                return error(
                    500,
                    "internal_server_error",
                    "<p>There has been a critical error on this website.</p>",
                );
            }
            Some(Failure::Garbage) => {
                return ResponseTemplate::new(200)
                    .insert_header("Content-Type", "text/html")
                    .set_body_string("<html><body><h1>502 Bad Gateway</h1></body></html>");
            }
            Some(Failure::Slow(d)) => delay = Some(d),
            None => {}
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let method = request.method.as_str();
        let response = match (method, segments.as_slice()) {
            ("GET", ["products"]) => state.list_products(&query),
            ("GET", ["products", id]) => match id
                .parse::<u64>()
                .ok()
                .and_then(|id| state.product_json(id, true).map(|body| (id, body)))
            {
                Some((id, body)) => {
                    state.after_read(&[id]);
                    ResponseTemplate::new(200).set_body_json(body)
                }
                None => error(404, "woocommerce_rest_product_invalid_id", "Invalid ID."),
            },
            ("GET", ["products", parent, "variations"]) => match parent.parse() {
                Ok(parent) => state.list_variations(parent, &query),
                Err(_) => error(
                    404,
                    "rest_no_route",
                    "No route was found matching the URL and request method.",
                ),
            },
            ("POST" | "PUT" | "PATCH", ["products", "batch"]) => state.batch(None, &body),
            ("POST" | "PUT" | "PATCH", ["products", parent, "variations", "batch"]) => {
                match parent.parse() {
                    Ok(parent) => state.batch(Some(parent), &body),
                    Err(_) => error(
                        404,
                        "rest_no_route",
                        "No route was found matching the URL and request method.",
                    ),
                }
            }
            ("GET", ["orders"]) => state.list_orders(&query),
            ("GET", ["webhooks"]) => match paging(&query) {
                Ok((per_page, page)) => page_of(
                    state.webhooks.values().map(webhook_json).collect(),
                    per_page,
                    page,
                ),
                Err(name) => invalid_param(name),
            },
            ("POST", ["webhooks"]) => state.create_webhook(&body),
            ("POST" | "PUT" | "PATCH", ["webhooks", id]) => state.update_webhook(id, &body),
            _ => error(
                404,
                "rest_no_route",
                "No route was found matching the URL and request method.",
            ),
        };
        match delay {
            Some(d) => response.set_delay(d),
            None => response,
        }
    }
}

fn webhook_json(w: &FakeWebhook) -> Value {
    json!({
        "id": w.id, "name": w.name, "status": w.status, "topic": w.topic,
        "resource": w.topic.split('.').next(), "event": w.topic.split('.').nth(1),
        "hooks": [], "delivery_url": w.delivery_url,
        "date_created_gmt": "2026-11-01T09:00:00", "date_modified_gmt": "2026-11-01T09:00:00",
    })
}

impl State {
    fn list_products(&mut self, query: &BTreeMap<String, String>) -> ResponseTemplate {
        let (per_page, page) = match paging(query) {
            Ok(p) => p,
            Err(name) => return invalid_param(name),
        };
        let include = include(query);
        let modified_after = query.get("modified_after");
        let mut chosen: Vec<u64> = self
            .products
            .iter()
            .filter(|(id, p)| match &include {
                Some(ids) => ids.contains(id),
                None => p.parent_id == 0,
            })
            .filter(|(_, p)| query.get("type").is_none_or(|t| t == p.kind))
            .filter(|(_, p)| modified_after.is_none_or(|after| gmt(p.modified) > *after))
            .map(|(id, _)| *id)
            .collect();
        if query.get("order").map(String::as_str) != Some("asc") {
            chosen.reverse();
        }
        self.page(&chosen, per_page, page, true)
    }

    fn list_variations(
        &mut self,
        parent: u64,
        query: &BTreeMap<String, String>,
    ) -> ResponseTemplate {
        let (per_page, page) = match paging(query) {
            Ok(p) => p,
            Err(name) => return invalid_param(name),
        };
        // WooCommerce queries variations by parent: a product without any lists none.
        let ids = self
            .products
            .get(&parent)
            .map(|p| p.variations.clone())
            .unwrap_or_default();
        let include = include(query);
        let chosen: Vec<u64> = ids
            .into_iter()
            .filter(|id| include.as_ref().is_none_or(|inc| inc.contains(id)))
            .collect();
        self.page(&chosen, per_page, page, false)
    }

    /// Page `page` of the products `chosen` (each in its product form with `as_product`), the
    /// paging headers counting them all; the ones shown count as read.
    fn page(
        &mut self,
        chosen: &[u64],
        per_page: usize,
        page: usize,
        as_product: bool,
    ) -> ResponseTemplate {
        let shown: Vec<u64> = chosen
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .copied()
            .collect();
        let items = chosen
            .iter()
            .filter_map(|id| self.product_json(*id, as_product))
            .collect();
        let response = page_of(items, per_page, page);
        self.after_read(&shown);
        response
    }

    fn batch(&mut self, parent: Option<u64>, body: &Value) -> ResponseTemplate {
        let count = |name: &str| body.get(name).and_then(Value::as_array).map_or(0, Vec::len);
        if count("create") + count("update") + count("delete") > MAX_BATCH {
            return error(
                413,
                "woocommerce_rest_request_entity_too_large",
                "Unable to accept more than 100 items for this request.",
            );
        }
        if let Some(parent) = parent
            && self
                .products
                .get(&parent)
                .is_none_or(|p| p.kind != "variable")
        {
            return error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.");
        }
        let updates = body
            .get("update")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let answers: Vec<Value> = updates.iter().map(|u| self.update(parent, u)).collect();
        ResponseTemplate::new(200).set_body_json(json!({ "update": answers }))
    }

    fn update(&mut self, parent: Option<u64>, update: &Value) -> Value {
        let id = update.get("id").and_then(Value::as_u64).unwrap_or(0);
        let fits = self.products.get(&id).is_some_and(|p| match parent {
            None => p.parent_id == 0,
            Some(parent) => p.parent_id == parent,
        });
        if !fits {
            let code = if parent.is_some() {
                "woocommerce_rest_product_variation_invalid_id"
            } else {
                "woocommerce_rest_product_invalid_id"
            };
            return error_item(id, code, "Invalid ID.", 400);
        }
        if let Some(at) = self.refuse_update.iter().position(|r| *r == id) {
            self.refuse_update.remove(at);
            return error_item(
                id,
                "woocommerce_rest_cannot_edit",
                "Sorry, you are not allowed to edit this resource.",
                403,
            );
        }
        if let Some(q) = update.get("stock_quantity")
            && !q.is_i64()
        {
            return error_item(
                id,
                "rest_invalid_param",
                "Invalid parameter(s): stock_quantity",
                400,
            );
        }
        let now = self.tick();
        let delta_honoured = self.inventory_delta;
        let mut next_meta = self.next_id;
        let Some(p) = self.products.get_mut(&id) else {
            return error_item(
                id,
                "woocommerce_rest_product_invalid_id",
                "Invalid ID.",
                400,
            );
        };
        if let Some(manage) = update.get("manage_stock").and_then(Value::as_bool) {
            p.manage_stock = json!(manage);
        }
        let managed = p.manage_stock == json!(true);
        match (
            update.get("stock_quantity").and_then(Value::as_i64),
            update.get("inventory_delta").and_then(Value::as_i64),
        ) {
            (Some(q), _) if managed => p.stock = Some(q),
            (None, Some(delta)) if managed && delta_honoured => {
                p.stock = Some(p.stock.unwrap_or(0) + delta)
            }
            _ => {}
        }
        for meta in update
            .get("meta_data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(key), Some(value)) =
                (meta.get("key").and_then(Value::as_str), meta.get("value"))
            else {
                continue;
            };
            match p.meta.iter_mut().find(|m| m.1 == key) {
                Some(m) => m.2 = value.clone(),
                None => {
                    p.meta.push((next_meta, key.to_owned(), value.clone()));
                    next_meta += 1;
                }
            }
        }
        p.modified = now;
        self.next_id = next_meta;
        self.product_json(id, parent.is_none())
            .unwrap_or(Value::Null)
    }

    fn list_orders(&self, query: &BTreeMap<String, String>) -> ResponseTemplate {
        let (per_page, page) = match paging(query) {
            Ok(p) => p,
            Err(name) => return invalid_param(name),
        };
        let after = query.get("modified_after");
        let mut chosen: Vec<Value> = self
            .orders
            .iter()
            .filter(|(_, o)| after.is_none_or(|a| gmt(o.modified) > *a))
            .filter(|(_, o)| {
                query
                    .get("status")
                    .is_none_or(|s| s == "any" || *s == o.status)
            })
            .map(|(id, o)| order_json(*id, o))
            .collect();
        if query.get("order").map(String::as_str) != Some("asc") {
            chosen.reverse();
        }
        page_of(chosen, per_page, page)
    }

    fn create_webhook(&mut self, body: &Value) -> ResponseTemplate {
        let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
        let (Some(topic), Some(url)) = (text("topic"), text("delivery_url")) else {
            return error(
                400,
                "rest_missing_callback_param",
                "Missing parameter(s): topic, delivery_url",
            );
        };
        let id = self.next_id;
        self.next_id += 1;
        let hook = FakeWebhook {
            id,
            name: text("name").unwrap_or_default(),
            topic,
            delivery_url: url,
            secret: text("secret").unwrap_or_default(),
            status: text("status").unwrap_or_else(|| "active".into()),
            failures: 0,
        };
        let answer = webhook_json(&hook);
        self.webhooks.insert(id, hook);
        self.pings.push(id);
        ResponseTemplate::new(201).set_body_json(answer)
    }

    fn update_webhook(&mut self, id: &str, body: &Value) -> ResponseTemplate {
        let Some(hook) = id
            .parse::<u64>()
            .ok()
            .and_then(|id| self.webhooks.get_mut(&id))
        else {
            return error(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID.");
        };
        let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
        if let Some(url) = text("delivery_url") {
            hook.delivery_url = url;
        }
        if let Some(secret) = text("secret") {
            hook.secret = secret;
        }
        if let Some(status) = text("status") {
            hook.status = status;
            hook.failures = 0;
        }
        ResponseTemplate::new(200).set_body_json(webhook_json(hook))
    }
}
