//! A fake Square (wiremock) that follows `shared/api/square.md` and CONTRACTS.md §2,
//! misbehaviour included: for this crate's tests, the daemon's end-to-end tests and demos.
//!
//! "A fake that is kinder than the real API proves nothing", so this one:
//! - checks every request body against Square's official OpenAPI schemas, made strict
//!   ([`schema`]): a body that breaks them gets a 400 and is recorded in
//!   [`FakeSquare::schema_violations`], which tests assert empty;
//! - answers only with `Authorization: Bearer <token>` (401 `UNAUTHORIZED` otherwise) and a
//!   dated `Square-Version`;
//! - keeps a change log with ids ([`ledger`]) and computes counts from it by `occurred_at`:
//!   a `PHYSICAL_COUNT` supersedes every earlier change, a late offline sale slots in by time;
//! - applies `BatchChangeInventory` all or nothing: at most 100 changes, `occurred_at` within
//!   the last 24 hours and not in the future (`INVALID_TIME`), read-only states refused,
//!   unknown variations and locations refused, `ignore_unchanged_counts` honoured;
//! - remembers idempotency keys: the same key and body replays the first answer without
//!   applying again, another body is `IDEMPOTENCY_KEY_REUSED`;
//! - pages counts, changes and the catalog with opaque cursors, filters by ids, states,
//!   types and `updated_after`; an empty result is `{}`;
//! - can be told to fail the next call: 429 `RATE_LIMITED` (Square's body, no `Retry-After`:
//!   Square publishes no limits), 500 `INTERNAL_SERVER_ERROR`, a garbage body, or a slow
//!   answer (which still applies a change, as a real timeout can);
//! - signs `inventory.count.updated` and `catalog.version.updated` webhooks as Square does
//!   (HMAC-SHA256 over the notification URL followed by the body, base64) and can deliver
//!   them to a URL, redeliveries keeping their `event_id`.
//!
//! Codes Square does not document for a case (a read-only state, an unknown variation) are
//! our best reading: `INVALID_VALUE` and `NOT_FOUND` with the field named.

// A refusal is the fake's answer to the test, built once per request: its size does not matter.
#![allow(clippy::result_large_err)]

pub mod ledger;
pub mod schema;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use omnistock_sdk::Timestamp;
use omnistock_sdk::signature::sign_base64;
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::settings::{DEFAULT_SQUARE_VERSION, SquareSettings};
use crate::wire::whole_units;
use ledger::{Entry, Kind, Ledger};
use schema::Schemas;

pub const DEFAULT_TOKEN: &str = "EAAA-fake-square-token";
pub const DEFAULT_SIGNATURE_KEY: &str = "fake-signature-key";
/// The most changes one `BatchChangeInventory` may carry.
pub const MAX_CHANGES: usize = 100;

/// States the Inventory API cannot move quantities to or from.
const READ_ONLY_STATES: &[&str] = &[
    "CUSTOM",
    "RETURNED_BY_CUSTOMER",
    "RESERVED_FOR_SALE",
    "SOLD_ONLINE",
    "ORDERED_FROM_VENDOR",
    "RECEIVED_FROM_VENDOR",
    "IN_TRANSIT_TO",
    "IN_TRANSIT",
    "COMPOSED",
    "DECOMPOSED",
    "SUPPORTED_BY_NEWER_VERSION",
];

/// How the next call should go wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// HTTP 429 `RATE_LIMITED`.
    RateLimited,
    /// HTTP 500 `INTERNAL_SERVER_ERROR`.
    ServerError,
    /// HTTP 200 with an HTML page.
    Garbage,
    /// The normal answer after the builder's slow delay (changes are still applied).
    Slow,
}

/// What the fake saw, for assertions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeStats {
    pub requests: u64,
    pub batches_applied: u64,
    pub idempotent_replays: u64,
    /// Calls refused with `IDEMPOTENCY_KEY_REUSED` (a known key with another body).
    pub keys_reused: u64,
    pub largest_batch: usize,
}

