//! Webhooks in: `x-square-hmacsha256-signature` (base64 HMAC-SHA256 over the notification URL
//! as registered followed by the raw body), then the event to what the core can merge.
//!
//! - `inventory.count.updated` at a location Square does **not** own: each `IN_STOCK` count is
//!   a `LevelObserved` (what the channel shows), with the id `square/<event_id>/<variation>/<location>`
//!   so a redelivery (same `event_id`) is a duplicate.
//! - The same at a location Square owns: no event. The total there includes our holds, so it
//!   is not an on-hand number; the report asks the daemon to poll the changes feed now.
//! - `catalog.version.updated`: the catalog changed; the variation map is reloaded before
//!   the next listing or poll, which the report asks for at once.
//! - A variation we do not know: reported, the catalog marked for a reload, and a poll asked.

use omnistock_sdk::signature::verify_base64;
use omnistock_sdk::{
    ConnectorError, EventId, StockChange, StockEvent, Timestamp, Unmapped, WebhookReport,
};
use serde::Deserialize;

use crate::mapping::Mapping;
use crate::wire::{Count, whole_units};

/// The header Square signs with.
pub const SIGNATURE_HEADER: &str = "x-square-hmacsha256-signature";
/// Inventory counts changed.
pub const COUNT_UPDATED: &str = "inventory.count.updated";
/// The catalog changed (a variation added, its SKU edited).
pub const CATALOG_UPDATED: &str = "catalog.version.updated";

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    event_id: String,
    created_at: String,
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    object: Option<Object>,
}

#[derive(Deserialize)]
struct Object {
    inventory_counts: Option<Vec<Count>>,
}

fn bad(what: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::BadInput(format!("square webhook: {what}"))
}

/// Verifies the signature over `notification_url` + `body`, then parses.
pub fn parse(
    mapping: &Mapping,
    key: &str,
    notification_url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<WebhookReport, ConnectorError> {
    let signature = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(SIGNATURE_HEADER))
        .map(|(_, value)| value.as_str());
    verify_base64(
        key.as_bytes(),
        &[notification_url.as_bytes(), body],
        signature,
    )
    .map_err(bad)?;
    let envelope: Envelope = serde_json::from_slice(body).map_err(bad)?;
    let created_at = Timestamp::parse_rfc3339(&envelope.created_at).map_err(bad)?;
    let mut report = WebhookReport::default();
    match envelope.kind.as_str() {
        COUNT_UPDATED => {
            let counts = envelope
                .data
                .and_then(|d| d.object)
                .and_then(|o| o.inventory_counts)
                .ok_or_else(|| {
                    bad("inventory.count.updated without data.object.inventory_counts")
                })?;
            for count in counts {
                count_event(mapping, &envelope.event_id, created_at, count, &mut report)?;
            }
        }
        CATALOG_UPDATED => {
            mapping.mark_stale();
            report.poll_now = true;
        }
        other => report.unmapped.push(Unmapped {
            what: format!("event {} ({other})", envelope.event_id),
            reason: "topic not handled".into(),
        }),
    }
    Ok(report)
}

