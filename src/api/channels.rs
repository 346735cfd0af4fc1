//! Per-channel control and the dead-letter list: what `omnistock status`, `pause`, `resume`
//! and `deadletter` talk to.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use omnistock_sdk::{ChannelId, Sku, Timestamp};
use serde::{Deserialize, Serialize};

use super::admin::authorize;
use super::{ApiError, AppState};
use crate::store::DeadLetter;
use crate::sync::{ChannelHealth, EngineError};

#[derive(Serialize)]
pub struct ChannelAnswer {
    kind: &'static str,
    /// Whether omnistock pushes this channel's number (it has a push side).
    pushing: bool,
    #[serde(flatten)]
    health: Option<ChannelHealth>,
    outbox: usize,
    dead_letters: usize,
}

fn channel_id(name: &str) -> Result<ChannelId, ApiError> {
    ChannelId::new(name)
        .map_err(|e| ApiError::bad_request("malformed", Some("channel".into()), e.to_string()))
}

fn store_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable(format!("the store could not answer: {e}"))
}

/// `GET /v1/channels`: every channel's push side, health, outbox and dead letters.
pub async fn list(
    State(app): State<AppState>,
) -> Result<Json<BTreeMap<String, ChannelAnswer>>, ApiError> {
    let config = app.config();
    let health = app.engine.status.snapshot();
    let mut answer = BTreeMap::new();
    for (id, channel) in &config.channels {
        answer.insert(
            id.to_string(),
            ChannelAnswer {
                kind: channel.kind.name(),
                pushing: app.engine.pushing().contains(id),
                health: health.get(id).cloned(),
                outbox: app.store.outbox_len(id).map_err(store_error)?,
                dead_letters: app.store.dead_len(id).map_err(store_error)?,
            },
        );
    }
    Ok(Json(answer))
}

/// `POST /v1/channels/{channel}/pause` and `/resume`.
pub async fn pause(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((channel, action)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&headers, app.config().api.admin_token.expose())?;
    let channel = channel_id(&channel)?;
    let paused = match action.as_str() {
        "pause" => true,
        "resume" => false,
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no channel action {other:?} (pause, resume)"),
            ));
        }
    };
    app.engine
        .set_paused(&channel, paused)
        .map_err(|e| match e {
            EngineError::NotPushing(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_pushing", e.to_string())
            }
            other => store_error(other),
        })?;
    Ok(Json(
        serde_json::json!({ "channel": channel, "paused": paused }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterQuery {
    channel: Option<String>,
}

#[derive(Serialize)]
pub struct DeadLetterAnswer {
    channel: ChannelId,
    id: u64,
    sku: Sku,
    target: i64,
    reason: String,
    at: Timestamp,
    created_at: Timestamp,
    /// What the push asked for, when its first answer was lost: it may have applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    lost_push: Option<i64>,
}

impl From<DeadLetter> for DeadLetterAnswer {
    fn from(d: DeadLetter) -> Self {
        Self {
            channel: d.entry.channel,
            id: d.id,
            sku: d.entry.sku,
            target: d.entry.target,
            reason: d.reason,
            at: d.at,
            created_at: d.entry.created_at,
            lost_push: d.entry.lost.map(|l| l.asked),
        }
    }
}

/// `GET /v1/deadletters[?channel=NAME]`.
pub async fn dead_letters(
    State(app): State<AppState>,
    Query(query): Query<DeadLetterQuery>,
) -> Result<Json<Vec<DeadLetterAnswer>>, ApiError> {
    let channel = query.channel.as_deref().map(channel_id).transpose()?;
    let letters = app
        .store
        .dead_letters(channel.as_ref())
        .map_err(store_error)?;
    Ok(Json(
        letters.into_iter().map(DeadLetterAnswer::from).collect(),
    ))
}

/// `POST /v1/deadletters/{channel}/{id}/retry`: back into the outbox, behind what is pending.
pub async fn retry(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((channel, id)): Path<(String, u64)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&headers, app.config().api.admin_token.expose())?;
    let channel = channel_id(&channel)?;
    let new_id = app
        .store
        .retry_dead(&channel, id)
        .map_err(store_error)?
        .ok_or_else(|| no_letter(&channel, id))?;
    app.store.sync().await.map_err(store_error)?;
    app.engine.waker().wake([&channel]);
    tracing::info!(channel = %channel, id, new_id, "Dead letter sent back to the outbox.");
    Ok(Json(
        serde_json::json!({ "channel": channel, "id": id, "outbox_id": new_id }),
    ))
}

/// `DELETE /v1/deadletters/{channel}/{id}`. A letter whose push may have applied (its first
/// answer was lost) is what holds that doubt across a restart: while the escrow still holds
/// it, the drop is refused and a push of the SKU is planned, whose confirmation clears it.
pub async fn drop_letter(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((channel, id)): Path<(String, u64)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&headers, app.config().api.admin_token.expose())?;
    let channel = channel_id(&channel)?;
    let letter = app
        .store
        .dead_letters(Some(&channel))
        .map_err(store_error)?
        .into_iter()
        .find(|letter| letter.id == id)
        .ok_or_else(|| no_letter(&channel, id))?;
    let sku = letter.entry.sku;
    // A channel no longer pushed gets no push to clear the doubt, and no hold to keep.
    let doubted = app.engine.pushing().contains(&channel)
        && app.engine.published.escrow().doubts(&channel, &sku);
    if letter.entry.lost.is_some() && doubted {
        app.ingest
            .replan(channel.clone(), vec![sku.clone()])
            .await
            .map_err(super::events::ingest_error)?;
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "unconfirmed",
            format!(
                "dead letter {id} for channel {channel} may have applied (its first answer was lost), so {sku} is held at what it asked for until a push is confirmed; a push of {sku} is planned: drop the letter once it is confirmed"
            ),
        ));
    }
    if !app.store.drop_dead(&channel, id).map_err(store_error)? {
        return Err(no_letter(&channel, id));
    }
    app.store.sync().await.map_err(store_error)?;
    tracing::info!(channel = %channel, id, "Dead letter dropped.");
    Ok(Json(
        serde_json::json!({ "channel": channel, "id": id, "dropped": true }),
    ))
}

fn no_letter(channel: &ChannelId, id: u64) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no dead letter {id} for channel {channel}"),
    )
}