#[derive(Debug)]
struct State {
    token: String,
    signature_key: String,
    locations: Vec<String>,
    /// Variation id → its SKU (if it has one).
    variations: BTreeMap<String, Option<String>>,
    ledger: Ledger,
    keys: HashMap<String, (Value, Value)>,
    failures: VecDeque<Failure>,
    slow: Duration,
    page_size: usize,
    next_id: u64,
    stats: FakeStats,
    requests: Vec<(String, Value)>,
    violations: Vec<String>,
}

impl State {
    fn next_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:020}", self.next_id)
    }
}

/// Builds a [`FakeSquare`].
#[derive(Debug)]
pub struct FakeSquareBuilder {
    locations: Vec<String>,
    variations: BTreeMap<String, Option<String>>,
    counts: Vec<(String, String, i64)>,
    token: String,
    signature_key: String,
    slow: Duration,
    page_size: usize,
    spec: PathBuf,
    /// Serve without checking request bodies when the spec cannot be read, instead of
    /// refusing to start.
    spec_optional: bool,
}

impl FakeSquare {
    /// An empty account.
    pub fn builder() -> FakeSquareBuilder {
        FakeSquareBuilder {
            locations: Vec::new(),
            variations: BTreeMap::new(),
            counts: Vec::new(),
            token: DEFAULT_TOKEN.to_owned(),
            signature_key: DEFAULT_SIGNATURE_KEY.to_owned(),
            slow: Duration::from_secs(3),
            page_size: 100,
            spec: schema::default_spec_path(),
            spec_optional: false,
        }
    }
}

impl FakeSquareBuilder {
    /// An active location.
    pub fn location(mut self, id: &str) -> Self {
        self.locations.push(id.to_owned());
        self
    }

    /// An item variation with its SKU.
    pub fn variation(mut self, id: &str, sku: &str) -> Self {
        self.variations.insert(id.to_owned(), Some(sku.to_owned()));
        self
    }

    /// An item variation with no SKU.
    pub fn variation_without_sku(mut self, id: &str) -> Self {
        self.variations.insert(id.to_owned(), None);
        self
    }

    /// A physical count of `quantity` in stock, taken an hour ago.
    pub fn count(mut self, variation: &str, location: &str, quantity: i64) -> Self {
        self.counts
            .push((variation.to_owned(), location.to_owned(), quantity));
        self
    }

    /// How many records a page holds (catalog, counts, changes), to exercise paging.
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// How long a [`Failure::Slow`] answer takes.
    pub fn slow_answer(mut self, delay: Duration) -> Self {
        self.slow = delay;
        self
    }

    /// Serves even when Square's OpenAPI spec cannot be read, without checking request
    /// bodies against it: for the demo, which must run on a machine that
    /// has only the repository. Tests keep the default, a fake that refuses to start.
    pub fn spec_optional(mut self) -> Self {
        self.spec_optional = true;
        self
    }

    pub fn access_token(mut self, token: &str) -> Self {
        self.token = token.to_owned();
        self
    }

    /// Starts the server. Panics if Square's OpenAPI spec cannot be loaded: a fake that
    /// cannot check requests would prove nothing.
    pub async fn start(self) -> FakeSquare {
        let schemas = match Schemas::load(&self.spec) {
            Ok(s) => Some(Arc::new(s)),
            // The caller says so to its user (the demo, in its welcome).
            Err(_) if self.spec_optional => None,
            Err(e) => panic!("the Square fake needs Square's OpenAPI spec: {e}"),
        };
        let mut state = State {
            token: self.token,
            signature_key: self.signature_key,
            locations: self.locations,
            variations: self.variations,
            ledger: Ledger::default(),
            keys: HashMap::new(),
            failures: VecDeque::new(),
            slow: self.slow,
            page_size: self.page_size,
            next_id: 0,
            stats: FakeStats::default(),
            requests: Vec::new(),
            violations: Vec::new(),
        };
        let hour_ago = Timestamp::from_millis(now().as_millis() - 3_600_000);
        for (variation, location, quantity) in self.counts {
            let id = state.next_id("PC");
            state.ledger.entries.push(Entry {
                id,
                kind: Kind::PhysicalCount {
                    state: "IN_STOCK".into(),
                },
                variation,
                location,
                quantity,
                occurred_at: hour_ago,
                created_at: hour_ago,
                reference_id: None,
                product: "SQUARE_DASHBOARD",
            });
        }
        let state = Arc::new(Mutex::new(state));
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/v2/"))
            .respond_with(Handler {
                state: state.clone(),
                schemas: schemas.clone(),
            })
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/v2/"))
            .respond_with(Handler {
                state: state.clone(),
                schemas,
            })
            .mount(&server)
            .await;
        FakeSquare { server, state }
    }
}

