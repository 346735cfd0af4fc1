//! `POST /v1/adjustments`: an operator's manual adjustment, behind the admin bearer token.
//!
//! Body: `{"sku", "location", "by", "reason", "id"?}`. Send an `id` to make a retried request
//! safe (the CLI always does); without one, each request is a new adjustment.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use omnistock_sdk::{ChannelId, EventId, LocationId, Sku, StockChange, StockEvent};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{parse_json, read_body};
use super::events::ingest_error;
use super::{ApiError, AppState};
use crate::ingest::{MANUAL_CHANNEL, Outcome, Submission, check_events};
use crate::state::LocationStock;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentRequest {
    sku: Sku,
    location: LocationId,
    by: i64,
    reason: String,
    #[serde(default)]
    id: Option<EventId>,
}

#[derive(Serialize)]
pub struct AdjustmentAnswer {
    id: EventId,
    #[serde(flatten)]
    outcome: Outcome,
    stock: LocationStock,
}

pub async fn post_adjustment(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<AdjustmentAnswer>, ApiError> {
    app.counted(adjust(&app, &headers, body).await)
}

async fn adjust(
    app: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Json<AdjustmentAnswer>, ApiError> {
    let config = app.config();
    authorize(headers, config.api.admin_token.expose())?;
    let bytes = read_body(body, config.api.max_body_bytes).await?;
    let request: AdjustmentRequest = parse_json(&bytes)?;
    if request.reason.trim().is_empty() {
        return Err(ApiError::bad_request(
            "malformed",
            Some("reason".into()),
            "say why the stock changes",
        ));
    }
    if request.by == 0 {
        return Err(ApiError::bad_request(
            "malformed",
            Some("by".into()),
            "an adjustment moves stock by a non-zero amount",
        ));
    }
    let id = match request.id {
        Some(id) => id,
        None => EventId::new(format!("adj-{}", uuid::Uuid::new_v4()))
            .map_err(|e| ApiError::bad_request("malformed", Some("id".into()), e.to_string()))?,
    };
    let event = StockEvent {
        id: id.clone(),
        occurred_at: app.clock.now(),
        sku: request.sku.clone(),
        change: StockChange::Adjusted {
            location: request.location.clone(),
            by: request.by,
            reason: request.reason,
        },
    };
    let channel =
        ChannelId::new(MANUAL_CHANNEL).map_err(|e| ApiError::unavailable(e.to_string()))?;
    let events = vec![event];
    check_events(&config, &channel, true, &events).map_err(|refused| {
        let field = refused
            .field
            .replace("events[0].change.", "")
            .replace("events[0].", "");
        ApiError::bad_request("refused", Some(field), refused.message)
    })?;
    tracing::info!(sku = %request.sku, location = %request.location, by = request.by, id = %id, "Manual adjustment.");
    let outcomes = app
        .ingest
        .submit(Submission {
            channel,
            manual: true,
            events,
        })
        .await
        .map_err(ingest_error)?;
    let outcome = outcomes.into_iter().next().unwrap_or(Outcome::Duplicate);
    let safety = config.safety(&request.sku, &request.location);
    let stock = app
        .ingest
        .view()
        .read()
        .get(&request.sku)
        .map(|s| s.stock_at(&request.location, safety))
        .unwrap_or(LocationStock {
            on_hand: 0,
            reserved: 0,
            safety,
            available: 0,
        });
    Ok(Json(AdjustmentAnswer { id, outcome, stock }))
}

/// Checks `Authorization: Bearer <token>`. Digests are compared rather than the tokens, so
/// the comparison's timing says nothing useful about the token.
pub(super) fn authorize(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::unauthorized(
                "unauthorized",
                "send Authorization: Bearer <api.admin_token>",
            )
        })?;
    if Sha256::digest(given.trim().as_bytes()) != Sha256::digest(expected.as_bytes()) {
        return Err(ApiError::unauthorized(
            "unauthorized",
            "the bearer token is not api.admin_token",
        ));
    }
    Ok(())
}
