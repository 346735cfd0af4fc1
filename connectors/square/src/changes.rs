//! The changes feed of the locations Square owns, as deltas with their own ids: a sale at
//! the till and a physical count in the same minute are two events, both kept.
//!
//! - A non-ours `ADJUSTMENT` touching `IN_STOCK` is `Adjusted` by the units it moved in or
//!   out, with the id `square/<change id>` and Square's `occurred_at`, so an offline sale that
//!   reaches Square late slots in by the time it happened.
//! - A non-ours `PHYSICAL_COUNT` of `IN_STOCK` is `LevelObserved` (the store's on hand).
//! - Ours (a `reference_id` starting with [`REFERENCE_PREFIX`]) are echoes and skipped
//!   (DESIGN.md rule 5).
//!
//! The first poll (no cursor) *seeds*: the current `IN_STOCK` counts of the owned locations,
//! each a `LevelObserved` at its `calculated_at`, so a store that has not counted its shelves
//! lately still has an on hand; the feed is then read from the moment the seed began. A
//! change received in between is in both, and harmless: a delta at or before the latest
//! count is inside it.
//!
//! The poll cursor is JSON: `updated_after` (Square filters the feed by when it *received*
//! a change, so a late offline sale is still found), Square's page cursor while a query is
//! being paged, the newest `created_at` seen so far, and the counts page while seeding.

use omnistock_sdk::{EventId, StockChange, StockEvent, Timestamp, Unmapped};
use serde::{Deserialize, Serialize};

use crate::mapping::Mapping;
use crate::wire::{Change, Count, whole_units};

/// Every change we write carries `reference_id = omnistock:<key>`.
pub const REFERENCE_PREFIX: &str = "omnistock:";
/// Polls overlap by this much, so a change received in the same instant as the last one seen
/// is not missed; the overlap comes back with the same ids and is dropped as duplicates.
pub const OVERLAP_MS: i64 = 1_000;

/// Where the next poll resumes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollCursor {
    pub updated_after: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<Timestamp>,
    /// Seeding: the counts page to read next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
}

impl PollCursor {
    /// The saved cursor, or `None` for a first poll (which seeds).
    pub fn resume(saved: Option<&str>) -> Result<Option<Self>, String> {
        saved
            .map(|text| {
                serde_json::from_str(text)
                    .map_err(|e| format!("poll cursor {text:?} is not ours: {e}"))
            })
            .transpose()
    }

    /// The cursor after a seed page: the next counts page, else the feed from `since`.
    pub fn seeding(since: Timestamp, next: Option<String>) -> Self {
        Self {
            updated_after: Timestamp::from_millis(since.as_millis() - OVERLAP_MS),
            page: None,
            seen: None,
            seed: next,
        }
    }

    /// The cursor after a page whose newest change was received at `newest`, and whose
    /// next page (if any) is `next`.
    pub fn advance(&self, newest: Option<Timestamp>, next: Option<String>) -> Self {
        let seen = self.seen.max(newest);
        match next {
            Some(page) => Self {
                updated_after: self.updated_after,
                page: Some(page),
                seen,
                seed: None,
            },
            None => Self {
                updated_after: seen
                    .map(|s| Timestamp::from_millis(s.as_millis() - OVERLAP_MS))
                    .map_or(self.updated_after, |s| s.max(self.updated_after)),
                page: None,
                seen: None,
                seed: None,
            },
        }
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| unreachable!("a cursor serializes"))
    }
}

/// Whether a change was written by us.
pub fn is_ours(reference_id: Option<&str>) -> bool {
    reference_id.is_some_and(|r| r.starts_with(REFERENCE_PREFIX))
}

