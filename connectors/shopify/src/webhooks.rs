//! Webhooks in: verify `X-Shopify-Hmac-Sha256` over the raw body, then turn each topic's
//! REST payload into normalized events.
//!
//! Event ids are `<X-Shopify-Event-Id>/<topic>[/<line>]`: a redelivery carries the same event
//! id, so it yields the same events and the daemon's dedup drops it; two topics of one
//! merchant action stay apart. What cannot be mapped (no SKU, an item never listed, a
//! location not in config, an unknown topic) is reported next to the events, never guessed
//! and never a reason to drop the rest.

use omnistock_sdk::signature::verify_base64;
use omnistock_sdk::{
    ConnectorError, EventId, LocationId, OrderId, Sku, StockChange, StockEvent, Timestamp,
    Unmapped, WebhookReport,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::connector::ShopifyConnector;
use crate::gid::{Gid, GidKind};

pub const HMAC_HEADER: &str = "X-Shopify-Hmac-Sha256";
pub const TOPIC_HEADER: &str = "X-Shopify-Topic";
pub const EVENT_ID_HEADER: &str = "X-Shopify-Event-Id";
pub const WEBHOOK_ID_HEADER: &str = "X-Shopify-Webhook-Id";
pub const TRIGGERED_AT_HEADER: &str = "X-Shopify-Triggered-At";

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

fn bad(what: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::BadInput(format!("shopify webhook: {what}"))
}

/// Shopify ids arrive as JSON integers (beyond 2^53: never through f64) or, in some
/// payloads, as strings.
fn id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Number(n) => Ok(n),
        Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
    }
}

fn opt_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "id")] u64);
    Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
}

#[derive(Deserialize)]
struct LevelUpdate {
    #[serde(deserialize_with = "id")]
    inventory_item_id: u64,
    #[serde(deserialize_with = "id")]
    location_id: u64,
    available: Option<i64>,
    updated_at: Option<String>,
}

#[derive(Deserialize)]
struct LineItem {
    #[serde(deserialize_with = "id")]
    id: u64,
    sku: Option<String>,
    quantity: u32,
    fulfillment_status: Option<String>,
}

#[derive(Deserialize)]
struct Order {
    #[serde(deserialize_with = "id")]
    id: u64,
    created_at: Option<String>,
    updated_at: Option<String>,
    cancelled_at: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    location_id: Option<u64>,
    line_items: Vec<LineItem>,
}

#[derive(Deserialize)]
struct Fulfillment {
    #[serde(deserialize_with = "id")]
    order_id: u64,
    status: Option<String>,
    created_at: Option<String>,
    line_items: Vec<LineItem>,
}

#[derive(Deserialize)]
struct RefundLineItem {
    #[serde(deserialize_with = "id")]
    line_item_id: u64,
    restock_type: Option<String>,
    line_item: Option<RefundedLine>,
}

#[derive(Deserialize)]
struct RefundedLine {
    sku: Option<String>,
}

#[derive(Deserialize)]
struct Refund {
    #[serde(deserialize_with = "id")]
    order_id: u64,
    created_at: Option<String>,
    processed_at: Option<String>,
    /// Deprecated, but older payloads carry it instead of `restock_type`.
    restock: Option<bool>,
    refund_line_items: Vec<RefundLineItem>,
}

fn body<T: DeserializeOwned>(bytes: &[u8], topic: &str) -> Result<T, ConnectorError> {
    // serde_json's error names the line and column, enough for a 400.
    serde_json::from_slice(bytes).map_err(|e| bad(format!("{topic} body: {e}")))
}

/// One webhook delivery's context: who sent it, and how to name its events.
struct Delivery<'a> {
    connector: &'a ShopifyConnector,
    topic: &'a str,
    event_id: &'a str,
    triggered_at: Option<&'a str>,
    report: WebhookReport,
}

