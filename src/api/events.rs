//! `POST /v1/events`: the generic connector. Any system posts normalized stock events,
//! signed with HMAC-SHA256 over the raw body with its channel's `webhook_secret`.
//!
//! Headers: `X-Omnistock-Channel: <channel>` and `X-Omnistock-Signature: sha256=<hex>`.
//! Body: `{"events": [StockEvent, …]}`. The answer (200) comes only after every event is
//! durable, with one result per event: accepted, duplicate, unchanged or ignored.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use omnistock_sdk::signature::{SignatureError, verify_hex};
use omnistock_sdk::{ChannelId, StockEvent};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::{ApiError, parse_json, read_body};
use crate::config::ChannelKind;
use crate::ingest::{IngestError, Outcome, Submission, check_events};

pub const CHANNEL_HEADER: &str = "x-omnistock-channel";
pub const SIGNATURE_HEADER: &str = "x-omnistock-signature";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventBatch {
    events: Vec<StockEvent>,
}

#[derive(Serialize)]
pub struct EventResult {
    id: String,
    #[serde(flatten)]
    outcome: Outcome,
}

#[derive(Serialize)]
pub struct EventsAnswer {
    results: Vec<EventResult>,
}

pub async fn post_events(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<EventsAnswer>, ApiError> {
    app.counted(accept(&app, &headers, body).await)
}

async fn accept(
    app: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Json<EventsAnswer>, ApiError> {
    let config = app.config();
    let bytes = read_body(body, config.api.max_body_bytes).await?;
    let channel = authenticate(app, headers, &bytes)?;
    let batch: EventBatch = parse_json(&bytes)?;
    if batch.events.is_empty() {
        return Err(ApiError::bad_request(
            "malformed",
            Some("events".into()),
            "no events in the batch",
        ));
    }
    check_events(&config, &channel, false, &batch.events).map_err(|refused| {
        ApiError::bad_request("refused", Some(refused.field), refused.message)
    })?;
    let results = ingest_events(app, channel, batch.events).await?;
    Ok(Json(EventsAnswer { results }))
}

/// Finds the channel named in the headers and checks the body's signature with its secret.
fn authenticate(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<ChannelId, ApiError> {
    let config = app.config();
    let name = headers
        .get(CHANNEL_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "unknown_channel",
                format!("the {CHANNEL_HEADER} header is missing"),
            )
        })?;
    let channel = ChannelId::new(name)
        .ok()
        .filter(|c| config.channels.contains_key(c))
        .ok_or_else(|| {
            ApiError::unauthorized(
                "unknown_channel",
                format!("no channel {name:?} is configured"),
            )
        })?;
    let secret = match &config.channels[&channel].kind {
        ChannelKind::Generic { webhook_secret, .. } => webhook_secret,
        kind @ (ChannelKind::Shopify(_) | ChannelKind::Square(_) | ChannelKind::WooCommerce(_)) => {
            return Err(ApiError::unauthorized(
                "wrong_endpoint",
                format!(
                    "{channel} is a {} channel: its webhooks go to /v1/webhooks/{channel}",
                    kind.name()
                ),
            ));
        }
        kind @ (ChannelKind::ShipHero(_) | ChannelKind::FileFeed(_)) => {
            return Err(ApiError::unauthorized(
                "wrong_endpoint",
                format!(
                    "{channel} is a {} channel: its events come through its own connector",
                    kind.name()
                ),
            ));
        }
    };
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    verify_hex(secret.expose().as_bytes(), &[body], signature).map_err(|e| {
        let message = match e {
            SignatureError::Missing => format!("the {SIGNATURE_HEADER} header is missing"),
            SignatureError::Malformed(_) | SignatureError::Mismatch => format!(
                "{SIGNATURE_HEADER} is not the HMAC-SHA256 of the body with channel {channel}'s webhook_secret"
            ),
        };
        tracing::warn!(channel = %channel, "Refused events with a bad signature.");
        ApiError::unauthorized("bad_signature", message)
    })?;
    Ok(channel)
}

/// Ingests a channel's checked events; one result per event, once they are durable.
pub(super) async fn ingest_events(
    app: &AppState,
    channel: ChannelId,
    events: Vec<StockEvent>,
) -> Result<Vec<EventResult>, ApiError> {
    let ids: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    let submission = Submission {
        channel,
        manual: false,
        events,
    };
    let outcomes = app.ingest.submit(submission).await.map_err(ingest_error)?;
    Ok(ids
        .into_iter()
        .zip(outcomes)
        .map(|(id, outcome)| EventResult { id, outcome })
        .collect())
}

pub fn ingest_error(error: IngestError) -> ApiError {
    ApiError::unavailable(format!("{error}; nothing was acknowledged, retry later"))
}