/// A running fake Square account.
#[derive(Debug)]
pub struct FakeSquare {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

/// Wall-clock now (the fake checks `occurred_at` against it, as Square does).
fn now() -> Timestamp {
    Timestamp::from_millis(chrono::Utc::now().timestamp_millis())
}

impl FakeSquare {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The API's base URL (`http://127.0.0.1:<port>`).
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Connector settings for this account: its URL, token and signature key; no locations.
    pub fn settings(&self, channel: &str, notification_url: &str) -> SquareSettings {
        let state = self.state();
        let mut settings = SquareSettings::new(
            channel,
            state.token.clone(),
            state.signature_key.clone(),
            notification_url,
        );
        settings.base_url = self.uri();
        settings
    }

    /// `IN_STOCK` of a variation at a location, if it was ever counted there.
    pub fn level(&self, variation: &str, location: &str) -> Option<i64> {
        self.state()
            .ledger
            .in_stock(variation, location)
            .map(|(n, _)| n)
    }

    /// A sale at the till now: `IN_STOCK → SOLD`. Returns the change id.
    pub fn sale(&self, variation: &str, location: &str, quantity: i64) -> String {
        self.sale_at(variation, location, quantity, now())
    }

    /// A sale rung up offline at `occurred_at`, reaching Square now.
    pub fn sale_at(
        &self,
        variation: &str,
        location: &str,
        quantity: i64,
        occurred_at: Timestamp,
    ) -> String {
        let kind = Kind::Adjustment {
            from: "IN_STOCK".into(),
            to: "SOLD".into(),
        };
        self.record(kind, variation, location, quantity, occurred_at)
    }

    /// A sale rung up offline `ago` before now, reaching Square now.
    pub fn sale_ago(
        &self,
        variation: &str,
        location: &str,
        quantity: i64,
        ago: Duration,
    ) -> String {
        let at = Timestamp::from_millis(now().as_millis() - ago.as_millis() as i64);
        self.sale_at(variation, location, quantity, at)
    }

    /// A physical count taken in the store now. Returns the change id.
    pub fn physical_count(&self, variation: &str, location: &str, quantity: i64) -> String {
        let kind = Kind::PhysicalCount {
            state: "IN_STOCK".into(),
        };
        self.record(kind, variation, location, quantity, now())
    }

    fn record(
        &self,
        kind: Kind,
        variation: &str,
        location: &str,
        quantity: i64,
        occurred_at: Timestamp,
    ) -> String {
        let mut state = self.state();
        let id = state.next_id("POS");
        state.ledger.entries.push(Entry {
            id: id.clone(),
            kind,
            variation: variation.to_owned(),
            location: location.to_owned(),
            quantity,
            occurred_at,
            created_at: now(),
            reference_id: None,
            product: "SQUARE_POS",
        });
        id
    }

    /// Adds (or renames) a variation in the catalog.
    pub fn add_variation(&self, id: &str, sku: &str) {
        self.state()
            .variations
            .insert(id.to_owned(), Some(sku.to_owned()));
    }

    /// Every change in the log, in the order Square received them.
    pub fn changes(&self) -> Vec<Entry> {
        self.state().ledger.entries.clone()
    }

    /// Makes the next API call fail this way (failures queue up).
    pub fn fail_next(&self, failure: Failure) {
        self.state().failures.push_back(failure);
    }

    pub fn stats(&self) -> FakeStats {
        self.state().stats.clone()
    }

