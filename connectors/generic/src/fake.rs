//! A fake system receiving pushes, exact to the generic push protocol, and able to misbehave
//! the way real systems do: 429 with Retry-After, 500, garbage, slow answers, a wrong
//! signature refused with 401, and its own sales landing between our read and our set.
//!
//! ```no_run
//! # async fn demo() {
//! use omnistock_generic::fake::{FakeReceiver, Failure};
//! let shop = FakeReceiver::builder("web", "secret").level("MUG", 5).start().await;
//! shop.fail_next(Failure::RateLimited { retry_after_secs: 1 });
//! shop.sell("MUG", 1); // a sale on the shop that omnistock has not heard of yet
//! # }
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use omnistock_sdk::signature::{sign_hex, verify_hex};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::protocol::{
    CHANNEL_HEADER, Change, ChangeResult, ChangeStatus, Level, LevelsAnswer, LevelsRequest,
    SIGNATURE_HEADER, SetAnswer, SetRequest,
};

/// A way the next call goes wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    RateLimited {
        retry_after_secs: u64,
    },
    ServerError,
    /// 200 with a body that is not JSON.
    Garbage,
    /// Answers correctly, after a delay.
    Slow(Duration),
    /// A `set` is applied, but answered with a 500: its answer lost on the way back.
    AnswerLost,
    /// Every change of a `set` is rejected for good, with this reason (access revoked).
    Rejected(String),
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Call {
    pub at: Instant,
    /// `levels` or `set`.
    pub endpoint: &'static str,
    pub body: serde_json::Value,
}

#[derive(Default)]
struct State {
    levels: BTreeMap<String, i64>,
    applied: HashMap<String, crate::protocol::Change>,
    /// The next failures, each for any endpoint (`None`) or only one.
    failures: VecDeque<(Option<&'static str>, Failure)>,
    calls: Vec<Call>,
    /// Sales to make right after the next levels read: the race rule 6 is about.
    sell_after_read: Vec<(String, i64)>,
    /// How many levels a listing page holds; `None` lists everything on one page.
    page_size: Option<usize>,
}

/// Builds a [`FakeReceiver`].
pub struct Builder {
    channel: String,
    secret: String,
    levels: BTreeMap<String, i64>,
    page_size: Option<usize>,
}

impl Builder {
    /// A SKU the system knows, showing `available`.
    pub fn level(mut self, sku: &str, available: i64) -> Self {
        self.levels.insert(sku.to_owned(), available);
        self
    }

    /// Lists at most `size` levels a page, with a cursor to the next (the protocol allows
    /// it; by default everything comes on one page).
    pub fn page_size(mut self, size: usize) -> Self {
        self.page_size = Some(size.max(1));
        self
    }

    pub async fn start(self) -> FakeReceiver {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            levels: self.levels,
            page_size: self.page_size,
            ..State::default()
        }));
        for endpoint in ["levels", "set"] {
            let responder = Responder {
                endpoint,
                secret: self.secret.clone(),
                state: state.clone(),
            };
            Mock::given(method("POST"))
                .and(path(format!("/{}/{endpoint}", self.channel)))
                .respond_with(responder)
                .mount(&server)
                .await;
        }
        let url = format!("{}/{}", server.uri(), self.channel);
        FakeReceiver {
            server,
            url,
            state,
            channel: self.channel,
            secret: self.secret,
        }
    }
}

/// A running fake; stops when dropped.
pub struct FakeReceiver {
    #[allow(dead_code)] // Held so the server runs as long as the fake lives.
    server: MockServer,
    url: String,
    state: Arc<Mutex<State>>,
    channel: String,
    secret: String,
}

impl FakeReceiver {
    /// A fake for channel `channel`, checking signatures with `secret`.
    pub fn builder(channel: &str, secret: &str) -> Builder {
        Builder {
            channel: channel.to_owned(),
            secret: secret.to_owned(),
            levels: BTreeMap::new(),
            page_size: None,
        }
    }

