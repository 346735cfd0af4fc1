//! Liveness, readiness and metrics.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{ApiError, AppState};

/// Alive: the process answers HTTP.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready: the store is open, the ingest writer answers, and we are not draining.
pub async fn readyz(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    if !app.accepting.load(Ordering::SeqCst) {
        return Err(ApiError::unavailable(
            "not accepting events (starting or shutting down)",
        ));
    }
    if let Some(fault) = app.ingest.fault(Duration::from_secs(2)).await {
        return Err(ApiError::unavailable(fault));
    }
    // A failing channel does not make the daemon unready (webhooks must keep landing), but
    // it is named here so a probe's log shows it.
    let unhealthy: Vec<String> = app
        .engine
        .status
        .snapshot()
        .into_iter()
        .filter(|(_, h)| !h.healthy)
        .map(|(c, h)| format!("{c}: {}", h.last_error.unwrap_or_default()))
        .collect();
    Ok(Json(
        json!({ "status": "ready", "unhealthy_channels": unhealthy }),
    ))
}

/// Prometheus text exposition.
pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    app.metrics
        .applier_queued
        .set(i64::try_from(app.store.applier_queued()).unwrap_or(i64::MAX));
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        app.metrics.render(),
    )
}