    /// Every request body received, with its path.
    pub fn requests(&self) -> Vec<(String, Value)> {
        self.state().requests.clone()
    }

    /// Every way a received body broke Square's OpenAPI schemas. Tests assert it is empty.
    pub fn schema_violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }

    /// The signature Square would send for `body` to `notification_url`.
    pub fn sign(&self, notification_url: &str, body: &[u8]) -> String {
        let key = self.state().signature_key.clone();
        sign_base64(key.as_bytes(), &[notification_url.as_bytes(), body])
    }

    /// The headers of a delivery of `body` to `notification_url`.
    pub fn webhook_headers(&self, notification_url: &str, body: &[u8]) -> Vec<(String, String)> {
        vec![
            ("content-type".into(), "application/json".into()),
            (
                "x-square-hmacsha256-signature".into(),
                self.sign(notification_url, body),
            ),
            ("square-environment".into(), "Sandbox".into()),
            (
                "square-initial-delivery-timestamp".into(),
                now().to_rfc3339(),
            ),
        ]
    }

    /// An `inventory.count.updated` body with the current count of a variation at a
    /// location (its `event_id` new each time: a redelivery re-sends the same body).
    pub fn count_updated_body(&self, variation: &str, location: &str) -> Vec<u8> {
        let mut state = self.state();
        let (quantity, calculated_at) = state
            .ledger
            .in_stock(variation, location)
            .unwrap_or((0, now()));
        state.next_id += 1;
        let n = state.next_id;
        json!({
            "merchant_id": "6SSW7HV8K2ST5",
            "type": "inventory.count.updated",
            "event_id": event_uuid(n),
            "created_at": now().to_rfc3339(),
            "data": {
                "type": "inventory_counts",
                "id": event_uuid(n + 1_000_000),
                "object": { "inventory_counts": [{
                    "calculated_at": calculated_at.to_rfc3339(),
                    "catalog_object_id": variation,
                    "catalog_object_type": "ITEM_VARIATION",
                    "location_id": location,
                    "quantity": quantity.to_string(),
                    "state": "IN_STOCK",
                }]},
            },
        })
        .to_string()
        .into_bytes()
    }

    /// A `catalog.version.updated` body.
    pub fn catalog_updated_body(&self) -> Vec<u8> {
        let n = {
            let mut state = self.state();
            state.next_id += 1;
            state.next_id
        };
        json!({
            "merchant_id": "6SSW7HV8K2ST5",
            "type": "catalog.version.updated",
            "event_id": event_uuid(n),
            "created_at": now().to_rfc3339(),
            "data": { "type": "catalog_version", "id": "",
                "object": { "catalog_version": { "updated_at": now().to_rfc3339() } } },
        })
        .to_string()
        .into_bytes()
    }

    /// POSTs a signed delivery of `body` to `url` (Square signs `notification_url`, the URL
    /// as registered, which may differ from where it is delivered behind a proxy). Returns
    /// the HTTP status, 0 if there was no answer.
    pub async fn deliver(&self, url: &str, notification_url: &str, body: &[u8]) -> u16 {
        let headers = self.webhook_headers(notification_url, body);
        send(url, headers, body).await
    }

    /// Delivers `body` again as Square retries it (`square-retry-number`,
    /// `square-retry-reason`): same body, same `event_id`.
    pub async fn redeliver(
        &self,
        url: &str,
        notification_url: &str,
        body: &[u8],
        retry: u32,
    ) -> u16 {
        let mut headers = self.webhook_headers(notification_url, body);
        headers.push(("square-retry-number".into(), retry.to_string()));
        headers.push(("square-retry-reason".into(), "http_timeout".into()));
        send(url, headers, body).await
    }
}