    /// The `push_url` to configure.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What the system shows for `sku` now.
    pub fn level(&self, sku: &str) -> Option<i64> {
        self.state().levels.get(sku).copied()
    }

    /// A sale made on the system itself.
    pub fn sell(&self, sku: &str, quantity: i64) {
        *self.state().levels.entry(sku.to_owned()).or_default() -= quantity;
    }

    /// A sale made on the system right after the next read: it lands between our read and
    /// our set.
    pub fn sell_after_next_read(&self, sku: &str, quantity: i64) {
        self.state()
            .sell_after_read
            .push((sku.to_owned(), quantity));
    }

    /// The next call, whichever endpoint, goes wrong this way.
    pub fn fail_next(&self, failure: Failure) {
        self.state().failures.push_back((None, failure));
    }

    /// The next `set` call goes wrong this way (reads before it are answered normally).
    /// With [`Failure::Slow`], the change is applied at once and only the answer is late.
    pub fn fail_next_set(&self, failure: Failure) {
        self.state().failures.push_back((Some("set"), failure));
    }

    /// Every request received so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The channel this system is, as it names itself in `x-omnistock-channel`.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The headers this system sends with `body` to `POST /v1/events`: its channel, and
    /// `x-omnistock-signature: sha256=<hex HMAC-SHA256 of the body>`.
    pub fn sign_events(&self, body: &[u8]) -> Vec<(String, String)> {
        vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (CHANNEL_HEADER.to_owned(), self.channel.clone()),
            (
                SIGNATURE_HEADER.to_owned(),
                format!("sha256={}", sign_hex(self.secret.as_bytes(), &[body])),
            ),
        ]
    }

    /// A realistic `POST /v1/events` body about the first SKU the system holds, counted at
    /// `location`: a sale at the till, an online order line, and the count after both. Event
    /// ids are derived from the content, so building it twice gives a redelivery.
    pub fn events_body(&self, location: &str) -> Vec<u8> {
        let (sku, available) = self
            .state()
            .levels
            .iter()
            .next()
            .map(|(sku, &n)| (sku.clone(), n))
            .unwrap_or_else(|| ("SAMPLE-SKU".to_owned(), 0));
        let id = |what: &str| format!("{}-{sku}-{what}-{available}", self.channel);
        serde_json::json!({ "events": [
            { "id": id("till-sale"), "occurred_at": "2026-11-23T10:00:00Z", "sku": sku,
              "change": { "type": "adjusted", "location": location, "by": -1, "reason": "sale" } },
            { "id": id("order-1001-line-1"), "occurred_at": "2026-11-23T10:01:00Z", "sku": sku,
              "change": { "type": "order_line_opened", "order": "1001", "line": "1",
                          "location": location, "quantity": 1 } },
            { "id": id("count"), "occurred_at": "2026-11-23T10:02:00Z", "sku": sku,
              "change": { "type": "level_observed", "location": location, "quantity": available } },
        ]})
        .to_string()
        .into_bytes()
    }
}

struct Responder {
    endpoint: &'static str,
    secret: String,
    state: Arc<Mutex<State>>,
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let signature = request
            .headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok());
        if verify_hex(self.secret.as_bytes(), &[&request.body], signature).is_err() {
            return ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"error": "bad signature"}));
        }
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let body = serde_json::from_slice(&request.body).unwrap_or(serde_json::Value::Null);
        state.calls.push(Call {
            at: Instant::now(),
            endpoint: self.endpoint,
            body,
        });
        let mut delay = Duration::ZERO;
        let failure = match state.failures.front() {
            Some((None, _)) => state.failures.pop_front(),
            Some((Some(endpoint), _)) if *endpoint == self.endpoint => state.failures.pop_front(),
            _ => None,
        };
        match failure.map(|(_, f)| f) {
            Some(Failure::RateLimited { retry_after_secs }) => {
                return ResponseTemplate::new(429)
                    .insert_header("retry-after", retry_after_secs.to_string().as_str());
            }
            Some(Failure::ServerError) => {
                return ResponseTemplate::new(500).set_body_string("internal error");
            }
            Some(Failure::Garbage) => {
                return ResponseTemplate::new(200).set_body_string("<html>maintenance</html>");
            }
            Some(Failure::Slow(d)) => delay = d,
            Some(Failure::AnswerLost) => {
                if self.endpoint == "set" {
                    let _ = set(&mut state, &request.body);
                }
                return ResponseTemplate::new(500).set_body_string("internal error");
            }
            Some(Failure::Rejected(reason)) => return reject(&request.body, &reason),
            None => {}
        }
        let answer = match self.endpoint {
            "levels" => levels(&mut state, &request.body),
            _ => set(&mut state, &request.body),
        };
        answer.set_delay(delay)
    }
}