fn count_event(
    mapping: &Mapping,
    event_id: &str,
    created_at: Timestamp,
    count: Count,
    report: &mut WebhookReport,
) -> Result<(), ConnectorError> {
    let what = format!("{} at {}", count.catalog_object_id, count.location_id);
    if count.state != "IN_STOCK" {
        return Ok(()); // Other states (SOLD, WASTE, …) are not a number the channel shows.
    }
    let Some(place) = mapping.place(&count.location_id) else {
        report.unmapped.push(Unmapped {
            what,
            reason: "location not in config".into(),
        });
        return Ok(());
    };
    if place.owned {
        report.poll_now = true;
        return Ok(());
    }
    let Some(sku) = mapping.sku(&count.catalog_object_id) else {
        mapping.mark_stale();
        report.poll_now = true;
        report.unmapped.push(Unmapped {
            what,
            reason: "unknown item variation (catalog reload asked)".into(),
        });
        return Ok(());
    };
    let quantity = match whole_units(&count.quantity) {
        Ok(q) => q,
        Err(reason) => {
            report.unmapped.push(Unmapped { what, reason });
            return Ok(());
        }
    };
    let occurred_at = match count.calculated_at.as_deref() {
        Some(at) => Timestamp::parse_rfc3339(at).map_err(bad)?,
        None => created_at,
    };
    report.events.push(StockEvent {
        id: EventId::new(format!(
            "square/{event_id}/{}/{}",
            count.catalog_object_id, count.location_id
        ))
        .map_err(bad)?,
        occurred_at,
        sku,
        change: StockChange::LevelObserved {
            location: place.ours.clone(),
            quantity,
        },
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use omnistock_sdk::LocationId;
    use omnistock_sdk::signature::sign_base64;

    use super::*;
    use crate::settings::SquareSettings;
    use crate::wire::{CatalogObject, VariationData};

    const URL: &str = "https://omni.example/v1/webhooks/square-main";
    const KEY: &str = "sig-key";

    fn mapping() -> Mapping {
        let settings = SquareSettings::new("square-main", "t", KEY, URL)
            .owned_location("LSTORE", LocationId::new("store-1").expect("id"))
            .location("LONLINE", LocationId::new("web-1").expect("id"));
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

    fn body(variation: &str, location: &str) -> Vec<u8> {
        format!(
            r#"{{"merchant_id":"M1","type":"inventory.count.updated","event_id":"e-1","created_at":"2026-11-23T10:00:01Z",
            "data":{{"type":"inventory_counts","id":"d-1","object":{{"inventory_counts":[{{"calculated_at":"2026-11-23T10:00:00Z",
            "catalog_object_id":"{variation}","catalog_object_type":"ITEM_VARIATION","location_id":"{location}","quantity":"7","state":"IN_STOCK"}}]}}}}}}"#
        )
        .into_bytes()
    }

    fn signed(body: &[u8], url: &str) -> Vec<(String, String)> {
        vec![(
            "X-Square-HmacSha256-Signature".into(),
            sign_base64(KEY.as_bytes(), &[url.as_bytes(), body]),
        )]
    }

    #[test]
    fn a_count_at_a_location_square_does_not_own_is_what_it_shows() {
        let body = body("VMUG", "LONLINE");
        let report = parse(&mapping(), KEY, URL, &signed(&body, URL), &body).expect("valid");
        assert!(!report.poll_now);
        assert_eq!(report.events.len(), 1);
        assert_eq!(report.events[0].id.as_str(), "square/e-1/VMUG/LONLINE");
        assert_eq!(
            report.events[0].change,
            StockChange::LevelObserved {
                location: LocationId::new("web-1").expect("id"),
                quantity: 7
            }
        );
    }

    #[test]
    fn a_count_at_an_owned_location_asks_for_a_poll() {
        let body = body("VMUG", "LSTORE");
        let report = parse(&mapping(), KEY, URL, &signed(&body, URL), &body).expect("valid");
        assert!(report.poll_now);
        assert!(report.events.is_empty());
    }

    #[test]
    fn an_unknown_variation_is_reported_and_reloads_the_catalog() {
        let mapping = mapping();
        let body = body("VNEW", "LONLINE");
        let report = parse(&mapping, KEY, URL, &signed(&body, URL), &body).expect("valid");
        assert!(report.events.is_empty());
        assert_eq!(report.unmapped.len(), 1, "{report:?}");
        assert!(report.poll_now && mapping.is_stale());
    }

    #[test]
    fn a_wrong_signature_or_url_is_bad_input() {
        let body = body("VMUG", "LONLINE");
        let wrong_url = signed(&body, "https://omni.example/v1/webhooks/other");
        assert!(matches!(
            parse(&mapping(), KEY, URL, &wrong_url, &body),
            Err(ConnectorError::BadInput(_))
        ));
        let wrong_key = vec![(
            SIGNATURE_HEADER.to_owned(),
            sign_base64(b"other-key", &[URL.as_bytes(), &body]),
        )];
        assert!(matches!(
            parse(&mapping(), KEY, URL, &wrong_key, &body),
            Err(ConnectorError::BadInput(_))
        ));
        assert!(matches!(
            parse(&mapping(), KEY, URL, &[], &body),
            Err(ConnectorError::BadInput(_))
        ));
    }

    #[test]
    fn malformed_json_is_bad_input() {
        for body in [&b"{\"type\": "[..], b"[1,2]", br#"{"type":"inventory.count.updated","event_id":"e","created_at":"2026-11-23T10:00:00Z"}"#] {
            assert!(
                matches!(
                    parse(&mapping(), KEY, URL, &signed(body, URL), body),
                    Err(ConnectorError::BadInput(_))
                ),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_catalog_change_reloads_the_map() {
        let mapping = mapping();
        let body = br#"{"merchant_id":"M1","type":"catalog.version.updated","event_id":"e-2","created_at":"2026-11-23T10:00:00Z","data":{"type":"catalog_version","id":"","object":{"catalog_version":{"updated_at":"2026-11-23T10:00:00Z"}}}}"#;
        let report = parse(&mapping, KEY, URL, &signed(body, URL), body).expect("valid");
        assert!(report.poll_now && mapping.is_stale());
    }
}
