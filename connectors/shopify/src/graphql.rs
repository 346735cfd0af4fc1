//! Out to Shopify: one GraphQL call — wait for the cost bucket, send, read `extensions.cost`,
//! and sort `errors` into the [`ConnectorError`] classes.
//!
//! Shopify meters GraphQL by cost points in a leaky bucket per app and shop. Every response
//! says how full the bucket is (`throttleStatus`), so we keep our own estimate, refill it at
//! `restoreRate` between calls, and wait before a call the bucket could not pay for, instead
//! of learning it from a `THROTTLED` error. A wait longer than `max_throttle_wait` is handed
//! back to the engine as `RateLimited`.

use std::sync::Mutex;
use std::time::Duration;

use omnistock_sdk::ConnectorError;
use omnistock_sdk::http::{HttpClient, excerpt};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::Instant;

/// The most a single query may cost.
pub const MAX_QUERY_COST: u32 = 1_000;

/// The shape of `extensions.cost`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    pub requested_query_cost: Option<f64>,
    pub actual_query_cost: Option<f64>,
    pub throttle_status: Option<ThrottleStatus>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleStatus {
    pub maximum_available: f64,
    pub currently_available: f64,
    pub restore_rate: f64,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    data: Option<Value>,
    #[serde(default)]
    errors: Option<Value>,
    #[serde(default)]
    extensions: Option<Extensions>,
}

#[derive(Debug, Deserialize)]
struct Extensions {
    cost: Option<Cost>,
}

/// Our estimate of Shopify's bucket, refilled by time between responses.
#[derive(Debug, Default)]
struct Bucket {
    last: Option<(ThrottleStatus, Instant)>,
}

impl Bucket {
    fn estimate(&self, now: Instant) -> Option<(f64, ThrottleStatus)> {
        let (status, at) = self.last?;
        let refilled = status.currently_available
            + status.restore_rate * now.saturating_duration_since(at).as_secs_f64();
        Some((refilled.min(status.maximum_available), status))
    }

    /// How long to wait before a call of `cost`, and books the cost if no wait is needed.
    fn reserve(&mut self, cost: f64, now: Instant) -> Duration {
        let Some((available, status)) = self.estimate(now) else {
            return Duration::ZERO;
        };
        let cost = cost.min(status.maximum_available);
        if available >= cost {
            self.last = Some((
                ThrottleStatus {
                    currently_available: available - cost,
                    ..status
                },
                now,
            ));
            return Duration::ZERO;
        }
        if status.restore_rate <= 0.0 {
            return Duration::from_secs(60);
        }
        // A tenth more than the arithmetic, so rounding on either side never leaves us short;
        // but never more than a full bucket, which the refill cannot pass: a page costing
        // near the whole bucket would otherwise wait a tenth longer every time for nothing.
        let short = ((cost - available) * 1.1).min(status.maximum_available - available);
        Duration::from_secs_f64(short / status.restore_rate + 0.005)
    }

    fn observe(&mut self, status: ThrottleStatus, now: Instant) {
        self.last = Some((status, now));
    }
}

/// A GraphQL client for one shop.
#[derive(Debug)]
pub struct Graphql {
    http: HttpClient,
    endpoint: String,
    token: String,
    max_wait: Duration,
    bucket: Mutex<Bucket>,
}

impl Graphql {
    pub fn new(http: HttpClient, endpoint: String, token: String, max_wait: Duration) -> Self {
        Self {
            http,
            endpoint,
            token,
            max_wait,
            bucket: Mutex::new(Bucket::default()),
        }
    }

    /// The last throttle status Shopify reported, if any.
    pub fn throttle_status(&self) -> Option<ThrottleStatus> {
        self.bucket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last
            .map(|(s, _)| s)
    }

