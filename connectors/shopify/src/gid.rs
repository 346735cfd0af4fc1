//! Shopify global ids (`gid://shopify/InventoryItem/30322695`), parsed to 64-bit integers.
//!
//! Shopify's numeric ids exceed 2^53, so they are never read as floating point: GIDs are
//! strings in GraphQL, and REST webhook ids are parsed by serde_json as integers.

use std::fmt;

/// The kinds of object whose ids we handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GidKind {
    InventoryItem,
    Location,
    InventoryLevel,
    WebhookSubscription,
}

impl GidKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InventoryItem => "InventoryItem",
            Self::Location => "Location",
            Self::InventoryLevel => "InventoryLevel",
            Self::WebhookSubscription => "WebhookSubscription",
        }
    }
}

/// A parsed global id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gid {
    pub id: u64,
}

impl Gid {
    /// Parses `gid://shopify/<Kind>/<n>` (a query string after the number is ignored).
    pub fn parse(text: &str, kind: GidKind) -> Result<Self, String> {
        let prefix = format!("gid://shopify/{}/", kind.as_str());
        let rest = text
            .strip_prefix(&prefix)
            .ok_or_else(|| format!("{text:?} is not a {} GID", kind.as_str()))?;
        let number = rest.split('?').next().unwrap_or(rest);
        number
            .parse::<u64>()
            .map(|id| Self { id })
            .map_err(|_| format!("{text:?} does not end in a 64-bit id"))
    }

    /// Parses a GID of `kind` or a bare number.
    pub fn parse_or_number(text: &str, kind: GidKind) -> Result<Self, String> {
        match text.parse::<u64>() {
            Ok(id) => Ok(Self { id }),
            Err(_) => Self::parse(text, kind),
        }
    }

    /// The GID text of `id` as a `kind`.
    pub fn format(kind: GidKind, id: u64) -> String {
        format!("gid://shopify/{}/{id}", kind.as_str())
    }
}

impl fmt::Display for Gid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_beyond_2_pow_53_stay_exact() {
        let gid = Gid::parse(
            "gid://shopify/InventoryItem/271878346596884015",
            GidKind::InventoryItem,
        )
        .expect("valid");
        assert_eq!(gid.id, 271_878_346_596_884_015);
        assert_ne!(
            gid.id as f64 as u64, gid.id,
            "would be corrupted as a float"
        );
        let level = Gid::parse(
            "gid://shopify/InventoryLevel/24826418?inventory_item_id=1",
            GidKind::InventoryLevel,
        )
        .expect("valid");
        assert_eq!(level.id, 24_826_418);
        assert!(Gid::parse("gid://shopify/Location/x", GidKind::Location).is_err());
        assert!(Gid::parse("gid://shopify/Location/1", GidKind::InventoryItem).is_err());
        assert_eq!(
            Gid::parse_or_number("42", GidKind::Location),
            Ok(Gid { id: 42 })
        );
    }
}
