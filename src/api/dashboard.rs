//! The dashboard's side of the API: the page and its assets (embedded), and
//! `GET /v1/dashboard/summary`, everything the page shows at a glance in one answer.
//!
//! Like the other read endpoints these need no token: they show what `GET /v1/channels`,
//! `/v1/stock/{sku}` and `/metrics` already show, and nothing they serve changes anything.
//! The API is meant to listen on loopback or a private network (`listen`); put it behind an
//! authenticating proxy to show the dashboard further.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use omnistock_sdk::{LocationId, Timestamp};
use serde::Serialize;

use super::{ApiError, AppState};
use crate::dashboard::{self, Asset, Bucket, Window};
use crate::feed::FeedItem;
use crate::sync::ChannelHealth;

/// `GET /`: the dashboard.
pub async fn index() -> Response {
    serve(dashboard::INDEX)
}

/// `GET /assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    dashboard::asset(&name).map(serve).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no dashboard asset {name:?}"),
        )
    })
}

fn serve(asset: Asset) -> Response {
    (
        [
            (CONTENT_TYPE, asset.content_type),
            // Embedded in the binary: a new build may change them under the same name.
            (CACHE_CONTROL, "no-cache"),
        ],
        asset.body,
    )
        .into_response()
}

#[derive(Serialize)]
pub struct Summary {
    node_id: String,
    now: Timestamp,
    /// SKUs with stock state.
    skus: usize,
    /// Each location and the channel that owns it.
    locations: BTreeMap<LocationId, String>,
    channels: Vec<ChannelRow>,
    /// The last hour, per minute and channel.
    series: Window,
    /// The feed's last items, oldest first, for a page that just opened.
    recent: Vec<FeedItem>,
}

#[derive(Serialize)]
pub struct ChannelRow {
    name: String,
    kind: &'static str,
    /// Whether omnistock pushes this channel's number.
    pushing: bool,
    sells_from: Vec<LocationId>,
    /// The push side's health; `None` for a channel that only sends events.
    health: Option<ChannelHealth>,
    outbox: usize,
    dead_letters: usize,
    /// How long the oldest pending push has waited, in seconds: how far behind it is.
    lag_seconds: f64,
    /// Changes, pushes, errors and 429s over the last 60 s.
    last_minute: Bucket,
    per_second: f64,
    burst: u32,
    max_batch: usize,
    /// The share of the channel's push capacity left over the last minute: 1 − quantities
    /// confirmed / (calls per second × 60 × batch size), and 0 when it answered 429. An
    /// estimate (reads and listings also spend calls); `None` when nothing is pushed.
    headroom: Option<f64>,
}

/// `GET /v1/dashboard/summary`.
pub async fn summary(State(app): State<AppState>) -> Result<Json<Summary>, ApiError> {
    let config = app.config();
    let now = app.clock.now();
    let health = app.engine.status.snapshot();
    let pushing = app.engine.pushing();
    let store_error = |e: crate::store::StoreError| {
        ApiError::unavailable(format!("the store could not answer: {e}"))
    };
    let history = app.dashboard.lock();
    let mut channels = Vec::new();
    for (id, channel) in &config.channels {
        let oldest = app.store.pending(id, 1).map_err(store_error)?;
        let lag_ms = oldest.first().map_or(0, |(_, e)| {
            (now.as_millis() - e.created_at.as_millis()).max(0)
        });
        let last_minute = history.last_minute(now, id);
        let limits = &channel.limits;
        let is_pushing = pushing.contains(id);
        channels.push(ChannelRow {
            name: id.to_string(),
            kind: channel.kind.name(),
            pushing: is_pushing,
            sells_from: channel.sells_from.clone(),
            health: health.get(id).cloned(),
            outbox: app.store.outbox_len(id).map_err(store_error)?,
            dead_letters: app.store.dead_len(id).map_err(store_error)?,
            lag_seconds: lag_ms as f64 / 1000.0,
            last_minute,
            per_second: limits.per_second,
            burst: limits.burst,
            max_batch: limits.max_batch,
            headroom: is_pushing.then(|| headroom(&last_minute, limits)),
        });
    }
    let series = history.window(now, config.channels.keys());
    drop(history);
    Ok(Json(Summary {
        node_id: config.node_id.clone(),
        now,
        skus: app.ingest.view().read().len(),
        locations: config
            .locations
            .iter()
            .map(|(id, l)| (id.clone(), l.owner.to_string()))
            .collect(),
        channels,
        series,
        recent: app.feed.recent().iter().map(|i| (**i).clone()).collect(),
    }))
}

fn headroom(last_minute: &Bucket, limits: &crate::config::ApiLimits) -> f64 {
    if last_minute.rate_limited > 0 {
        return 0.0;
    }
    let capacity = limits.per_second * 60.0 * limits.max_batch as f64;
    if capacity <= 0.0 {
        return 0.0;
    }
    (1.0 - last_minute.pushes as f64 / capacity).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ApiLimits;

    #[test]
    fn headroom_is_the_unused_share_and_none_after_a_429() {
        let limits = ApiLimits {
            per_second: 2.0,
            burst: 4,
            max_batch: 10,
        };
        let minute = |pushes, rate_limited| Bucket {
            pushes,
            rate_limited,
            ..Bucket::default()
        };
        assert_eq!(headroom(&minute(0, 0), &limits), 1.0);
        assert_eq!(headroom(&minute(300, 0), &limits), 0.75);
        assert_eq!(headroom(&minute(5000, 0), &limits), 0.0);
        assert_eq!(headroom(&minute(1, 1), &limits), 0.0);
    }
}
