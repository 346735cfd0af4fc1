//! The HTTP API (axum): generic events in, stock and availability out, admin, health, metrics.
//!
//! Every error has one JSON shape, `{"error": {"code", "message", "field"?}}`, so clients and
//! operators parse one thing. Nothing that is refused (bad signature 401, malformed body 400,
//! oversized body 413) touches state.

mod admin;
mod channels;
mod error;
mod events;
mod explain;
mod health;
mod read;
mod webhooks;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::routing::{get, post};
use omnistock_sdk::{ChannelId, Connector};
use tokio::sync::watch;

pub use error::ApiError;

use crate::clock::Clock;
use crate::config::Config;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::sync::Engine;

/// What every handler may use.
#[derive(Clone)]
pub struct AppState {
    pub config: watch::Receiver<Arc<Config>>,
    pub ingest: Ingest,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    /// False while starting and once draining; `/readyz` answers 503 then.
    pub accepting: Arc<AtomicBool>,
    pub engine: Arc<Engine>,
    pub store: Arc<Store>,
    /// The connectors whose webhooks arrive at `POST /v1/webhooks/{channel}`.
    pub webhooks: Arc<BTreeMap<ChannelId, Arc<dyn Connector>>>,
    /// Wakes a channel's poller when its webhook asks for a poll now.
    pub polls: crate::sync::poller::PollWaker,
}

impl AppState {
    fn config(&self) -> Arc<Config> {
        self.config.borrow().clone()
    }

    /// What channel numbers depend on now, as the planner sees it.
    fn conditions(&self) -> crate::allocation::Conditions {
        crate::allocation::Conditions {
            now: self.clock.now(),
            lag_seconds: self.engine.status.lags(),
        }
    }

    /// Counts a refused request by its error code, for `omnistock_rejected_requests`.
    fn counted<T>(&self, result: Result<T, ApiError>) -> Result<T, ApiError> {
        if let Err(e) = &result {
            let labels = crate::metrics::RejectLabels {
                code: e.code.to_owned(),
            };
            self.metrics.rejected_requests.get_or_create(&labels).inc();
        }
        result
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/v1/events", post(events::post_events))
        .route("/v1/webhooks/{channel}", post(webhooks::post_webhook))
        .route("/v1/adjustments", post(admin::post_adjustment))
        .route("/v1/stock/{sku}", get(read::stock))
        .route("/v1/availability/{sku}", get(read::availability))
        .route("/v1/explain/{sku}", get(explain::explain))
        .route("/v1/channels", get(channels::list))
        .route("/v1/channels/{channel}/{action}", post(channels::pause))
        .route("/v1/deadletters", get(channels::dead_letters))
        .route(
            "/v1/deadletters/{channel}/{id}/retry",
            post(channels::retry),
        )
        .route(
            "/v1/deadletters/{channel}/{id}",
            axum::routing::delete(channels::drop_letter),
        )
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}
