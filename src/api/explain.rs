//! `GET /v1/explain/{sku}[?channel=NAME]`: why does each channel show what it shows? The
//! SKU's stock and the events that changed it, then per channel: how its policy turns the
//! locations' ATP into its number, what we last published, what waits in its outbox or was
//! dead-lettered, and the last pushes with what the channel showed and answered.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use omnistock_sdk::{ChannelId, LocationId, Timestamp};
use serde::{Deserialize, Serialize};

use super::read::{StockAnswer, parse_sku, stock_of, with_state};
use super::{ApiError, AppState};
use crate::allocation;
use crate::store::Published;
use crate::sync::{ChannelHealth, PushRecord};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainQuery {
    channel: Option<String>,
}

#[derive(Serialize)]
pub struct Pending {
    id: u64,
    target: i64,
    created_at: Timestamp,
}

#[derive(Serialize)]
pub struct ChannelExplained {
    policy: &'static str,
    locations: Vec<LocationId>,
    buffer: i64,
    /// What the policy says this channel should show now.
    number: i64,
    pushing: bool,
    /// The number we last made it show (less its own orders since); `null` before the first push.
    published: Option<PublishedAnswer>,
    pending: Vec<Pending>,
    dead_letters: Vec<String>,
    /// The last pushes of this SKU to the channel, oldest first (since the daemon started).
    pushes: Vec<PushRecord>,
    health: Option<ChannelHealth>,
}

#[derive(Serialize)]
pub struct PublishedAnswer {
    quantity: i64,
    at: Timestamp,
}

impl From<Published> for PublishedAnswer {
    fn from(p: Published) -> Self {
        Self {
            quantity: p.quantity,
            at: p.at,
        }
    }
}

#[derive(Serialize)]
pub struct ExplainAnswer {
    #[serde(flatten)]
    stock: StockAnswer,
    channels: BTreeMap<String, ChannelExplained>,
}

pub async fn explain(
    State(app): State<AppState>,
    Path(sku): Path<String>,
    Query(query): Query<ExplainQuery>,
) -> Result<Json<ExplainAnswer>, ApiError> {
    let sku = parse_sku(&sku)?;
    let config = app.config();
    let only = match query.channel.as_deref() {
        Some(name) => {
            let id = ChannelId::new(name)
                .ok()
                .filter(|c| config.channels.contains_key(c))
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "unknown_channel",
                        format!("no channel {name:?} is configured"),
                    )
                })?;
            Some(id)
        }
        None => None,
    };
    let stock = stock_of(&app, &sku)?;
    let conditions = app.conditions();
    let numbers = with_state(&app, &sku, |state| {
        allocation::availability(&sku, state, &config, &conditions)
    })?;
    let health = app.engine.status.snapshot();
    let pushing = app.engine.pushing();
    let mut channels = BTreeMap::new();
    for (id, channel) in &config.channels {
        if only.as_ref().is_some_and(|o| o != id) {
            continue;
        }
        let Some(number) = numbers.channels.get(id) else {
            continue;
        };
        let store_error = |e: crate::store::StoreError| {
            ApiError::unavailable(format!("the store could not answer: {e}"))
        };
        let pending = app
            .store
            .pending(id, 10_000)
            .map_err(store_error)?
            .into_iter()
            .filter(|(_, e)| e.sku == sku)
            .map(|(id, e)| Pending {
                id,
                target: e.target,
                created_at: e.created_at,
            })
            .collect();
        let dead_letters = app
            .store
            .dead_letters(Some(id))
            .map_err(store_error)?
            .into_iter()
            .filter(|d| d.entry.sku == sku)
            .map(|d| {
                format!(
                    "#{} target {} at {}: {}",
                    d.id, d.entry.target, d.at, d.reason
                )
            })
            .collect();
        let published = app
            .engine
            .published
            .lock()
            .get(&(id.clone(), sku.clone()))
            .cloned()
            .map(PublishedAnswer::from);
        channels.insert(
            id.to_string(),
            ChannelExplained {
                policy: number.policy,
                locations: channel.sells_from.clone(),
                buffer: number.buffer,
                number: number.available,
                pushing: pushing.contains(id),
                published,
                pending,
                dead_letters,
                pushes: app.engine.pushes.of(id, &sku),
                health: health.get(id).cloned(),
            },
        );
    }
    Ok(Json(ExplainAnswer { stock, channels }))
}