/// One change as an event, or nothing (ours, another state), or a report of why not.
pub fn to_event(mapping: &Mapping, change: &Change) -> Result<Option<StockEvent>, Unmapped> {
    let (id, variation, location, occurred_at, change) = match change.kind.as_str() {
        "ADJUSTMENT" => {
            let Some(a) = &change.adjustment else {
                return Err(unmapped("ADJUSTMENT", "no adjustment member"));
            };
            if is_ours(a.reference_id.as_deref()) {
                return Ok(None);
            }
            let quantity = whole_units(&a.quantity).map_err(|r| unmapped(&a.id, &r))?;
            let into = i64::from(a.to_state.as_deref() == Some("IN_STOCK"));
            let out_of = i64::from(a.from_state.as_deref() == Some("IN_STOCK"));
            let by = (into - out_of) * quantity;
            if by == 0 {
                return Ok(None);
            }
            let reason = format!(
                "square {} {}→{}",
                a.id,
                a.from_state.as_deref().unwrap_or("?"),
                a.to_state.as_deref().unwrap_or("?")
            );
            (
                &a.id,
                &a.catalog_object_id,
                &a.location_id,
                &a.occurred_at,
                Delta::By(by, reason),
            )
        }
        "PHYSICAL_COUNT" => {
            let Some(c) = &change.physical_count else {
                return Err(unmapped("PHYSICAL_COUNT", "no physical_count member"));
            };
            if is_ours(c.reference_id.as_deref()) || c.state != "IN_STOCK" {
                return Ok(None);
            }
            let quantity = whole_units(&c.quantity).map_err(|r| unmapped(&c.id, &r))?;
            (
                &c.id,
                &c.catalog_object_id,
                &c.location_id,
                &c.occurred_at,
                Delta::Count(quantity),
            )
        }
        _ => return Ok(None), // TRANSFERs are not asked for.
    };
    let what = || format!("change {id} ({variation} at {location})");
    let place = mapping.place(location).ok_or_else(|| Unmapped {
        what: what(),
        reason: "location not in config".into(),
    })?;
    if !place.owned {
        return Ok(None); // Only an owner's changes are stock changes (DESIGN.md rule 2).
    }
    let sku = mapping.sku(variation).ok_or_else(|| Unmapped {
        what: what(),
        reason: "unknown item variation".into(),
    })?;
    let occurred_at = Timestamp::parse_rfc3339(occurred_at).map_err(|r| Unmapped {
        what: what(),
        reason: r,
    })?;
    let id = EventId::new(format!("square/{id}")).map_err(|e| Unmapped {
        what: what(),
        reason: e.to_string(),
    })?;
    let location = place.ours.clone();
    let change = match change {
        Delta::By(by, reason) => StockChange::Adjusted {
            location,
            by,
            reason,
        },
        Delta::Count(quantity) => StockChange::LevelObserved { location, quantity },
    };
    Ok(Some(StockEvent {
        id,
        occurred_at,
        sku,
        change,
    }))
}

/// A current count at an owned location as the seed of its on hand, or why not. Its id
/// names the count's `calculated_at`, so a seed polled twice is a duplicate.
pub fn seed_event(mapping: &Mapping, count: &Count) -> Result<Option<StockEvent>, Unmapped> {
    let what = || {
        format!(
            "count of {} at {}",
            count.catalog_object_id, count.location_id
        )
    };
    let fail = |reason: String| Unmapped {
        what: what(),
        reason,
    };
    if count.state != "IN_STOCK" {
        return Ok(None);
    }
    let place = mapping
        .place(&count.location_id)
        .ok_or_else(|| fail("location not in config".into()))?;
    if !place.owned {
        return Ok(None);
    }
    let sku = mapping
        .sku(&count.catalog_object_id)
        .ok_or_else(|| fail("unknown item variation".into()))?;
    let quantity = whole_units(&count.quantity).map_err(fail)?;
    let at = count
        .calculated_at
        .as_deref()
        .ok_or_else(|| fail("no calculated_at".into()))?;
    let occurred_at = Timestamp::parse_rfc3339(at).map_err(fail)?;
    let id = EventId::new(format!(
        "square/count/{}/{}/{}",
        count.catalog_object_id,
        count.location_id,
        occurred_at.as_millis()
    ))
    .map_err(|e| fail(e.to_string()))?;
    Ok(Some(StockEvent {
        id,
        occurred_at,
        sku,
        change: StockChange::LevelObserved {
            location: place.ours.clone(),
            quantity,
        },
    }))
}

enum Delta {
    By(i64, String),
    Count(i64),
}

