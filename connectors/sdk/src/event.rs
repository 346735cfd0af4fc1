//! Normalized stock events: what every connector turns its system's payloads into.
//!
//! The serde form of these types is also the wire format of the generic connector
//! (`POST /v1/events`), so any system can feed omnistock without a connector of its own.
//! Unknown fields are refused rather than ignored: a misspelled field must fail loudly, not
//! silently drop a sale.

use serde::{Deserialize, Serialize};

use crate::ids::{ChannelId, EventId, LocationId, OrderId, Sku};
use crate::time::Timestamp;

/// One change reported by a channel, with the id that makes it idempotent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockEvent {
    /// Unique per channel: a second event with the same id is a duplicate and changes nothing.
    pub id: EventId,
    /// When the change happened in the channel's system (not when we received it).
    pub occurred_at: Timestamp,
    pub sku: Sku,
    pub change: StockChange,
}

/// What happened. The channel that reported it comes from the authenticated request, never
/// from the payload.
///
/// On the wire: `{"type": "adjusted", "location": "store-1", "by": -1, "reason": "…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StockChange {
    /// The channel counted `quantity` units at `location`. From the location's owner this is
    /// the truth of its on-hand; from any other channel it is only what that channel shows.
    LevelObserved { location: LocationId, quantity: i64 },
    /// The owner's count at `location` moved by `by` (a sale at the till is `-1`).
    Adjusted {
        location: LocationId,
        by: i64,
        #[serde(default)]
        reason: String,
    },
    /// An order line now holds `quantity` units at `location` until it ships or is cancelled.
    /// Sent again with another quantity, the latest (by `occurred_at`) wins.
    OrderLineOpened {
        order: OrderId,
        line: String,
        location: LocationId,
        quantity: u32,
    },
    /// The order line's units left the location; the reservation is released once the owner's
    /// count has caught up. `channel` names the channel whose order line it is when that is
    /// not the reporting channel: a warehouse reporting the shipment of an online shop's
    /// order (the warehouse ships what the shop sold).
    ///
    /// `quantity` is how many units this shipment took (a partial shipment); each event id is
    /// one shipment, so the parts of a line add up and a redelivered part counts once.
    /// Without it, the whole rest of the line shipped.
    OrderLineFulfilled {
        order: OrderId,
        line: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<ChannelId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quantity: Option<u32>,
    },
    /// The order line will never ship; its reservation is released at once. `restocked`
    /// says whether the channel put the units back into its own number (on the wire it
    /// defaults to `true`: assuming a restock that did not happen only ever under-sells).
    OrderLineCancelled {
        order: OrderId,
        line: String,
        restocked: bool,
    },
}

/// The variants' fields, deserialized on their own so an error names the field at fault
/// (serde's derive for internally tagged enums buffers the content and loses the path).
mod form {
    use serde::Deserialize;

    use crate::ids::{ChannelId, LocationId, OrderId};

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Level {
        pub location: LocationId,
        pub quantity: i64,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Adjusted {
        pub location: LocationId,
        pub by: i64,
        #[serde(default)]
        pub reason: String,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Opened {
        pub order: OrderId,
        pub line: String,
        pub location: LocationId,
        pub quantity: u32,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Fulfilled {
        pub order: OrderId,
        pub line: String,
        #[serde(default)]
        pub channel: Option<ChannelId>,
        #[serde(default)]
        pub quantity: Option<u32>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Cancelled {
        pub order: OrderId,
        pub line: String,
        #[serde(default = "restocked_by_default")]
        pub restocked: bool,
    }

    fn restocked_by_default() -> bool {
        true
    }
}

const CHANGE_TYPES: &[&str] = &[
    "level_observed",
    "adjusted",
    "order_line_opened",
    "order_line_fulfilled",
    "order_line_cancelled",
];

impl<'de> Deserialize<'de> for StockChange {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;

        fn fields<T: serde::de::DeserializeOwned, E: Error>(
            body: serde_json::Value,
        ) -> Result<T, E> {
            serde_path_to_error::deserialize(body).map_err(|e| match e.path().to_string() {
                path if path == "." => E::custom(e.into_inner()),
                path => E::custom(format!("{path}: {}", e.into_inner())),
            })
        }

        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let kind = match map.remove("type") {
            Some(serde_json::Value::String(kind)) => kind,
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "type: expected a string, found {other}"
                )));
            }
            None => return Err(D::Error::missing_field("type")),
        };
        let body = serde_json::Value::Object(map);
        Ok(match kind.as_str() {
            "level_observed" => {
                let f: form::Level = fields(body)?;
                Self::LevelObserved {
                    location: f.location,
                    quantity: f.quantity,
                }
            }
            "adjusted" => {
                let f: form::Adjusted = fields(body)?;
                Self::Adjusted {
                    location: f.location,
                    by: f.by,
                    reason: f.reason,
                }
            }
            "order_line_opened" => {
                let f: form::Opened = fields(body)?;
                Self::OrderLineOpened {
                    order: f.order,
                    line: f.line,
                    location: f.location,
                    quantity: f.quantity,
                }
            }
            "order_line_fulfilled" => {
                let f: form::Fulfilled = fields(body)?;
                Self::OrderLineFulfilled {
                    order: f.order,
                    line: f.line,
                    channel: f.channel,
                    quantity: f.quantity,
                }
            }
            "order_line_cancelled" => {
                let f: form::Cancelled = fields(body)?;
                Self::OrderLineCancelled {
                    order: f.order,
                    line: f.line,
                    restocked: f.restocked,
                }
            }
            other => return Err(D::Error::unknown_variant(other, CHANGE_TYPES)),
        })
    }
}

