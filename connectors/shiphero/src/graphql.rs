//! Out to ShipHero's GraphQL API: the bearer token (renewed once with the refresh token when
//! ShipHero answers 401), the credits throttle (an error in a 200 answer that says how long
//! to wait, turned into `RateLimited`), and every other failure to its class.

use std::sync::RwLock;
use std::time::Duration;

use omnistock_sdk::ConnectorError;
use omnistock_sdk::http::{
    DEFAULT_RETRY_AFTER, HttpClient, classify_status, classify_transport, decode_json,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// ShipHero's error code for a query the credits bucket cannot pay for.
pub const NOT_ENOUGH_CREDITS: i64 = 30;

/// One ShipHero account's GraphQL endpoint and tokens.
#[derive(Debug)]
pub struct Graphql {
    http: HttpClient,
    endpoint: String,
    refresh_endpoint: String,
    access_token: RwLock<String>,
    refresh_token: String,
}

#[derive(Deserialize)]
struct Answer {
    data: Option<Value>,
    #[serde(default)]
    errors: Vec<GraphqlError>,
}

#[derive(Debug, Deserialize)]
struct GraphqlError {
    #[serde(default)]
    message: String,
    code: Option<i64>,
    /// `"2 seconds"` on a credits error.
    time_remaining: Option<String>,
}

#[derive(Deserialize)]
struct Refreshed {
    access_token: String,
}

/// `"2 seconds"`, `"1 second"`, `"2"` → the wait.
fn wait_of(text: &str) -> Option<Duration> {
    let number = text.split_whitespace().next()?;
    let seconds: f64 = number.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

impl Graphql {
    pub fn new(
        http: HttpClient,
        api_url: &str,
        access_token: String,
        refresh_token: String,
    ) -> Self {
        let base = api_url.trim_end_matches('/');
        Self {
            http,
            endpoint: format!("{base}/graphql"),
            refresh_endpoint: format!("{base}/auth/refresh"),
            access_token: RwLock::new(access_token),
            refresh_token,
        }
    }

    fn token(&self) -> String {
        self.access_token
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Runs one query or mutation and returns its `data`, decoded.
    pub async fn call<D: DeserializeOwned>(
        &self,
        action: &str,
        query: &str,
        variables: Value,
    ) -> Result<D, ConnectorError> {
        let body = json!({ "query": query, "variables": variables });
        let mut refreshed = false;
        loop {
            self.http.limiter().ready().await;
            let response = self
                .http
                .client()
                .post(&self.endpoint)
                .bearer_auth(self.token())
                .json(&body)
                .send()
                .await
                .map_err(|e| classify_transport(&e, action))?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = response
                .bytes()
                .await
                .map_err(|e| classify_transport(&e, action))?;
            if status == 401 && !refreshed {
                self.refresh(action).await?;
                refreshed = true;
                continue;
            }
            if let Some(err) = classify_status(status, retry_after.as_deref(), &bytes, action) {
                return Err(err);
            }
            return Self::data(decode_json::<Answer>(&bytes, action)?, action);
        }
    }

    fn data<D: DeserializeOwned>(answer: Answer, action: &str) -> Result<D, ConnectorError> {
        if let Some(throttled) = answer.errors.iter().find(|e| {
            e.code == Some(NOT_ENOUGH_CREDITS) || e.message.contains("not enough credits")
        }) {
            return Err(ConnectorError::RateLimited {
                message: format!("{action}: {}", throttled.message),
                retry_after: throttled
                    .time_remaining
                    .as_deref()
                    .and_then(wait_of)
                    .unwrap_or(DEFAULT_RETRY_AFTER),
            });
        }
        if let Some(first) = answer.errors.first() {
            return Err(ConnectorError::Permanent(format!(
                "{action}: {} ({} errors)",
                first.message,
                answer.errors.len()
            )));
        }
        let data = answer
            .data
            .ok_or_else(|| ConnectorError::Retryable(format!("{action}: no data and no errors")))?;
        serde_json::from_value(data).map_err(|e| {
            ConnectorError::Retryable(format!("{action}: unexpected answer shape: {e}"))
        })
    }

    /// Renews the access token.
    async fn refresh(&self, action: &str) -> Result<(), ConnectorError> {
        let action = format!("{action}: renewing the expired access token");
        let reply = self
            .http
            .send(
                self.http
                    .client()
                    .post(&self.refresh_endpoint)
                    .json(&json!({ "refresh_token": self.refresh_token })),
                &action,
            )
            .await?;
        let refreshed: Refreshed = reply.json(&action)?;
        tracing::info!(action = %action, "ShipHero access token renewed.");
        *self.access_token.write().unwrap_or_else(|p| p.into_inner()) = refreshed.access_token;
        Ok(())
    }
}

/// A Relay connection as ShipHero answers a paged query: `{ data { pageInfo edges { node } } }`.
#[derive(Deserialize)]
pub struct Connection<N> {
    pub data: Page<N>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<N> {
    pub page_info: PageInfo,
    pub edges: Vec<Edge<N>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct Edge<N> {
    pub node: N,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_as_seconds() {
        assert_eq!(wait_of("2 seconds"), Some(Duration::from_secs(2)));
        assert_eq!(wait_of("1 second"), Some(Duration::from_secs(1)));
        assert_eq!(wait_of("soon"), None);
    }
}
