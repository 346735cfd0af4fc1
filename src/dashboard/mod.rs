//! The operations dashboard: a static page served at `/` that draws the read API, the
//! summary (`GET /v1/dashboard/summary`) and the live feed (`GET /v1/events/stream`).
//!
//! The page is plain HTML, CSS and JavaScript embedded in the binary: no CDN, no build step.
//! Its one action, pausing and resuming a channel's pushes, goes through the admin API with
//! the admin token, which the page asks for once and keeps in the tab's `sessionStorage`: the
//! page itself is served without a token and holds no secret.
//! - [`series`]: per-minute series of the last hour per channel (pure).
//! - [`sampler`]: the loop that feeds them from the metrics and the outbox.

pub mod sampler;
pub mod series;

use std::sync::{Arc, Mutex, MutexGuard};

pub use series::{Bucket, Series, Totals, Window};

/// The series shared by the sampler (writes) and the summary endpoint (reads).
#[derive(Clone, Default)]
pub struct History(Arc<Mutex<Series>>);

impl History {
    pub fn lock(&self) -> MutexGuard<'_, Series> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One embedded file of the page: its content type and bytes.
pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static str,
}

/// The page itself, served at `/`.
pub const INDEX: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    body: include_str!("assets/index.html"),
};

/// The files under `/assets/`, by name.
pub fn asset(name: &str) -> Option<Asset> {
    match name {
        "app.js" => Some(Asset {
            content_type: "text/javascript; charset=utf-8",
            body: include_str!("assets/app.js"),
        }),
        "charts.js" => Some(Asset {
            content_type: "text/javascript; charset=utf-8",
            body: include_str!("assets/charts.js"),
        }),
        "style.css" => Some(Asset {
            content_type: "text/css; charset=utf-8",
            body: include_str!("assets/style.css"),
        }),
        _ => None,
    }
}
