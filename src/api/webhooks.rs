//! `POST /v1/webhooks/{channel}`: a channel's own webhooks (Shopify's), verified and turned
//! into events by that channel's connector, then ingested like any event.
//!
//! A bad signature is 401 and a malformed body 400, touching nothing. Events the connector
//! could not map (an unknown SKU, a location not in config) or that break the rules are
//! logged and counted but do not fail the delivery: the rest of it is still taken, and the
//! sender is not made to retry (and eventually drop its subscription) over one bad line.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use omnistock_sdk::{ChannelId, ConnectorError};
use serde::Serialize;

use super::error::read_body;
use super::events::{EventResult, ingest_events};
use super::{ApiError, AppState};
use crate::ingest::check_events;

#[derive(Serialize)]
pub struct WebhookAnswer {
    results: Vec<EventResult>,
    /// What was left out, and why.
    skipped: Vec<String>,
}

pub async fn post_webhook(
    State(app): State<AppState>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<WebhookAnswer>, ApiError> {
    app.counted(accept(&app, &channel, &headers, body).await)
}

async fn accept(
    app: &AppState,
    channel: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Json<WebhookAnswer>, ApiError> {
    let config = app.config();
    let bytes = read_body(body, config.api.max_body_bytes).await?;
    let channel = ChannelId::new(channel)
        .ok()
        .filter(|c| app.webhooks.contains_key(c))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_channel",
                format!("no channel {channel:?} takes webhooks here"),
            )
        })?;
    let connector = &app.webhooks[&channel];
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let report = connector
        .parse_webhook_report(&pairs, &bytes)
        .map_err(|e| refused(&channel, e))?;
    if report.poll_now {
        app.polls.poll_now(&channel);
    }
    let mut skipped: Vec<String> = report
        .unmapped
        .iter()
        .map(|u| format!("{}: {}", u.what, u.reason))
        .collect();
    let mut events = Vec::new();
    for event in report.events {
        match check_events(&config, &channel, false, std::slice::from_ref(&event)) {
            Ok(()) => events.push(event),
            Err(refused) => skipped.push(format!("event {}: {}", event.id, refused.message)),
        }
    }
    if !skipped.is_empty() {
        tracing::warn!(channel = %channel, skipped = ?skipped, "Webhook parts left out.");
    }
    if events.is_empty() {
        return Ok(Json(WebhookAnswer {
            results: Vec::new(),
            skipped,
        }));
    }
    let results = ingest_events(app, channel, events).await?;
    Ok(Json(WebhookAnswer { results, skipped }))
}

/// A webhook the connector refused: a signature problem is 401, anything else 400.
fn refused(channel: &ChannelId, error: ConnectorError) -> ApiError {
    let message = error.to_string();
    let lower = message.to_ascii_lowercase();
    if lower.contains("hmac") || lower.contains("signature") {
        tracing::warn!(channel = %channel, "Refused a webhook with a bad signature.");
        ApiError::unauthorized("bad_signature", message)
    } else {
        ApiError::bad_request("malformed", None, message)
    }
}
