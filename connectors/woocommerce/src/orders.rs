//! An order's current state to reservation events, the same from a webhook and from a poll.
//!
//! WooCommerce sends the order as it is now, not what changed, so each state maps to what
//! that state means for each line:
//! - `processing`, `on-hold`: WooCommerce took the units out of its own number →
//!   `OrderLineOpened` at the channel's location;
//! - `completed`: shipped → `OrderLineFulfilled` (DESIGN.md rule 3 releases it once the
//!   owner's count has caught up);
//! - `cancelled`: WooCommerce put the units back (it restocks on `cancelled` and `pending`) →
//!   `OrderLineCancelled { restocked: true }`;
//! - `refunded`, `failed`: it does not put them back → `OrderLineCancelled { restocked: false }`.
//!   An order that failed before it ever reduced stock never opened a line here, so its
//!   cancellation has no units to release and changes nothing;
//! - `pending` (awaiting payment: no stock taken yet, the normal way into `processing`),
//!   `checkout-draft`, `trash` and anything else: no event, reported. A cancellation here
//!   would end the line for good, and the payment that moves it to `processing` would then
//!   open nothing. (An order moved *back* to `pending` after `processing` keeps its
//!   reservation until it is cancelled or completed: that under-sells, never over-sells.)
//!
//! WooCommerce has no event id (its delivery id can repeat), so an event's id is the order,
//! its `date_modified_gmt`, what the state means and the line:
//! `order/<id>@<date_modified_gmt>/<opened|fulfilled|cancelled>/<line id>`. The webhook topic
//! is deliberately not in it: `order.created` and `order.updated` of one modification carry
//! the same state, and a poll has no topic, so all three give the same ids and dedup holds.

use omnistock_sdk::{
    EventId, LocationId, OrderId, Sku, StockChange, StockEvent, Timestamp, Unmapped,
};

use crate::api::{LineItem, Order, parse_gmt};

/// What an order's status means for its lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Meaning {
    Opened,
    Fulfilled,
    Cancelled { restocked: bool },
}

fn meaning(status: &str) -> Option<Meaning> {
    Some(match status {
        "processing" | "on-hold" => Meaning::Opened,
        "completed" => Meaning::Fulfilled,
        "cancelled" => Meaning::Cancelled { restocked: true },
        "refunded" | "failed" => Meaning::Cancelled { restocked: false },
        _ => return None,
    })
}