fn unmapped(what: &str, reason: &str) -> Unmapped {
    Unmapped {
        what: format!("change {what}"),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use omnistock_sdk::LocationId;

    use super::*;
    use crate::settings::SquareSettings;
    use crate::wire::{CatalogObject, VariationData};

    fn mapping() -> Mapping {
        let settings = SquareSettings::new("sq", "t", "k", "https://x/")
            .owned_location("LSTORE", LocationId::new("store-1").expect("id"));
        let mapping = Mapping::new(&settings);
        mapping.load(&[CatalogObject {
            id: "VMUG".into(),
            kind: "ITEM_VARIATION".into(),
            is_deleted: false,
            item_variation_data: Some(VariationData {
                sku: Some("MUG".into()),
            }),
        }]);
        mapping
    }

    fn change(json: &str) -> Change {
        serde_json::from_str(json).expect("a change")
    }

    #[test]
    fn a_sale_is_a_delta_with_its_own_id_and_time() {
        let sale = change(
            r#"{"type":"ADJUSTMENT","adjustment":{"id":"A1","from_state":"IN_STOCK","to_state":"SOLD",
            "location_id":"LSTORE","catalog_object_id":"VMUG","quantity":"2","occurred_at":"2026-11-23T09:00:00Z",
            "created_at":"2026-11-23T10:00:00Z"}}"#,
        );
        let event = to_event(&mapping(), &sale)
            .expect("mapped")
            .expect("an event");
        assert_eq!(event.id.as_str(), "square/A1");
        assert_eq!(event.occurred_at.to_rfc3339(), "2026-11-23T09:00:00.000Z");
        assert!(matches!(event.change, StockChange::Adjusted { by: -2, .. }));
    }

    #[test]
    fn a_count_is_observed_and_our_own_changes_are_echoes() {
        let count = change(
            r#"{"type":"PHYSICAL_COUNT","physical_count":{"id":"P1","state":"IN_STOCK","location_id":"LSTORE",
            "catalog_object_id":"VMUG","quantity":"9","occurred_at":"2026-11-23T09:00:00Z"}}"#,
        );
        let event = to_event(&mapping(), &count)
            .expect("mapped")
            .expect("an event");
        assert!(matches!(
            event.change,
            StockChange::LevelObserved { quantity: 9, .. }
        ));
        let ours = change(
            r#"{"type":"ADJUSTMENT","adjustment":{"id":"A2","reference_id":"omnistock:k1","from_state":"IN_STOCK",
            "to_state":"NONE","location_id":"LSTORE","catalog_object_id":"VMUG","quantity":"1",
            "occurred_at":"2026-11-23T09:00:00Z"}}"#,
        );
        assert_eq!(to_event(&mapping(), &ours), Ok(None));
    }

    #[test]
    fn changes_where_square_is_not_the_owner_are_not_stock_changes() {
        let settings = SquareSettings::new("sq", "t", "k", "https://x/")
            .location("LSTORE", LocationId::new("store-1").expect("id"));
        let mapping = Mapping::new(&settings);
        mapping.load(&[CatalogObject {
            id: "VMUG".into(),
            kind: "ITEM_VARIATION".into(),
            is_deleted: false,
            item_variation_data: Some(VariationData {
                sku: Some("MUG".into()),
            }),
        }]);
        let sale = change(
            r#"{"type":"ADJUSTMENT","adjustment":{"id":"A4","from_state":"IN_STOCK","to_state":"SOLD",
            "location_id":"LSTORE","catalog_object_id":"VMUG","quantity":"1","occurred_at":"2026-11-23T09:00:00Z"}}"#,
        );
        assert_eq!(to_event(&mapping, &sale), Ok(None));
    }

    #[test]
    fn an_unknown_variation_is_reported() {
        let sale = change(
            r#"{"type":"ADJUSTMENT","adjustment":{"id":"A3","from_state":"IN_STOCK","to_state":"SOLD",
            "location_id":"LSTORE","catalog_object_id":"VNEW","quantity":"1","occurred_at":"2026-11-23T09:00:00Z"}}"#,
        );
        let report = to_event(&mapping(), &sale).expect_err("unmapped");
        assert!(
            report.reason.contains("unknown item variation"),
            "{report:?}"
        );
    }

    #[test]
    fn the_cursor_pages_then_moves_past_the_newest_change_with_an_overlap() {
        assert_eq!(PollCursor::resume(None), Ok(None), "a first poll seeds");
        let start = PollCursor::seeding(Timestamp::from_millis(90_000_000), None);
        assert_eq!(start.updated_after.as_millis(), 90_000_000 - OVERLAP_MS);
        let paging = start.advance(Some(Timestamp::from_millis(99_000_000)), Some("p2".into()));
        assert_eq!(paging.updated_after, start.updated_after);
        let done = paging.advance(Some(Timestamp::from_millis(98_000_000)), None);
        assert_eq!(done.updated_after.as_millis(), 99_000_000 - OVERLAP_MS);
        assert_eq!(done.page, None);
        let again = PollCursor::resume(Some(&done.encode())).expect("ours");
        assert_eq!(again, Some(done.clone()));
        assert_eq!(
            done.advance(None, None),
            done,
            "an empty page keeps the window"
        );
        assert!(PollCursor::resume(Some("garbage")).is_err());
    }
}