fn levels(state: &mut State, body: &[u8]) -> ResponseTemplate {
    let Ok(request) = serde_json::from_slice::<LevelsRequest>(body) else {
        return ResponseTemplate::new(400)
            .set_body_json(serde_json::json!({"error": "malformed levels request"}));
    };
    let mut next = None;
    let levels = match request.skus {
        Some(skus) => skus
            .into_iter()
            .filter_map(|sku| {
                state
                    .levels
                    .get(&sku)
                    .map(|&available| Level { sku, available })
            })
            .collect(),
        None => {
            // The cursor is the last SKU of the previous page; the levels are kept sorted.
            let after = request
                .cursor
                .as_deref()
                .and_then(|c| c.strip_prefix("after:"));
            let size = state.page_size.unwrap_or(usize::MAX);
            let mut rest = state
                .levels
                .iter()
                .filter(|(sku, _)| after.is_none_or(|a| sku.as_str() > a));
            let page: Vec<Level> = rest
                .by_ref()
                .take(size)
                .map(|(sku, &available)| Level {
                    sku: sku.clone(),
                    available,
                })
                .collect();
            if rest.next().is_some() {
                next = page.last().map(|l| format!("after:{}", l.sku));
            }
            page
        }
    };
    for (sku, quantity) in std::mem::take(&mut state.sell_after_read) {
        *state.levels.entry(sku).or_default() -= quantity;
    }
    ResponseTemplate::new(200).set_body_json(LevelsAnswer { levels, next })
}

/// The answer to a `set` request: each change's status as `decide` gives it, in order, or
/// the 400 the real endpoint answers to a malformed body.
fn answer_set(body: &[u8], mut decide: impl FnMut(Change) -> ChangeStatus) -> ResponseTemplate {
    let Ok(request) = serde_json::from_slice::<SetRequest>(body) else {
        return ResponseTemplate::new(400)
            .set_body_json(serde_json::json!({"error": "malformed set request"}));
    };
    let results = request
        .changes
        .into_iter()
        .map(|change| ChangeResult {
            key: change.key.clone(),
            status: decide(change),
        })
        .collect();
    ResponseTemplate::new(200).set_body_json(SetAnswer { results })
}

/// Every change of a `set` refused with `reason`, nothing applied.
fn reject(body: &[u8], reason: &str) -> ResponseTemplate {
    answer_set(body, |_| ChangeStatus::Rejected {
        reason: reason.to_owned(),
    })
}

fn set(state: &mut State, body: &[u8]) -> ResponseTemplate {
    answer_set(body, |change| {
        let key = &change.key;
        if state.applied.get(key) == Some(&change) {
            return ChangeStatus::Applied;
        }
        if state.applied.contains_key(key) {
            return ChangeStatus::Rejected {
                reason: "idempotency key reused with another change".into(),
            };
        }
        match state.levels.get(&change.sku).copied() {
            None => ChangeStatus::Rejected {
                reason: format!("unknown sku {}", change.sku),
            },
            Some(actual) if actual != change.expected => ChangeStatus::Stale {
                actual: Some(actual),
            },
            Some(_) => {
                state.levels.insert(change.sku.clone(), change.value);
                state.applied.insert(change.key.clone(), change);
                ChangeStatus::Applied
            }
        }
    })
}