/// The events of one order, and what could not be mapped. `Err` names what made the order
/// itself unusable (no modification time, an id that is not an id). `borrowed` tells a
/// line's SKU that is only its parent's (a variation without a SKU of its own).
pub fn order_events(
    order: &Order,
    location: &LocationId,
    borrowed: &dyn Fn(&LineItem, &Sku) -> bool,
    events: &mut Vec<StockEvent>,
    unmapped: &mut Vec<Unmapped>,
) -> Result<(), String> {
    let Some(meaning) = meaning(&order.status) else {
        unmapped.push(Unmapped {
            what: format!("order {}", order.id),
            reason: format!("status {:?} holds no stock", order.status),
        });
        return Ok(());
    };
    let modified = order
        .date_modified_gmt
        .as_deref()
        .or(order.date_created_gmt.as_deref())
        .ok_or_else(|| format!("order {}: no date_modified_gmt", order.id))?;
    let occurred_at: Timestamp =
        parse_gmt(modified).map_err(|e| format!("order {}: date_modified_gmt {e}", order.id))?;
    let order_id = OrderId::new(order.id.to_string()).map_err(|e| e.to_string())?;
    let kind = match meaning {
        Meaning::Opened => "opened",
        Meaning::Fulfilled => "fulfilled",
        Meaning::Cancelled { .. } => "cancelled",
    };
    for line in &order.line_items {
        let what = || format!("order {} line {}", order.id, line.id);
        let Some(sku) = line.usable_sku() else {
            unmapped.push(Unmapped {
                what: what(),
                reason: format!("no usable SKU ({:?})", line.sku.as_deref().unwrap_or("")),
            });
            continue;
        };
        if borrowed(line, &sku) {
            unmapped.push(Unmapped {
                what: what(),
                reason: format!("variation without a SKU of its own (shows its parent's, {sku})"),
            });
            continue;
        }
        let line_id = line.id.to_string();
        let change = match meaning {
            Meaning::Opened => match u32::try_from(line.quantity) {
                Ok(quantity) if quantity > 0 => StockChange::OrderLineOpened {
                    order: order_id.clone(),
                    line: line_id.clone(),
                    location: location.clone(),
                    quantity,
                },
                _ => {
                    unmapped.push(Unmapped {
                        what: what(),
                        reason: format!("quantity {} is not a positive count", line.quantity),
                    });
                    continue;
                }
            },
            Meaning::Fulfilled => StockChange::OrderLineFulfilled {
                order: order_id.clone(),
                line: line_id.clone(),
                // Its own line: WooCommerce ships what it sold.
                channel: None,
                // `completed` is the whole order; core WooCommerce has no partial shipments.
                quantity: None,
            },
            Meaning::Cancelled { restocked } => StockChange::OrderLineCancelled {
                order: order_id.clone(),
                line: line_id.clone(),
                restocked,
            },
        };
        events.push(StockEvent {
            id: EventId::new(format!("order/{}@{modified}/{kind}/{line_id}", order.id))
                .map_err(|e| e.to_string())?,
            occurred_at,
            sku,
            change,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(status: &str) -> Order {
        serde_json::from_value(serde_json::json!({
            "id": 727, "status": status,
            "date_created_gmt": "2026-11-23T10:00:00", "date_modified_gmt": "2026-11-23T10:05:00",
            "line_items": [
                { "id": 315, "product_id": 93, "variation_id": 0, "quantity": 2, "sku": "MUG" },
                { "id": 316, "product_id": 94, "variation_id": 0, "quantity": 1, "sku": "" },
            ],
        }))
        .expect("valid order")
    }

    fn events(status: &str) -> (Vec<StockEvent>, Vec<Unmapped>) {
        let mut events = Vec::new();
        let mut unmapped = Vec::new();
        order_events(
            &order(status),
            &LocationId::new("wh-eu").expect("id"),
            &|_, _| false,
            &mut events,
            &mut unmapped,
        )
        .expect("usable order");
        (events, unmapped)
    }

    #[test]
    fn processing_and_on_hold_open_the_lines() {
        for status in ["processing", "on-hold"] {
            let (events, unmapped) = events(status);
            assert_eq!(events.len(), 1);
            assert_eq!(
                events[0].id.as_str(),
                "order/727@2026-11-23T10:05:00/opened/315"
            );
            assert!(matches!(
                events[0].change,
                StockChange::OrderLineOpened { quantity: 2, .. }
            ));
            assert_eq!(unmapped.len(), 1, "the line without a SKU is reported");
        }
    }

    #[test]
    fn cancellations_restock_only_when_woocommerce_does() {
        let restocked = |status| match &events(status).0[0].change {
            StockChange::OrderLineCancelled { restocked, .. } => *restocked,
            other => panic!("{status}: {other:?}"),
        };
        assert!(restocked("cancelled"));
        assert!(!restocked("refunded"));
        assert!(!restocked("failed"));
    }

    #[test]
    fn completed_fulfils_and_pending_says_nothing() {
        assert!(matches!(
            events("completed").0[0].change,
            StockChange::OrderLineFulfilled { .. }
        ));
        for status in ["pending", "trash", "checkout-draft"] {
            let (events, unmapped) = events(status);
            assert!(events.is_empty(), "{status}");
            assert!(unmapped[0].reason.contains(status), "{unmapped:?}");
        }
    }
}
