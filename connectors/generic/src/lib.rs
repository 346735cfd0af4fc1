//! omnistock's generic connector: a system that speaks omnistock's own protocols.
//!
//! Inbound, it posts normalized events to `POST /v1/events` (the daemon verifies them).
//! Outbound, when a `push_url` is configured, omnistock reads and sets its numbers with the
//! compare-and-set push protocol of [`protocol`]. Item refs are the SKUs themselves.
#![forbid(unsafe_code)]

#[cfg(feature = "fake")]
pub mod fake;
pub mod protocol;

use std::time::Duration;

use async_trait::async_trait;
use omnistock_sdk::signature::sign_hex;
use omnistock_sdk::{
    Capabilities, ChannelId, Connector, ConnectorError, ItemLevel, ItemRef, ListPage, ListReport,
    LocationId, PushForm, PushOutcome, PushRequest, Sku, StockEvent, Unmapped,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use protocol::{
    CHANNEL_HEADER, Change, ChangeStatus, LevelsAnswer, LevelsRequest, SIGNATURE_HEADER, SetAnswer,
    SetRequest,
};

/// How to reach a system that receives pushes.
#[derive(Clone, Debug)]
pub struct GenericSettings {
    pub channel: ChannelId,
    /// The base URL of the push protocol (`…/levels`, `…/set` are appended).
    pub push_url: String,
    /// Signs every request (the channel's `webhook_secret`).
    pub secret: String,
    /// The location the channel's one number is reported at.
    pub location: LocationId,
    pub max_batch: usize,
    pub calls_per_second: f64,
    pub burst: u32,
    pub timeout: Duration,
}

/// A generic channel with a push side.
pub struct GenericConnector {
    settings: GenericSettings,
    http: reqwest::Client,
}

impl GenericConnector {
    pub fn new(settings: GenericSettings) -> Result<Self, ConnectorError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("omnistock/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConnectorError::Permanent(format!("building the HTTP client: {e}")))?;
        Ok(Self { settings, http })
    }

    /// One signed `POST {push_url}/{path}`, its answer classified by what to do next.
    async fn call<Q: Serialize, A: DeserializeOwned>(
        &self,
        path: &str,
        body: &Q,
        action: &str,
    ) -> Result<A, ConnectorError> {
        let url = format!("{}/{path}", self.settings.push_url.trim_end_matches('/'));
        let action = format!("{action} {} ({url})", self.settings.channel);
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ConnectorError::Permanent(format!("{action}: encoding: {e}")))?;
        let signature = format!(
            "sha256={}",
            sign_hex(self.settings.secret.as_bytes(), &[&bytes])
        );
        let response = self
            .http
            .post(&url)
            .header(CHANNEL_HEADER, self.settings.channel.as_str())
            .header(SIGNATURE_HEADER, signature)
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await
            .map_err(|e| ConnectorError::Retryable(format!("{action}: {}", transport_error(&e))))?;
        let status = response.status();
        if status.as_u16() == 429 {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map_or(Duration::from_secs(1), Duration::from_secs_f64);
            return Err(ConnectorError::RateLimited {
                message: format!("{action}: HTTP 429"),
                retry_after,
            });
        }
        let text = response
            .text()
            .await
            .map_err(|e| ConnectorError::Retryable(format!("{action}: reading the answer: {e}")))?;
        if status.is_server_error() {
            return Err(ConnectorError::Retryable(format!(
                "{action}: HTTP {status}: {}",
                excerpt(&text)
            )));
        }
        if !status.is_success() {
            return Err(ConnectorError::Permanent(format!(
                "{action}: HTTP {status}: {}",
                excerpt(&text)
            )));
        }
        serde_json::from_str(&text).map_err(|e| {
            ConnectorError::Retryable(format!(
                "{action}: not the expected JSON ({e}): {}",
                excerpt(&text)
            ))
        })
    }

    fn level(&self, level: protocol::Level) -> Option<ItemLevel> {
        let sku = Sku::new(level.sku).ok()?;
        Some(ItemLevel {
            item: ItemRef::new(sku.as_str()).ok()?,
            sku: Some(sku),
            location: self.settings.location.clone(),
            available: level.available,
        })
    }
}

fn transport_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else {
        error.to_string()
    }
}