async fn send(url: &str, headers: Vec<(String, String)>, body: &[u8]) -> u16 {
    let mut request = reqwest::Client::new().post(url).body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

fn event_uuid(n: u64) -> String {
    format!("{:08x}-5a1e-4a9b-9c2d-{:012x}", n % 0xffff_ffff, n)
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

struct Handler {
    state: Arc<Mutex<State>>,
    /// `None`: not checked (see [`FakeSquareBuilder::spec_optional`]).
    schemas: Option<Arc<Schemas>>,
}

/// Square's error answer.
fn error(
    status: u16,
    category: &str,
    code: &str,
    detail: &str,
    field: Option<&str>,
) -> ResponseTemplate {
    let mut err = json!({ "category": category, "code": code, "detail": detail });
    if let Some(field) = field {
        err["field"] = json!(field);
    }
    ResponseTemplate::new(status).set_body_json(json!({ "errors": [err] }))
}

fn invalid(code: &str, detail: &str, field: Option<&str>) -> ResponseTemplate {
    error(400, "INVALID_REQUEST_ERROR", code, detail, field)
}

impl Respond for Handler {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        state.stats.requests += 1;
        let bearer = format!("Bearer {}", state.token);
        let auth = request
            .headers
            .get("Authorization")
            .and_then(|v| v.to_str().ok());
        if auth != Some(bearer.as_str()) {
            return error(
                401,
                "AUTHENTICATION_ERROR",
                "UNAUTHORIZED",
                "This request could not be authorized.",
                None,
            );
        }
        let version = request
            .headers
            .get("Square-Version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if version.len() != DEFAULT_SQUARE_VERSION.len() || version.as_bytes()[4] != b'-' {
            return invalid(
                "INVALID_SQUARE_VERSION_FORMAT",
                &format!("Square-Version {version:?} is not of the form YYYY-MM-DD"),
                None,
            );
        }
        let mut delay = None;
        match state.failures.pop_front() {
            Some(Failure::RateLimited) => {
                return error(
                    429,
                    "RATE_LIMIT_ERROR",
                    "RATE_LIMITED",
                    "Rate limit exceeded.",
                    None,
                );
            }
            Some(Failure::ServerError) => {
                return error(
                    500,
                    "API_ERROR",
                    "INTERNAL_SERVER_ERROR",
                    "An internal error has occurred.",
                    None,
                );
            }
            Some(Failure::Garbage) => {
                return ResponseTemplate::new(200)
                    .insert_header("Content-Type", "text/html")
                    .set_body_string("<html><body><h1>502 Bad Gateway</h1></body></html>");
            }
            Some(Failure::Slow) => delay = Some(state.slow),
            None => {}
        }
        let path = request.url.path().to_owned();
        let response = if request.method.as_str() == "GET" {
            let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
            match path.as_str() {
                "/v2/locations" => list_locations(&state),
                "/v2/catalog/list" => list_catalog(&state, &query),
                _ => error(
                    404,
                    "INVALID_REQUEST_ERROR",
                    "NOT_FOUND",
                    "Resource not found.",
                    None,
                ),
            }
        } else {
            let body: Value = match serde_json::from_slice(&request.body) {
                Ok(body) => body,
                Err(e) => {
                    state
                        .violations
                        .push(format!("{path}: body is not JSON: {e}"));
                    return invalid("EXPECTED_JSON_BODY", "The request body is not JSON.", None);
                }
            };
            state.requests.push((path.clone(), body.clone()));
            let violations = self
                .schemas
                .as_ref()
                .map(|s| s.check(&path, &body))
                .unwrap_or_default();
            if !violations.is_empty() {
                let detail = violations.join("; ");
                state.violations.push(format!("{path}: {detail}"));
                return invalid("INVALID_VALUE", &detail, None);
            }
            match path.as_str() {
                "/v2/inventory/counts/batch-retrieve" => retrieve_counts(&state, &body),
                "/v2/inventory/changes/batch-retrieve" => retrieve_changes(&state, &body),
                "/v2/inventory/changes/batch-create" => batch_change(&mut state, body),
                _ => error(
                    404,
                    "INVALID_REQUEST_ERROR",
                    "NOT_FOUND",
                    "Resource not found.",
                    None,
                ),
            }
        };
        match delay {
            Some(d) => response.set_delay(d),
            None => response,
        }
    }
}

fn list_locations(state: &State) -> ResponseTemplate {
    let locations: Vec<Value> = state
        .locations
        .iter()
        .map(|id| json!({ "id": id, "name": format!("Store {id}"), "status": "ACTIVE" }))
        .collect();
    ResponseTemplate::new(200).set_body_json(json!({ "locations": locations }))
}

/// The page of `items` from `cursor` (`"page-<offset>"`) as `{ key: page, cursor }`, or the
/// `INVALID_CURSOR` answer.
fn page(key: &str, items: &[Value], cursor: Option<&str>, size: usize) -> ResponseTemplate {
    let offset = match cursor {
        None => 0,
        Some(c) => match c
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
        {
            Some(offset) => offset,
            None => {
                return invalid(
                    "INVALID_CURSOR",
                    "The pagination cursor is not valid.",
                    Some("cursor"),
                );
            }
        },
    };
    let end = (offset + size).min(items.len());
    let next = (end < items.len()).then(|| format!("page-{end}"));
    page_body(key, items[offset..end].to_vec(), next)
}

fn list_catalog(state: &State, query: &HashMap<String, String>) -> ResponseTemplate {
    let types = query.get("types").map(|t| t.to_ascii_uppercase());
    if types.as_deref() != Some("ITEM_VARIATION") {
        return invalid(
            "INVALID_VALUE",
            "This fake lists ITEM_VARIATION only.",
            Some("types"),
        );
    }
    let objects: Vec<Value> = state
        .variations
        .iter()
        .map(|(id, sku)| {
            let mut data = json!({ "item_id": format!("ITEM-{id}"), "name": "Regular", "track_inventory": true });
            if let Some(sku) = sku {
                data["sku"] = json!(sku);
            }
            json!({ "type": "ITEM_VARIATION", "id": id, "is_deleted": false,
                    "present_at_all_locations": true, "item_variation_data": data })
        })
        .collect();
    page(
        "objects",
        &objects,
        query.get("cursor").map(String::as_str),
        state.page_size,
    )
}

/// `{ key: items, cursor }`, or `{}` when there is nothing.
fn page_body(key: &str, items: Vec<Value>, cursor: Option<String>) -> ResponseTemplate {
    let mut body = json!({});
    if !items.is_empty() {
        body[key] = Value::Array(items);
    }
    if let Some(cursor) = cursor {
        body["cursor"] = json!(cursor);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn strings(body: &Value, field: &str) -> Option<Vec<String>> {
    body.get(field).and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    })
}

fn time(body: &Value, field: &str) -> Result<Option<Timestamp>, ResponseTemplate> {
    match body.get(field).and_then(Value::as_str) {
        None => Ok(None),
        Some(text) => Timestamp::parse_rfc3339(text)
            .map(Some)
            .map_err(|e| invalid("INVALID_TIME", &e, Some(field))),
    }
}

/// A search's page of `items`: its cursor and limit are in the request `body`.
fn search_page(state: &State, body: &Value, key: &str, items: &[Value]) -> ResponseTemplate {
    page(
        key,
        items,
        body.get("cursor").and_then(Value::as_str),
        limit(state, body),
    )
}

fn limit(state: &State, body: &Value) -> usize {
    body.get("limit")
        .and_then(Value::as_u64)
        .map_or(state.page_size, |l| (l as usize).min(state.page_size))
}

fn retrieve_counts(state: &State, body: &Value) -> ResponseTemplate {
    let after = match time(body, "updated_after") {
        Ok(t) => t,
        Err(answer) => return answer,
    };
    let objects = strings(body, "catalog_object_ids");
    let locations = strings(body, "location_ids");
    let states = strings(body, "states");
    if states.is_some_and(|s| !s.iter().any(|s| s == "IN_STOCK")) {
        return page_body("counts", Vec::new(), None);
    }
    let mut counts: Vec<(Timestamp, Value)> = state
        .ledger
        .pairs()
        .into_iter()
        .filter(|(v, l)| {
            objects.as_ref().is_none_or(|o| o.contains(v))
                && locations.as_ref().is_none_or(|ls| ls.contains(l))
        })
        .filter_map(|(v, l)| {
            let (quantity, at) = state.ledger.in_stock(&v, &l)?;
            after.is_none_or(|a| at > a).then(|| {
                (
                    at,
                    json!({ "catalog_object_id": v, "catalog_object_type": "ITEM_VARIATION",
                    "state": "IN_STOCK", "location_id": l, "quantity": quantity.to_string(),
                    "calculated_at": at.to_rfc3339() }),
                )
            })
        })
        .collect();
    // Newest first.
    counts.sort_by_key(|c| std::cmp::Reverse(c.0));
    let counts: Vec<Value> = counts.into_iter().map(|(_, c)| c).collect();
    search_page(state, body, "counts", &counts)
}

fn retrieve_changes(state: &State, body: &Value) -> ResponseTemplate {
    let (after, before) = match (time(body, "updated_after"), time(body, "updated_before")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(answer), _) | (_, Err(answer)) => return answer,
    };
    let objects = strings(body, "catalog_object_ids");
    let locations = strings(body, "location_ids");
    let states = strings(body, "states");
    let types = strings(body, "types")
        .unwrap_or_else(|| vec!["PHYSICAL_COUNT".into(), "ADJUSTMENT".into()]);
    let changes: Vec<Value> = state
        .ledger
        .entries
        .iter()
        .filter(|e| {
            let kind_ok = match &e.kind {
                Kind::Adjustment { from, to } => {
                    types.iter().any(|t| t == "ADJUSTMENT")
                        && states
                            .as_ref()
                            .is_none_or(|s| s.contains(from) || s.contains(to))
                }
                Kind::PhysicalCount { .. } => types.iter().any(|t| t == "PHYSICAL_COUNT"),
            };
            kind_ok
                && objects.as_ref().is_none_or(|o| o.contains(&e.variation))
                && locations.as_ref().is_none_or(|l| l.contains(&e.location))
                && after.is_none_or(|a| e.created_at > a)
                && before.is_none_or(|b| e.created_at < b)
        })
        .map(Entry::to_json)
        .collect();
    search_page(state, body, "changes", &changes)
}

