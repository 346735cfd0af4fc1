//! Webhooks in: the creation ping, then `X-WC-Webhook-Signature` (base64 HMAC-SHA256 of the
//! raw body with the webhook's secret) verified before anything is parsed, then the order or
//! product the body carries (its current state, not a diff) turned into events.
//!
//! - `order.created`, `order.updated`: reservation events ([`crate::orders`]).
//! - `product.updated`: a `LevelObserved` of a mapped product or variation. WooCommerce is no
//!   owner, so this is only what it shows (its own orders and our pushes move it: echoes);
//!   id `product/<item>@<date_modified_gmt>/level`.
//! - the ping WooCommerce sends when a webhook is created (form body `webhook_id=N`, no
//!   `X-WC-` headers): accepted with no events, or WooCommerce would not activate it.
//!
//! WooCommerce never retries a delivery and its delivery id can repeat, so nothing here
//! relies on either: ids come from the resource and its modification time, and the poll
//! of modified orders catches what was lost.

use omnistock_sdk::signature::verify_base64;
use omnistock_sdk::{ConnectorError, EventId, StockChange, StockEvent, Unmapped, WebhookReport};
use serde::de::DeserializeOwned;

use crate::api::{Order, Product, parse_gmt};
use crate::catalog::{Judged, item_of_record};
use crate::connector::WooConnector;
use crate::orders::order_events;

pub const SIGNATURE_HEADER: &str = "X-WC-Webhook-Signature";
pub const TOPIC_HEADER: &str = "X-WC-Webhook-Topic";

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

fn bad(what: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::BadInput(format!("woocommerce webhook: {what}"))
}

/// `webhook_id=<digits>`: the ping of a webhook being created.
fn is_ping(headers: &[(String, String)], body: &[u8]) -> bool {
    header(headers, SIGNATURE_HEADER).is_none()
        && header(headers, TOPIC_HEADER).is_none()
        && body
            .strip_prefix(b"webhook_id=")
            .is_some_and(|id| !id.is_empty() && id.iter().all(u8::is_ascii_digit))
}

fn body<T: DeserializeOwned>(bytes: &[u8], topic: &str) -> Result<T, ConnectorError> {
    serde_json::from_slice(bytes).map_err(|e| bad(format!("{topic} body: {e}")))
}

/// Verifies and parses one delivery.
pub fn parse(
    connector: &WooConnector,
    headers: &[(String, String)],
    raw: &[u8],
) -> Result<WebhookReport, ConnectorError> {
    if is_ping(headers, raw) {
        return Ok(WebhookReport::default());
    }
    verify_base64(
        connector.settings.webhook_secret.as_bytes(),
        &[raw],
        header(headers, SIGNATURE_HEADER),
    )
    .map_err(|e| bad(format!("{SIGNATURE_HEADER}: {e}")))?;
    let topic =
        header(headers, TOPIC_HEADER).ok_or_else(|| bad(format!("{TOPIC_HEADER} is missing")))?;
    let mut report = WebhookReport::default();
    match topic {
        "order.created" | "order.updated" => {
            let order: Order = body(raw, topic)?;
            for line in &order.line_items {
                connector.learn_line(line);
            }
            order_events(
                &order,
                &connector.settings.location,
                &|line, sku| connector.line_borrows_sku(line, sku),
                &mut report.events,
                &mut report.unmapped,
            )
            .map_err(bad)?;
        }
        "product.created" | "product.updated" => {
            let product: Product = body(raw, topic)?;
            product_event(connector, &product, &mut report).map_err(bad)?;
        }
        other => report.unmapped.push(Unmapped {
            what: format!("topic {other}"),
            reason: "not a topic this connector handles".into(),
        }),
    }
    Ok(report)
}

fn product_event(
    connector: &WooConnector,
    product: &Product,
    report: &mut WebhookReport,
) -> Result<(), String> {
    let item = item_of_record(product);
    match connector.judge_record(item, product) {
        Judged::Level { sku, available } => {
            connector.learn(item, sku.clone());
            let modified = product
                .date_modified_gmt
                .as_deref()
                .ok_or_else(|| format!("product {item}: no date_modified_gmt"))?;
            report.events.push(StockEvent {
                id: EventId::new(format!("product/{item}@{modified}/level"))
                    .map_err(|e| e.to_string())?,
                occurred_at: parse_gmt(modified)?,
                sku,
                change: StockChange::LevelObserved {
                    location: connector.settings.location.clone(),
                    quantity: available,
                },
            });
        }
        Judged::Unmapped(reason) => report.unmapped.push(Unmapped {
            what: format!("product {item}"),
            reason,
        }),
        Judged::Container => report.unmapped.push(Unmapped {
            what: format!("product {item}"),
            reason: "variable product without stock of its own".into(),
        }),
    }
    Ok(())
}