/// The start of a body, for messages: enough to recognize, never a whole payload.
fn excerpt(text: &str) -> String {
    let short: String = text.chars().take(200).collect();
    if short.len() < text.len() {
        format!("{short}…")
    } else {
        short
    }
}

#[async_trait]
impl Connector for GenericConnector {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            push_forms: vec![PushForm::CompareAndSet],
            max_batch: self.settings.max_batch,
            calls_per_second: self.settings.calls_per_second,
            burst: self.settings.burst,
            webhook_topics: Vec::new(),
        }
    }

    async fn list(&self, cursor: Option<String>) -> Result<ListPage, ConnectorError> {
        Ok(self.list_report(cursor).await?.page)
    }

    async fn read(&self, items: &[ItemRef]) -> Result<Vec<ItemLevel>, ConnectorError> {
        let skus = items.iter().map(|i| i.as_str().to_owned()).collect();
        let answer: LevelsAnswer = self
            .call(
                "levels",
                &LevelsRequest {
                    skus: Some(skus),
                    cursor: None,
                },
                "reading levels of",
            )
            .await?;
        Ok(answer
            .levels
            .into_iter()
            .filter_map(|l| self.level(l))
            .collect())
    }

    fn parse_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<StockEvent>, ConnectorError> {
        let signature = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(SIGNATURE_HEADER))
            .map(|(_, v)| v.as_str());
        omnistock_sdk::signature::verify_hex(self.settings.secret.as_bytes(), &[body], signature)
            .map_err(|e| ConnectorError::BadInput(format!("{SIGNATURE_HEADER}: {e}")))?;
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Batch {
            events: Vec<StockEvent>,
        }
        // The daemon's `POST /v1/events` picks the secret by this header; a delivery naming
        // another channel is misaddressed even if our secret signed it.
        let named = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(CHANNEL_HEADER))
            .map(|(_, v)| v.as_str());
        if let Some(named) = named.filter(|n| *n != self.settings.channel.as_str()) {
            return Err(ConnectorError::BadInput(format!(
                "{CHANNEL_HEADER}: {named:?} is not channel {}",
                self.settings.channel
            )));
        }
        let batch: Batch = serde_json::from_slice(body)
            .map_err(|e| ConnectorError::BadInput(format!("malformed events: {e}")))?;
        // As `POST /v1/events` answers: an empty batch is a sender's bug, not a no-op.
        if batch.events.is_empty() {
            return Err(ConnectorError::BadInput("no events in the batch".into()));
        }
        Ok(batch.events)
    }

    async fn list_report(&self, cursor: Option<String>) -> Result<ListReport, ConnectorError> {
        let answer: LevelsAnswer = self
            .call(
                "levels",
                &LevelsRequest { skus: None, cursor },
                "listing levels of",
            )
            .await?;
        let mut levels = Vec::new();
        let mut unmapped = Vec::new();
        for level in answer.levels {
            match self.level(level.clone()) {
                Some(level) => levels.push(level),
                None => unmapped.push(Unmapped {
                    what: format!("sku {:?}", level.sku),
                    reason: "not a valid SKU (empty, too long, control characters or edge spaces)"
                        .into(),
                }),
            }
        }
        Ok(ListReport {
            page: ListPage {
                levels,
                next: answer.next,
            },
            unmapped,
        })
    }

    async fn push(&self, batch: &[PushRequest]) -> Result<Vec<PushOutcome>, ConnectorError> {
        let changes = batch
            .iter()
            .map(|r| Change {
                key: r.idempotency_key.clone(),
                sku: r.item.to_string(),
                expected: r.expected,
                value: r.target,
            })
            .collect();
        let answer: SetAnswer = self
            .call(
                "set",
                &SetRequest { changes },
                &format!("pushing {} quantities to", batch.len()),
            )
            .await?;
        if answer.results.len() != batch.len() {
            return Err(ConnectorError::Retryable(format!(
                "pushing to {}: {} results for {} changes",
                self.settings.channel,
                answer.results.len(),
                batch.len()
            )));
        }
        Ok(answer
            .results
            .into_iter()
            .map(|r| match r.status {
                ChangeStatus::Applied => PushOutcome::Applied,
                ChangeStatus::Stale { actual } => PushOutcome::StaleCompare { actual },
                ChangeStatus::Rejected { reason } => PushOutcome::Rejected(reason),
            })
            .collect())
    }
}