fn batch_change(state: &mut State, body: Value) -> ResponseTemplate {
    let key = body
        .get("idempotency_key")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Some((first, answer)) = state.keys.get(&key) {
        if *first == body {
            let answer = answer.clone();
            state.stats.idempotent_replays += 1;
            return ResponseTemplate::new(200).set_body_json(answer);
        }
        state.stats.keys_reused += 1;
        return invalid(
            "IDEMPOTENCY_KEY_REUSED",
            "The idempotency key was already used with a different request body.",
            Some("idempotency_key"),
        );
    }
    let changes = body
        .get("changes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if changes.len() > MAX_CHANGES {
        return invalid(
            "ARRAY_LENGTH_TOO_LONG",
            &format!(
                "At most {MAX_CHANGES} changes a request, got {}.",
                changes.len()
            ),
            Some("changes"),
        );
    }
    let ignore_unchanged = body
        .get("ignore_unchanged_counts")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let received = now();
    let mut entries = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        match to_entry(state, i, change, received) {
            Ok(entry) => entries.push(entry),
            Err(answer) => return answer,
        }
    }
    let mut applied = Vec::new();
    for entry in entries {
        let unchanged = matches!(entry.kind, Kind::PhysicalCount { .. })
            && ignore_unchanged
            && state
                .ledger
                .in_stock(&entry.variation, &entry.location)
                .is_some_and(|(n, _)| n == entry.quantity);
        if !unchanged {
            applied.push(entry.to_json());
            state.ledger.entries.push(entry);
        }
    }
    let touched: Vec<(String, String)> = changes
        .iter()
        .filter_map(|c| {
            let member = c.get("adjustment").or_else(|| c.get("physical_count"))?;
            Some((
                member.get("catalog_object_id")?.as_str()?.to_owned(),
                member.get("location_id")?.as_str()?.to_owned(),
            ))
        })
        .collect();
    let counts: Vec<Value> = touched
        .iter()
        .filter_map(|(v, l)| {
            let (quantity, at) = state.ledger.in_stock(v, l)?;
            Some(
                json!({ "catalog_object_id": v, "catalog_object_type": "ITEM_VARIATION",
                "state": "IN_STOCK", "location_id": l, "quantity": quantity.to_string(),
                "calculated_at": at.to_rfc3339() }),
            )
        })
        .collect();
    let answer = json!({ "counts": counts, "changes": applied });
    state.stats.batches_applied += 1;
    state.stats.largest_batch = state.stats.largest_batch.max(changes.len());
    state.keys.insert(key, (body, answer.clone()));
    ResponseTemplate::new(200).set_body_json(answer)
}

