//! Pushes as `BatchChangeInventory` calls of up to 100 changes, applied once however often
//! they are sent.
//!
//! - **Deltas** (holds at a location Square owns, and their release): `ADJUSTMENT`s, a
//!   negative `by` moving units `IN_STOCK → <hold state>` and a positive one back
//!   `<hold state> → IN_STOCK` (see [`HoldState`](crate::settings::HoldState) for why the
//!   hold state is `NONE`). Never a `PHYSICAL_COUNT`: it would overwrite a sale rung up in
//!   the store a second earlier. `occurred_at` is now (Square wants it within the last 24 h
//!   and not in the future), so a change that happened in the store just before ours is
//!   ordered before it and kept.
//! - **Counts** (the number at a location Square does not own, the safest form it offers):
//!   re-read right before, answer `StaleCompare` if the count moved from `expected`, else a
//!   `PHYSICAL_COUNT` of the target.
//!
//! Every change carries `reference_id = omnistock:<request key>`, so the changes feed can
//! skip it as an echo and a push can be confirmed from it. The call's `idempotency_key` is a
//! hash of the requests' keys: a batch sent again after a lost answer carries the same key.
//! Because `occurred_at` is now, the re-sent body differs and Square answers
//! `IDEMPOTENCY_KEY_REUSED`; the connector then looks its reference ids up in the changes
//! feed: those found were applied, the others are sent again under a fresh key.

use std::collections::{BTreeSet, HashSet};

use omnistock_sdk::{ConnectorError, DeltaRequest, ItemRef, LocationId, PushOutcome, PushRequest};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::api::SquareError;
use crate::changes::REFERENCE_PREFIX;
use crate::connector::SquareConnector;
use crate::wire::ChangesPage;

/// The most a `reference_id` may hold.
const MAX_REFERENCE_LEN: usize = 255;
/// How far back a re-sent push looks for its first attempt (Square keeps `occurred_at`
/// within 24 h of the call, so an older attempt could not have been made with this key's body).
const CONFIRM_LOOKBACK_MS: i64 = 25 * 3_600_000;

/// One change to send: its request's index in the batch, its reference id, its item and
/// location, and Square's JSON without `occurred_at` (set per call).
struct Pending {
    index: usize,
    key: String,
    reference: String,
    item: ItemRef,
    square_location: String,
    change: Value,
}

/// `omnistock:<key>`, or a hash of the key when it would not fit.
pub fn reference_for(key: &str) -> String {
    let plain = format!("{REFERENCE_PREFIX}{key}");
    if plain.len() <= MAX_REFERENCE_LEN {
        plain
    } else {
        format!(
            "{REFERENCE_PREFIX}#{}",
            hex::encode(Sha256::digest(key.as_bytes()))
        )
    }
}

/// The call's idempotency key: a hash of the requests' keys (and a salt for a fresh one).
fn batch_key(pending: &[Pending], salt: Option<i64>) -> String {
    let mut hash = Sha256::new();
    for p in pending {
        hash.update(p.key.as_bytes());
        hash.update(b"\n");
    }
    if let Some(salt) = salt {
        hash.update(format!("#{salt}").as_bytes());
    }
    format!("omnistock-{}", &hex::encode(hash.finalize())[..48])
}

pub async fn push_adjustments(
    connector: &SquareConnector,
    batch: &[DeltaRequest],
) -> Result<Vec<PushOutcome>, ConnectorError> {
    let hold = connector.settings.hold_state.as_str();
    let mut outcomes = vec![PushOutcome::Applied; batch.len()];
    let mut pending = Vec::new();
    for (index, d) in batch.iter().enumerate() {
        if d.by == 0 {
            continue;
        }
        let Some(square_location) = square_location(connector, &d.location, &mut outcomes[index])
        else {
            continue;
        };
        let (from, to) = if d.by < 0 {
            ("IN_STOCK", hold)
        } else {
            (hold, "IN_STOCK")
        };
        let reference = reference_for(&d.idempotency_key);
        pending.push(Pending {
            index,
            key: d.idempotency_key.clone(),
            change: json!({ "type": "ADJUSTMENT", "adjustment": {
                "reference_id": reference, "from_state": from, "to_state": to,
                "location_id": square_location, "catalog_object_id": d.item.as_str(),
                "catalog_object_type": "ITEM_VARIATION", "quantity": d.by.unsigned_abs().to_string() } }),
            reference,
            item: d.item.clone(),
            square_location,
        });
    }
    send(connector, pending, &mut outcomes, Missing::SendAgain).await?;
    Ok(outcomes)
}