impl Delivery<'_> {
    fn id(&self, suffix: Option<String>) -> Result<EventId, ConnectorError> {
        let text = match suffix {
            Some(s) => format!("{}/{}/{s}", self.event_id, self.topic),
            None => format!("{}/{}", self.event_id, self.topic),
        };
        EventId::new(text).map_err(bad)
    }

    fn time(&self, candidates: &[Option<&String>]) -> Result<Timestamp, ConnectorError> {
        let text = candidates
            .iter()
            .flatten()
            .map(|s| s.as_str())
            .next()
            .or(self.triggered_at)
            .ok_or_else(|| bad(format!("{}: no time in the body or headers", self.topic)))?;
        Timestamp::parse_rfc3339(text).map_err(bad)
    }

    fn unmapped(&mut self, what: String, reason: &str) {
        self.report.unmapped.push(Unmapped {
            what,
            reason: reason.to_owned(),
        });
    }

    fn sku(&mut self, sku: Option<&String>, what: String) -> Option<Sku> {
        match sku.map(|s| s.trim()).filter(|s| !s.is_empty()) {
            Some(text) => match Sku::new(text) {
                Ok(sku) => Some(sku),
                Err(e) => {
                    self.unmapped(what, &format!("unusable SKU: {e}"));
                    None
                }
            },
            None => {
                self.unmapped(what, "no SKU");
                None
            }
        }
    }

    fn location(&mut self, shopify: u64, what: String) -> Option<LocationId> {
        let found = self.connector.locations.get(&shopify).cloned();
        if found.is_none() {
            self.unmapped(
                format!("{what} at {}", Gid::format(GidKind::Location, shopify)),
                "location not in config",
            );
        }
        found
    }

    fn push(&mut self, id: EventId, occurred_at: Timestamp, sku: Sku, change: StockChange) {
        self.report.events.push(StockEvent {
            id,
            occurred_at,
            sku,
            change,
        });
    }
}

/// Verifies and parses one delivery.
pub(crate) fn parse(
    connector: &ShopifyConnector,
    headers: &[(String, String)],
    raw: &[u8],
) -> Result<WebhookReport, ConnectorError> {
    verify_base64(
        connector.settings.webhook_secret.as_bytes(),
        &[raw],
        header(headers, HMAC_HEADER),
    )
    .map_err(|e| bad(format!("{HMAC_HEADER}: {e}")))?;
    let topic = header(headers, TOPIC_HEADER).ok_or_else(|| bad(format!("no {TOPIC_HEADER}")))?;
    let event_id = header(headers, EVENT_ID_HEADER)
        .or_else(|| header(headers, WEBHOOK_ID_HEADER))
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad(format!("no {EVENT_ID_HEADER}")))?;
    let mut d = Delivery {
        connector,
        topic,
        event_id,
        triggered_at: header(headers, TRIGGERED_AT_HEADER),
        report: WebhookReport::default(),
    };
    match topic {
        "inventory_levels/update" => level_update(&mut d, body(raw, topic)?)?,
        "orders/create" => order_created(&mut d, body(raw, topic)?)?,
        "orders/cancelled" => {
            let order: Order = body(raw, topic)?;
            let at = d.time(&[order.cancelled_at.as_ref(), order.updated_at.as_ref()])?;
            // Whether Shopify put the units back is told by a refund with restock_type
            // "cancel", not here; assume it did: a wrong guess only ever under-sells.
            order_lines(&mut d, order, at, |order, line| {
                StockChange::OrderLineCancelled {
                    order,
                    line,
                    restocked: true,
                }
            })?;
        }
        "orders/fulfilled" => {
            let order: Order = body(raw, topic)?;
            let at = d.time(&[order.updated_at.as_ref(), order.created_at.as_ref()])?;
            order_lines(&mut d, order, at, |order, line| {
                StockChange::OrderLineFulfilled {
                    order,
                    line,
                    channel: None,
                    quantity: None,
                }
            })?;
        }
        "fulfillments/create" => fulfillment_created(&mut d, body(raw, topic)?)?,
        "refunds/create" => refund_created(&mut d, body(raw, topic)?)?,
        other => {
            // Still JSON? A malformed body is refused whatever the topic.
            let _: serde_json::Value = body(raw, other)?;
            d.unmapped(other.to_owned(), "topic not handled");
        }
    }
    Ok(d.report)
}

fn level_update(d: &mut Delivery<'_>, update: LevelUpdate) -> Result<(), ConnectorError> {
    let item = Gid::format(GidKind::InventoryItem, update.inventory_item_id);
    let at = d.time(&[update.updated_at.as_ref()])?;
    let Some(available) = update.available else {
        d.unmapped(item, "available is null (not tracked)");
        return Ok(());
    };
    let Some(sku) = d.connector.sku_of(update.inventory_item_id) else {
        d.unmapped(item, "unknown SKU: item not seen in a listing yet");
        return Ok(());
    };
    let Some(location) = d.location(update.location_id, item) else {
        return Ok(());
    };
    let id = d.id(None)?;
    d.push(
        id,
        at,
        sku,
        StockChange::LevelObserved {
            location,
            quantity: available,
        },
    );
    Ok(())
}

