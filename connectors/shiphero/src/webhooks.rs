//! Webhooks in: verify `X-ShipHero-HMAC-SHA256` (base64 HMAC-SHA256 of the raw body with the
//! secret `webhook_create` returned for that webhook: ShipHero gives each registered webhook
//! its own, so each type is checked against its own secret), then each `webhook_type`:
//!
//! - `Shipment Update`: each shipped line closes the reservation of the order line it
//!   fulfils, in the channel that took the order (`OrderLineFulfilled` with `channel`). The
//!   order is ShipHero's `partner_order_id` and the line its `partner_line_item_id` (the
//!   line's `id` in this webhook): for an order synced from Shopify these are Shopify's order
//!   and line item ids, exactly as the Shopify connector keys its reservations. The shop's
//!   channel comes from config (`order_channels` by `shop_name`, else `orders_from`); when it
//!   cannot be told, or an id is missing, the line is reported as unmapped, never guessed.
//!   Each line carries the units this shipment took (`quantity`), so a line shipped in
//!   several shipments is released part by part; a line packed in several packages appears
//!   once per package and its quantities are added up. A line without a quantity shipped
//!   whole; one whose quantity is not a count is reported as unmapped (its reservation keeps
//!   holding: under-selling, never over-selling).
//!   Event ids are `shipment/<shipment_id>/<line>`, the same on every redelivery. The
//!   connector then asks for a poll, which re-reads the shipped SKUs' counts stamped no
//!   earlier than the shipment (`ShipHeroConnector::recount_shipped`).
//! - `Inventory Update`: carries totals without the time ShipHero counted them, which rule 3
//!   needs; so it asks the daemon to poll now, and the poll reads the counts with their
//!   `updated_at`.
//! - anything else: reported as not handled (a shop reports its own cancellations).

use omnistock_sdk::signature::verify_base64;
use omnistock_sdk::{
    ConnectorError, EventId, OrderId, Sku, StockChange, StockEvent, Timestamp, Unmapped,
    WebhookReport,
};
use serde::Deserialize;

use crate::settings::ShipHeroSettings;

pub const HMAC_HEADER: &str = "X-ShipHero-HMAC-SHA256";
pub const MESSAGE_ID_HEADER: &str = "X-Shiphero-Message-ID";
pub const SHIPMENT_UPDATE: &str = "Shipment Update";
pub const INVENTORY_UPDATE: &str = "Inventory Update";

/// A webhook type's key in the config's `webhook_secrets`: `Shipment Update` →
/// `shipment_update`.
pub fn config_key(webhook_type: &str) -> String {
    webhook_type.to_ascii_lowercase().replace(' ', "_")
}

/// The webhook type the connector handles whose config key is `key`.
pub fn type_of_config_key(key: &str) -> Option<&'static str> {
    crate::connector::WEBHOOK_TYPES
        .iter()
        .copied()
        .find(|kind| config_key(kind) == key)
}

fn bad(what: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::BadInput(format!("shiphero webhook: {what}"))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// ShipHero sends some ids as numbers and some as strings.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum Id {
    Number(u64),
    Text(String),
}

impl Id {
    fn text(&self) -> String {
        match self {
            Id::Number(n) => n.to_string(),
            Id::Text(t) => t.trim().to_owned(),
        }
    }
}

#[derive(Deserialize)]
struct Hook {
    webhook_type: Option<String>,
    fulfillment: Option<Fulfillment>,
    inventory: Option<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct Fulfillment {
    shipment_id: Id,
    partner_order_id: Option<Id>,
    order_number: Option<String>,
    shop_name: Option<String>,
    /// Not in ShipHero's documented body; honoured if a later version sends it.
    created_at: Option<String>,
    webhook_type: Option<String>,
    line_items: Vec<ShippedLine>,
}

#[derive(Deserialize)]
struct ShippedLine {
    id: Option<Id>,
    partner_line_item_id: Option<Id>,
    sku: Option<String>,
    /// Units of the line in this shipment (in this package, when it has several). Read as
    /// any JSON value so a bad one costs only its line, not the whole delivery.
    quantity: Option<serde_json::Value>,
}

/// One order line of a shipment, its packages' entries added up.
struct Shipped {
    line: String,
    sku: Sku,
    /// `None`: some entry named no quantity, so the line shipped whole.
    quantity: Option<u32>,
}

/// Verifies and parses one delivery. ShipHero's `Shipment Update` carries no time, so a
/// shipment's time is `received(shipment_id)`: when it was first delivered to us. That is
/// never earlier than the shipment, so rule 3 stays safe (the reservation waits for a count
/// taken after it, a little longer than it needs at worst).
pub fn parse(
    settings: &ShipHeroSettings,
    headers: &[(String, String)],
    raw: &[u8],
    received: &dyn Fn(&str) -> Timestamp,
) -> Result<WebhookReport, ConnectorError> {
    let signed_with = signed_with(settings, headers, raw)?;
    let hook: Hook = serde_json::from_slice(raw).map_err(|e| bad(format!("body: {e}")))?;
    let kind = hook
        .webhook_type
        .clone()
        .or_else(|| {
            hook.fulfillment
                .as_ref()
                .and_then(|f| f.webhook_type.clone())
        })
        .ok_or_else(|| bad("no webhook_type"))?;
    match settings.secret_for(&kind) {
        Some(own) if own == signed_with => {}
        Some(_) => {
            return Err(bad(format!(
                "{HMAC_HEADER}: signed with another webhook's secret, not the one of {kind}"
            )));
        }
        None => {
            return Err(bad(format!(
                "{HMAC_HEADER}: no secret is configured for {kind} webhooks"
            )));
        }
    }
    let mut report = WebhookReport::default();
    match kind.as_str() {
        SHIPMENT_UPDATE => {
            let f = hook
                .fulfillment
                .ok_or_else(|| bad(format!("{kind} without fulfillment")))?;
            shipment(settings, f, received, &mut report)?;
        }
        INVENTORY_UPDATE => {
            hook.inventory
                .ok_or_else(|| bad(format!("{kind} without inventory")))?;
            report.poll_now = true;
        }
        other => report.unmapped.push(Unmapped {
            what: other.to_owned(),
            reason: "webhook type not handled".into(),
        }),
    }
    Ok(report)
}

/// The configured secret the delivery is signed with, checked before the body is read. Each
/// secret is compared in constant time; the body then says which webhook it is, and only
/// that webhook's own secret is accepted (`parse`), so one webhook's secret cannot vouch for
/// another type.
fn signed_with<'a>(
    settings: &'a ShipHeroSettings,
    headers: &[(String, String)],
    raw: &[u8],
) -> Result<&'a str, ConnectorError> {
    let secrets = settings.secrets();
    if secrets.is_empty() {
        return Err(bad(format!(
            "{HMAC_HEADER}: no webhook secret is configured for channel {}: run `omnistock \
             connect {}` and set webhook_secrets",
            settings.channel, settings.channel
        )));
    }
    let signature = header(headers, HMAC_HEADER);
    let mut refusal = None;
    for secret in secrets {
        match verify_base64(secret.as_bytes(), &[raw], signature) {
            Ok(()) => return Ok(secret),
            Err(e) => refusal = Some(e),
        }
    }
    Err(bad(format!(
        "{HMAC_HEADER}: {}",
        refusal.map_or_else(String::new, |e| e.to_string())
    )))
}