pub async fn push_counts(
    connector: &SquareConnector,
    batch: &[PushRequest],
) -> Result<Vec<PushOutcome>, ConnectorError> {
    let items: Vec<ItemRef> = batch.iter().map(|r| r.item.clone()).collect();
    let (levels, _) = connector.read_counts(&items).await?;
    let mut outcomes = vec![PushOutcome::Applied; batch.len()];
    let mut pending = Vec::new();
    for (index, r) in batch.iter().enumerate() {
        let Some(square_location) = square_location(connector, &r.location, &mut outcomes[index])
        else {
            continue;
        };
        // No count yet is zero: Square starts from nothing.
        let actual = levels
            .iter()
            .find(|l| l.item == r.item && l.location == r.location)
            .map_or(0, |l| l.available);
        if actual == r.target {
            continue; // Already there (a re-sent push that had applied).
        }
        if actual != r.expected {
            outcomes[index] = PushOutcome::StaleCompare {
                actual: Some(actual),
            };
            continue;
        }
        if r.target < 0 {
            outcomes[index] = PushOutcome::Rejected(format!("a count of {} units", r.target));
            continue;
        }
        let reference = reference_for(&r.idempotency_key);
        pending.push(Pending {
            index,
            key: r.idempotency_key.clone(),
            change: json!({ "type": "PHYSICAL_COUNT", "physical_count": {
                "reference_id": reference, "state": "IN_STOCK",
                "location_id": square_location, "catalog_object_id": r.item.as_str(),
                "catalog_object_type": "ITEM_VARIATION", "quantity": r.target.to_string() } }),
            reference,
            item: r.item.clone(),
            square_location,
        });
    }
    send(connector, pending, &mut outcomes, Missing::Stale).await?;
    Ok(outcomes)
}

fn square_location(
    connector: &SquareConnector,
    ours: &LocationId,
    outcome: &mut PushOutcome,
) -> Option<String> {
    let found = connector.mapping.square_location(ours).map(str::to_owned);
    if found.is_none() {
        *outcome = PushOutcome::Rejected(format!(
            "location {ours} is not mapped to a Square location of {}",
            connector.settings.channel
        ));
    }
    found
}

/// What to do with a change of a re-sent batch that the feed does not show.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// Send it again under a fresh key (a delta is right whenever it lands).
    SendAgain,
    /// Answer `StaleCompare` so the engine re-reads first (a count is only right now).
    Stale,
}

/// Sends `pending` in one call, refusing single changes Square names, and confirming a
/// re-sent batch from the changes feed.
async fn send(
    connector: &SquareConnector,
    mut pending: Vec<Pending>,
    outcomes: &mut [PushOutcome],
    missing: Missing,
) -> Result<(), ConnectorError> {
    let mut salt = None;
    while !pending.is_empty() {
        let occurred_at = connector.now().to_rfc3339();
        let changes: Vec<Value> = pending
            .iter()
            .map(|p| {
                let mut change = p.change.clone();
                let member = if change.get("adjustment").is_some() {
                    "adjustment"
                } else {
                    "physical_count"
                };
                change[member]["occurred_at"] = json!(occurred_at);
                change
            })
            .collect();
        let body = json!({ "idempotency_key": batch_key(&pending, salt),
            "changes": changes, "ignore_unchanged_counts": true });
        let action = format!(
            "pushing {} changes to {}",
            pending.len(),
            connector.settings.channel
        );
        let answer: Result<Value, SquareError> = connector
            .api
            .post("/v2/inventory/changes/batch-create", &body, &action)
            .await;
        match answer {
            Ok(_) => return Ok(()),
            Err(SquareError::Change { index, message }) if index < pending.len() => {
                let refused = pending.remove(index);
                outcomes[refused.index] = PushOutcome::Rejected(message);
            }
            Err(SquareError::KeyReused(message)) => {
                if salt.is_some() {
                    return Err(ConnectorError::Permanent(message));
                }
                let applied = ours_in_feed(connector, &pending).await?;
                pending.retain(|p| !applied.contains(&p.reference));
                if missing == Missing::Stale {
                    for p in pending.drain(..) {
                        outcomes[p.index] = PushOutcome::StaleCompare { actual: None };
                    }
                }
                salt = Some(connector.now().as_millis());
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok(())
}

/// The reference ids of ours that the changes feed shows for these items and locations.
async fn ours_in_feed(
    connector: &SquareConnector,
    pending: &[Pending],
) -> Result<HashSet<String>, ConnectorError> {
    let items: BTreeSet<&str> = pending.iter().map(|p| p.item.as_str()).collect();
    let locations: BTreeSet<&str> = pending.iter().map(|p| p.square_location.as_str()).collect();
    let since = connector.now().as_millis() - CONFIRM_LOOKBACK_MS;
    let action = format!(
        "confirming {} re-sent changes on {}",
        pending.len(),
        connector.settings.channel
    );
    let mut found = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut body = json!({ "catalog_object_ids": items, "location_ids": locations,
            "types": ["ADJUSTMENT", "PHYSICAL_COUNT"],
            "updated_after": omnistock_sdk::Timestamp::from_millis(since).to_rfc3339(), "limit": 1000 });
        if let Some(c) = &cursor {
            body["cursor"] = json!(c);
        }
        let page: ChangesPage = connector
            .api
            .post("/v2/inventory/changes/batch-retrieve", &body, &action)
            .await?;
        for change in page.changes {
            let reference = change
                .adjustment
                .and_then(|a| a.reference_id)
                .or_else(|| change.physical_count.and_then(|c| c.reference_id));
            found.extend(reference.filter(|r| r.starts_with(REFERENCE_PREFIX)));
        }
        match page.cursor {
            Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
            _ => return Ok(found),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_fit_square_and_stay_recognisable() {
        assert_eq!(reference_for("k1"), "omnistock:k1");
        let long = reference_for(&"k".repeat(400));
        assert!(long.len() <= MAX_REFERENCE_LEN && long.starts_with(REFERENCE_PREFIX));
    }
}