/// One requested change as a log entry, or Square's refusal naming the field.
fn to_entry(
    state: &mut State,
    i: usize,
    change: &Value,
    received: Timestamp,
) -> Result<Entry, ResponseTemplate> {
    let kind = change
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (member_name, member) = match kind {
        "ADJUSTMENT" => ("adjustment", change.get("adjustment")),
        "PHYSICAL_COUNT" => ("physical_count", change.get("physical_count")),
        other => {
            return Err(invalid(
                "INVALID_VALUE",
                &format!("Change type {other:?} is not supported here."),
                Some(&format!("changes[{i}].type")),
            ));
        }
    };
    let field = |name: &str| format!("changes[{i}].{member_name}.{name}");
    let member = member.ok_or_else(|| {
        invalid(
            "MISSING_REQUIRED_PARAMETER",
            &format!("{member_name} is required for {kind}."),
            Some(&format!("changes[{i}].{member_name}")),
        )
    })?;
    let text = |name: &str| -> Result<String, ResponseTemplate> {
        member
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                invalid(
                    "MISSING_REQUIRED_PARAMETER",
                    &format!("{name} is required."),
                    Some(&field(name)),
                )
            })
    };
    let variation = text("catalog_object_id")?;
    if !state.variations.contains_key(&variation) {
        return Err(invalid(
            "NOT_FOUND",
            &format!("Catalog object {variation} not found."),
            Some(&field("catalog_object_id")),
        ));
    }
    let location = text("location_id")?;
    if !state.locations.contains(&location) {
        return Err(invalid(
            "NOT_FOUND",
            &format!("Location {location} not found."),
            Some(&field("location_id")),
        ));
    }
    let quantity = whole_units(&text("quantity")?)
        .map_err(|e| invalid("INVALID_VALUE", &e, Some(&field("quantity"))))?;
    let occurred_at = Timestamp::parse_rfc3339(&text("occurred_at")?)
        .map_err(|e| invalid("INVALID_TIME", &e, Some(&field("occurred_at"))))?;
    if occurred_at > received || occurred_at.as_millis() < received.as_millis() - 86_400_000 {
        return Err(invalid(
            "INVALID_TIME",
            "occurred_at must be within the last 24 hours and not in the future.",
            Some(&field("occurred_at")),
        ));
    }
    let writable = |state_name: &str, name: &str| {
        if READ_ONLY_STATES.contains(&state_name) {
            Err(invalid(
                "INVALID_VALUE",
                &format!("The inventory state {state_name} is read-only."),
                Some(&field(name)),
            ))
        } else {
            Ok(())
        }
    };
    let kind = if kind == "ADJUSTMENT" {
        let (from, to) = (text("from_state")?, text("to_state")?);
        writable(&from, "from_state")?;
        writable(&to, "to_state")?;
        if quantity <= 0 {
            return Err(invalid(
                "INVALID_VALUE",
                "An adjustment's quantity must be positive.",
                Some(&field("quantity")),
            ));
        }
        Kind::Adjustment { from, to }
    } else {
        let counted = text("state")?;
        writable(&counted, "state")?;
        if quantity < 0 {
            return Err(invalid(
                "INVALID_VALUE",
                "A physical count cannot be negative.",
                Some(&field("quantity")),
            ));
        }
        Kind::PhysicalCount { state: counted }
    };
    let id = state.next_id("API");
    Ok(Entry {
        id,
        kind,
        variation,
        location,
        quantity,
        occurred_at,
        created_at: received,
        reference_id: member
            .get("reference_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        product: "EXTERNAL_API",
    })
}