fn shipment(
    settings: &ShipHeroSettings,
    f: Fulfillment,
    received: &dyn Fn(&str) -> Timestamp,
    report: &mut WebhookReport,
) -> Result<(), ConnectorError> {
    let shipment = f.shipment_id.text();
    let at = match f.created_at.as_deref() {
        Some(text) => Timestamp::parse_rfc3339(text).map_err(bad)?,
        None => received(&shipment),
    };
    let what = format!(
        "shipment {shipment} of order {}",
        f.order_number.as_deref().unwrap_or("?")
    );
    let Some(channel) = settings.order_channel(f.shop_name.as_deref()).cloned() else {
        report.unmapped.push(Unmapped {
            what,
            reason: format!(
                "no channel for shop {:?}: set order_channels or orders_from",
                f.shop_name.unwrap_or_default()
            ),
        });
        return Ok(());
    };
    let Some(order) = f
        .partner_order_id
        .map(|o| o.text())
        .filter(|o| !o.is_empty())
    else {
        report.unmapped.push(Unmapped {
            what,
            reason: "no partner_order_id".into(),
        });
        return Ok(());
    };
    let order = OrderId::new(order).map_err(bad)?;
    for line in shipped_lines(&what, f.line_items, report) {
        if line.quantity == Some(0) {
            continue;
        }
        report.events.push(StockEvent {
            id: EventId::new(format!("shipment/{shipment}/{}", line.line)).map_err(bad)?,
            occurred_at: at,
            sku: line.sku,
            change: StockChange::OrderLineFulfilled {
                order: order.clone(),
                line: line.line,
                channel: Some(channel.clone()),
                quantity: line.quantity,
            },
        });
    }
    Ok(())
}

/// The shipment's order lines, in the order they first appear, each line's entries (one per
/// package) added up. Entries that cannot be mapped are reported, and so is the rest of a
/// line with an entry whose quantity is not a count: part of a line is not guessed at.
fn shipped_lines(
    what: &str,
    entries: Vec<ShippedLine>,
    report: &mut WebhookReport,
) -> Vec<Shipped> {
    let mut lines: Vec<Shipped> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    for entry in entries {
        let line_id = entry
            .partner_line_item_id
            .or(entry.id)
            .map(|l| l.text())
            .filter(|l| !l.is_empty());
        let sku = entry
            .sku
            .as_deref()
            .map(str::trim)
            .and_then(|s| Sku::new(s).ok());
        let (Some(line_id), Some(sku)) = (line_id, sku) else {
            report.unmapped.push(Unmapped {
                what: format!("{what}, a line"),
                reason: "no partner line item id or no usable SKU".into(),
            });
            continue;
        };
        let quantity = match entry.quantity {
            None => None,
            Some(value) => match count(&value) {
                Some(units) => Some(units),
                None => {
                    report.unmapped.push(Unmapped {
                        what: format!("{what}, line {line_id}"),
                        reason: format!("quantity {value} is not a count of units"),
                    });
                    refused.push(line_id);
                    continue;
                }
            },
        };
        match lines.iter_mut().find(|l| l.line == line_id) {
            Some(seen) => {
                seen.quantity = seen
                    .quantity
                    .zip(quantity)
                    .map(|(a, b)| a.saturating_add(b));
            }
            None => lines.push(Shipped {
                line: line_id,
                sku,
                quantity,
            }),
        }
    }
    lines.retain(|l| !refused.contains(&l.line));
    lines
}

/// A count of units, as a JSON number or a numeric string (ShipHero sends both kinds).
fn count(value: &serde_json::Value) -> Option<u32> {
    match value {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
