//! Newtypes for the names every layer speaks, validated once at the edge.
//!
//! A bare `String` could be a SKU, a channel or a location; these types make a mix-up a
//! compile error, and their constructors refuse what would break keys or logs (empty names,
//! control characters, absurd lengths).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::InvalidId;

/// Longest name we accept; longer ones are almost always a payload bug.
pub const MAX_ID_LEN: usize = 256;

fn check(kind: &'static str, value: &str) -> Result<(), InvalidId> {
    let reason = if value.is_empty() {
        "is empty"
    } else if value.len() > MAX_ID_LEN {
        "is longer than 256 bytes"
    } else if value.chars().any(char::is_control) {
        "contains a control character"
    } else if value.trim() != value {
        "has leading or trailing white space"
    } else {
        return Ok(());
    };
    Err(InvalidId {
        kind,
        value: value.chars().take(64).collect(),
        reason,
    })
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps a name.
            pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                check($kind, &value)?;
                Ok(Self(value))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, InvalidId> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = InvalidId;
            fn try_from(value: &str) -> Result<Self, InvalidId> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// The retailer's canonical item code (`TSHIRT-RED-M`); everything in the core is keyed by it.
    Sku,
    "SKU"
);
id_type!(
    /// One configured connection to an outside system (`shopify-main`).
    ChannelId,
    "channel"
);
id_type!(
    /// A physical place where units sit: a store, a warehouse.
    LocationId,
    "location"
);
id_type!(
    /// The unique id of an input event, the key of deduplication.
    EventId,
    "event id"
);
id_type!(
    /// An order's id in the channel that took it.
    OrderId,
    "order id"
);
id_type!(
    /// How a channel names an item (Shopify inventory item id, Square catalog object id, …).
    ItemRef,
    "item ref"
);

/// The key of a reservation: the order line `channel/order/line` that holds it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LineKey {
    pub channel: ChannelId,
    pub order: OrderId,
    /// The line's id within its order (a line item id, or its position).
    pub line: String,
}

impl fmt::Display for LineKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.channel, self.order, self.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(Sku::new("TSHIRT-RED-M").is_ok());
        assert!(Sku::new("").is_err());
        assert!(Sku::new(" X").is_err());
        assert!(Sku::new("a\nb").is_err());
        assert!(Sku::new("x".repeat(MAX_ID_LEN + 1)).is_err());
    }

    #[test]
    fn invalid_name_in_json_is_a_serde_error() {
        let err = serde_json::from_str::<Sku>("\"\"").expect_err("empty SKU must be refused");
        assert!(err.to_string().contains("SKU \"\" is empty"), "{err}");
    }
}