fn order_created(d: &mut Delivery<'_>, order: Order) -> Result<(), ConnectorError> {
    let at = d.time(&[order.created_at.as_ref()])?;
    let order_ref = OrderId::new(order.id.to_string()).map_err(bad)?;
    let location = match order.location_id {
        Some(shopify) => d.location(shopify, format!("order {}", order.id)),
        None => {
            let default = d.connector.settings.default_location.clone();
            if default.is_none() {
                d.unmapped(
                    format!("order {}", order.id),
                    "no location in the order and no default_location in config",
                );
            }
            default
        }
    };
    let Some(location) = location else {
        return Ok(());
    };
    for line in order.line_items {
        let what = format!("order {} line {}", order.id, line.id);
        let Some(sku) = d.sku(line.sku.as_ref(), what) else {
            continue;
        };
        let id = d.id(Some(line.id.to_string()))?;
        d.push(
            id,
            at,
            sku.clone(),
            StockChange::OrderLineOpened {
                order: order_ref.clone(),
                line: line.id.to_string(),
                location: location.clone(),
                quantity: line.quantity,
            },
        );
        // A POS sale is created already fulfilled: say so, or its reservation would wait
        // for a fulfilment webhook that never comes.
        if line.fulfillment_status.as_deref() == Some("fulfilled") {
            let id = d.id(Some(format!("{}/fulfilled", line.id)))?;
            d.push(
                id,
                at,
                sku,
                StockChange::OrderLineFulfilled {
                    order: order_ref.clone(),
                    line: line.id.to_string(),
                    channel: None,
                    quantity: None,
                },
            );
        }
    }
    Ok(())
}

fn order_lines(
    d: &mut Delivery<'_>,
    order: Order,
    at: Timestamp,
    change: impl Fn(OrderId, String) -> StockChange,
) -> Result<(), ConnectorError> {
    let order_ref = OrderId::new(order.id.to_string()).map_err(bad)?;
    for line in order.line_items {
        let what = format!("order {} line {}", order.id, line.id);
        let Some(sku) = d.sku(line.sku.as_ref(), what) else {
            continue;
        };
        let id = d.id(Some(line.id.to_string()))?;
        d.push(id, at, sku, change(order_ref.clone(), line.id.to_string()));
    }
    Ok(())
}

fn fulfillment_created(d: &mut Delivery<'_>, f: Fulfillment) -> Result<(), ConnectorError> {
    let at = d.time(&[f.created_at.as_ref()])?;
    if let Some(status) = f.status.as_deref().filter(|s| *s != "success") {
        d.unmapped(
            format!("fulfillment of order {}", f.order_id),
            &format!("status {status}: nothing left the location"),
        );
        return Ok(());
    }
    let order_ref = OrderId::new(f.order_id.to_string()).map_err(bad)?;
    for line in f.line_items {
        let what = format!("order {} line {}", f.order_id, line.id);
        let Some(sku) = d.sku(line.sku.as_ref(), what) else {
            continue;
        };
        let id = d.id(Some(line.id.to_string()))?;
        d.push(
            id,
            at,
            sku,
            // A fulfillment's line carries the units this fulfillment ships: a line split
            // over several fulfillments is released part by part.
            StockChange::OrderLineFulfilled {
                order: order_ref.clone(),
                line: line.id.to_string(),
                channel: None,
                quantity: Some(line.quantity),
            },
        );
    }
    Ok(())
}

fn refund_created(d: &mut Delivery<'_>, refund: Refund) -> Result<(), ConnectorError> {
    let at = d.time(&[refund.processed_at.as_ref(), refund.created_at.as_ref()])?;
    let order_ref = OrderId::new(refund.order_id.to_string()).map_err(bad)?;
    for line in refund.refund_line_items {
        let restocked = match line.restock_type.as_deref() {
            Some("cancel" | "return" | "legacy_restock") => true,
            Some(_) => false,
            None => refund.restock == Some(true),
        };
        if !restocked {
            continue;
        }
        let what = format!("order {} line {}", refund.order_id, line.line_item_id);
        let sku_text = line.line_item.as_ref().and_then(|l| l.sku.as_ref());
        let Some(sku) = d.sku(sku_text, what) else {
            continue;
        };
        let id = d.id(Some(line.line_item_id.to_string()))?;
        d.push(
            id,
            at,
            sku,
            StockChange::OrderLineCancelled {
                order: order_ref.clone(),
                line: line.line_item_id.to_string(),
                restocked: true,
            },
        );
    }
    Ok(())
}