    async fn wait_for_points(&self, cost: f64, action: &str) -> Result<(), ConnectorError> {
        loop {
            let wait = self
                .bucket
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .reserve(cost, Instant::now());
            if wait.is_zero() {
                return Ok(());
            }
            if wait > self.max_wait {
                return Err(ConnectorError::RateLimited {
                    message: format!("{action}: the GraphQL cost bucket is low"),
                    retry_after: wait,
                });
            }
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                cost,
                "Waiting for the Shopify cost bucket to refill."
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Runs one query or mutation costing about `cost` points and returns its `data`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        action: &str,
        query: &str,
        variables: Value,
        cost: f64,
    ) -> Result<T, ConnectorError> {
        self.wait_for_points(cost, action).await?;
        let request = self
            .http
            .client()
            .post(&self.endpoint)
            .header("X-Shopify-Access-Token", &self.token)
            .json(&serde_json::json!({ "query": query, "variables": variables }));
        let reply = self.http.send(request, action).await?;
        let envelope: Envelope = reply.json(action)?;
        let cost_ext = envelope.extensions.and_then(|e| e.cost);
        if let Some(status) = cost_ext.as_ref().and_then(|c| c.throttle_status) {
            self.bucket
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .observe(status, Instant::now());
        }
        if let Some(errors) = envelope.errors.filter(|e| !is_empty(e)) {
            return Err(classify_errors(&errors, cost_ext.as_ref(), action));
        }
        let data = envelope.data.filter(|d| !d.is_null()).ok_or_else(|| {
            ConnectorError::Retryable(format!(
                "{action}: a response without data: {}",
                excerpt(&reply.body)
            ))
        })?;
        serde_json::from_value(data).map_err(|e| {
            ConnectorError::Retryable(format!(
                "{action}: unexpected response shape ({e}): {}",
                excerpt(&reply.body)
            ))
        })
    }
}

fn is_empty(errors: &Value) -> bool {
    match errors {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Top-level `errors` (not user errors): throttling, cost, access, or our own query's fault.
fn classify_errors(errors: &Value, cost: Option<&Cost>, action: &str) -> ConnectorError {
    let list: Vec<&Value> = match errors {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let code_of = |e: &Value| {
        e.pointer("/extensions/code")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let messages: Vec<String> = list
        .iter()
        .map(|e| match e.get("message").and_then(Value::as_str) {
            Some(m) => m.to_owned(),
            None => e.to_string(),
        })
        .collect();
    let text = messages.join("; ");
    if list.iter().any(|e| code_of(e) == "THROTTLED") {
        let retry_after = cost
            .and_then(|c| {
                let status = c.throttle_status?;
                let needed = c.requested_query_cost.unwrap_or(status.restore_rate)
                    - status.currently_available;
                (status.restore_rate > 0.0).then(|| needed.max(0.0) / status.restore_rate)
            })
            .map(Duration::from_secs_f64)
            .unwrap_or(Duration::from_secs(1))
            .max(Duration::from_millis(100));
        return ConnectorError::RateLimited {
            message: format!("{action}: THROTTLED"),
            retry_after,
        };
    }
    if list.iter().any(|e| {
        matches!(
            code_of(e).as_str(),
            "INTERNAL_SERVER_ERROR" | "SERVICE_UNAVAILABLE"
        )
    }) {
        return ConnectorError::Retryable(format!("{action}: {text}"));
    }
    ConnectorError::Permanent(format!("{action}: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(available: f64) -> ThrottleStatus {
        ThrottleStatus {
            maximum_available: 1000.0,
            currently_available: available,
            restore_rate: 50.0,
        }
    }

    #[test]
    fn the_bucket_waits_before_running_dry() {
        let now = Instant::now();
        let mut bucket = Bucket::default();
        assert_eq!(
            bucket.reserve(900.0, now),
            Duration::ZERO,
            "unknown bucket: go"
        );
        bucket.observe(status(100.0), now);
        let wait = bucket.reserve(600.0, now);
        // 500 points short at 50/s is 10 s, plus the margin.
        assert!(
            wait >= Duration::from_secs(10) && wait < Duration::from_secs(12),
            "{wait:?}"
        );
        assert_eq!(
            bucket.reserve(600.0, now + Duration::from_secs(10)),
            Duration::ZERO
        );
        // The booked cost is gone from the estimate.
        assert!(bucket.reserve(600.0, now + Duration::from_secs(10)) > Duration::ZERO);
    }

    #[test]
    fn the_wait_never_aims_past_a_full_bucket() {
        let now = Instant::now();
        let mut bucket = Bucket::default();
        bucket.observe(status(338.0), now);
        // 992 points of a 1,000-point bucket: 654 short is 13.08 s at 50/s; the margin
        // would make it 14.4 s, past the 13.24 s that fills the bucket.
        let wait = bucket.reserve(992.0, now);
        assert!(
            wait >= Duration::from_secs_f64(13.08) && wait <= Duration::from_secs_f64(13.25),
            "{wait:?}"
        );
        assert_eq!(bucket.reserve(992.0, now + wait), Duration::ZERO);
    }

    #[test]
    fn throttled_is_rate_limited_with_the_refill_time() {
        let errors = serde_json::json!([{"message":"Throttled","extensions":{"code":"THROTTLED"}}]);
        let cost = Cost {
            requested_query_cost: Some(150.0),
            actual_query_cost: None,
            throttle_status: Some(status(50.0)),
        };
        match classify_errors(&errors, Some(&cost), "listing") {
            ConnectorError::RateLimited { retry_after, .. } => {
                assert_eq!(retry_after, Duration::from_secs(2))
            }
            other => panic!("{other:?}"),
        }
        let errors = serde_json::json!([{"message":"Field 'x' doesn't exist"}]);
        assert!(matches!(
            classify_errors(&errors, None, "listing"),
            ConnectorError::Permanent(_)
        ));
    }
}