impl StockChange {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::LevelObserved { .. } => "level_observed",
            Self::Adjusted { .. } => "adjusted",
            Self::OrderLineOpened { .. } => "order_line_opened",
            Self::OrderLineFulfilled { .. } => "order_line_fulfilled",
            Self::OrderLineCancelled { .. } => "order_line_cancelled",
        }
    }

    /// The location the change is about, where the change names one.
    pub fn location(&self) -> Option<&LocationId> {
        match self {
            Self::LevelObserved { location, .. }
            | Self::Adjusted { location, .. }
            | Self::OrderLineOpened { location, .. } => Some(location),
            Self::OrderLineFulfilled { .. } | Self::OrderLineCancelled { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_round_trips() {
        let json = r#"{"id":"e1","occurred_at":"2026-11-23T10:00:00Z","sku":"MUG",
            "change":{"type":"adjusted","location":"store-1","by":-1,"reason":"till sale"}}"#;
        let event: StockEvent = serde_json::from_str(json).expect("valid event");
        assert_eq!(event.change.kind(), "adjusted");
        let again: StockEvent =
            serde_json::from_str(&serde_json::to_string(&event).expect("serializes"))
                .expect("round trip");
        assert_eq!(event, again);
    }

    #[test]
    fn a_shipment_may_name_the_channel_whose_line_it_closes() {
        let json = r#"{"id":"s1","occurred_at":"2026-11-23T10:00:00Z","sku":"MUG",
            "change":{"type":"order_line_fulfilled","order":"1001","line":"7","channel":"web"}}"#;
        let event: StockEvent = serde_json::from_str(json).expect("valid event");
        let StockChange::OrderLineFulfilled { channel, .. } = &event.change else {
            panic!("parsed as {:?}", event.change);
        };
        assert_eq!(channel.as_ref().map(ChannelId::as_str), Some("web"));
        // Without it, the line is the reporting channel's, and the wire form omits the field.
        let own = StockChange::OrderLineFulfilled {
            order: OrderId::new("1001").expect("id"),
            line: "7".into(),
            channel: None,
            quantity: None,
        };
        let wire = serde_json::to_string(&own).expect("serializes");
        assert!(!wire.contains("channel"), "{wire}");
        assert!(!wire.contains("quantity"), "{wire}");
    }

    #[test]
    fn a_shipment_may_carry_the_units_it_shipped() {
        let json = r#"{"id":"s1","occurred_at":"2026-11-23T10:00:00Z","sku":"MUG",
            "change":{"type":"order_line_fulfilled","order":"1001","line":"7","quantity":2}}"#;
        let event: StockEvent = serde_json::from_str(json).expect("valid event");
        let StockChange::OrderLineFulfilled { quantity, .. } = &event.change else {
            panic!("parsed as {:?}", event.change);
        };
        assert_eq!(*quantity, Some(2));
        let again: StockEvent =
            serde_json::from_str(&serde_json::to_string(&event).expect("serializes"))
                .expect("round trip");
        assert_eq!(event, again);
        // A negative or textual quantity is refused, naming the field.
        for bad in ["-1", "\"two\""] {
            let json = format!(
                r#"{{"id":"s1","occurred_at":"2026-11-23T10:00:00Z","sku":"MUG",
                "change":{{"type":"order_line_fulfilled","order":"1001","line":"7","quantity":{bad}}}}}"#
            );
            let err = serde_json::from_str::<StockEvent>(&json).expect_err("not a count");
            assert!(err.to_string().starts_with("quantity: "), "{bad}: {err}");
        }
    }

    #[test]
    fn a_wrong_type_names_its_field() {
        let json = r#"{"id":"e1","occurred_at":"2026-11-23T10:00:00Z","sku":"MUG",
            "change":{"type":"level_observed","location":"store-1","quantity":"four"}}"#;
        let err = serde_json::from_str::<StockEvent>(json).expect_err("quantity is a number");
        assert!(
            err.to_string().starts_with("quantity: invalid type"),
            "{err}"
        );
        let json = r#"{"id":"e1","occurred_at":"2026-11-23T10:00:00Z","sku":"MUG","change":{"type":"sold"}}"#;
        let err = serde_json::from_str::<StockEvent>(json).expect_err("sold is no type");
        assert!(err.to_string().contains("unknown variant `sold`"), "{err}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let json = r#"{"id":"e1","occurred_at":"2026-11-23T10:00:00Z","sku":"MUG",
            "change":{"type":"adjusted","location":"store-1","by":-1,"qty":3}}"#;
        let err = serde_json::from_str::<StockEvent>(json).expect_err("qty is unknown");
        assert!(err.to_string().contains("qty"), "{err}");
    }
}
