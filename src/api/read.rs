//! The read API: what a SKU's stock is, and what each channel should show.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use omnistock_sdk::{LocationId, Sku, Timestamp};
use serde::Serialize;

use super::{ApiError, AppState};
use crate::allocation::{self, ChannelNumber};
use crate::state::{Change, LocationStock, SkuState};

#[derive(Serialize)]
pub struct AvailabilityAnswer {
    sku: Sku,
    /// Sum of the ATP of every configured location.
    total: i64,
    channels: BTreeMap<String, ChannelNumber>,
    last_change: Option<Timestamp>,
}

#[derive(Serialize)]
pub struct LocationAnswer {
    owner: Option<String>,
    #[serde(flatten)]
    stock: LocationStock,
}

#[derive(Serialize)]
pub struct ReservationAnswer {
    key: String,
    location: Option<LocationId>,
    quantity: Option<u32>,
    state: &'static str,
}

#[derive(Serialize)]
pub struct StockAnswer {
    sku: Sku,
    locations: BTreeMap<LocationId, LocationAnswer>,
    reservations: Vec<ReservationAnswer>,
    /// The last events that changed this SKU, oldest first.
    recent: Vec<Change>,
    last_change: Option<Timestamp>,
}

pub(super) fn parse_sku(text: &str) -> Result<Sku, ApiError> {
    Sku::new(text)
        .map_err(|e| ApiError::bad_request("malformed", Some("sku".into()), e.to_string()))
}

/// Runs `read` on the SKU's state; 404 for a SKU no event ever named.
pub(super) fn with_state<T>(
    app: &AppState,
    sku: &Sku,
    read: impl FnOnce(&SkuState) -> T,
) -> Result<T, ApiError> {
    let states = app.ingest.view().read();
    let state = states.get(sku).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_sku",
            format!("no stock is known for SKU \"{sku}\""),
        )
    })?;
    Ok(read(state))
}

/// A kit's numbers from its components, and the newest change of any of them.
fn kit_numbers(
    app: &AppState,
    kit: &crate::config::Kit,
    config: &crate::config::Config,
    conditions: &allocation::Conditions,
) -> (allocation::Availability, Option<omnistock_sdk::Timestamp>) {
    let states = app.ingest.view().read();
    let lookup = |sku: &Sku| states.get(sku).map(|s| SkuState::clone(s));
    let last_change = kit
        .components
        .iter()
        .filter_map(|(c, _)| states.get(c).and_then(|s| s.last_change))
        .max();
    (
        crate::kits::availability(kit, &lookup, config, conditions),
        last_change,
    )
}

pub async fn availability(
    State(app): State<AppState>,
    Path(sku): Path<String>,
) -> Result<Json<AvailabilityAnswer>, ApiError> {
    let sku = parse_sku(&sku)?;
    let config = app.config();
    let conditions = app.conditions();
    let (numbers, last_change) = match config.kits.get(&sku) {
        Some(kit) => kit_numbers(&app, kit, &config, &conditions),
        None => with_state(&app, &sku, |state| {
            (
                allocation::availability(&sku, state, &config, &conditions),
                state.last_change,
            )
        })?,
    };
    Ok(Json(AvailabilityAnswer {
        sku,
        total: numbers.total,
        channels: numbers
            .channels
            .into_iter()
            .map(|(c, n)| (c.to_string(), n))
            .collect(),
        last_change,
    }))
}

pub async fn stock(
    State(app): State<AppState>,
    Path(sku): Path<String>,
) -> Result<Json<StockAnswer>, ApiError> {
    let sku = parse_sku(&sku)?;
    Ok(Json(stock_of(&app, &sku)?))
}

/// A SKU's stock per location, its reservations and recent changes.
pub(super) fn stock_of(app: &AppState, sku: &Sku) -> Result<StockAnswer, ApiError> {
    let config = app.config();
    let conditions = app.conditions();
    with_state(app, sku, |state| {
        let numbers = allocation::availability(sku, state, &config, &conditions);
        let mut locations: BTreeMap<LocationId, LocationAnswer> = numbers
            .locations
            .into_iter()
            .map(|(id, stock)| {
                let owner = config.locations.get(&id).map(|l| l.owner.to_string());
                (id, LocationAnswer { owner, stock })
            })
            .collect();
        // Locations no longer configured still show what the state holds for them.
        for id in state.locations() {
            locations
                .entry(id.clone())
                .or_insert_with(|| LocationAnswer {
                    owner: None,
                    stock: state.stock_at(&id, 0),
                });
        }
        let reservations = state
            .replica
            .reservations
            .iter()
            .map(|(key, r)| ReservationAnswer {
                key: key.to_string(),
                location: r.details.as_ref().map(|d| d.location.clone()),
                quantity: r.details.as_ref().map(|d| d.quantity),
                state: r.state_name(),
            })
            .collect();
        StockAnswer {
            sku: sku.clone(),
            locations,
            reservations,
            recent: state.history.iter().cloned().collect(),
            last_change: state.last_change,
        }
    })
}
