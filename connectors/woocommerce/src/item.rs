//! Item refs: how we name a WooCommerce stock number. A simple product is `123`; a variation
//! is `45/678` (product 45, variation 678), because its stock is written through
//! `/products/45/variations/batch` and the variation id alone does not say where.

use std::fmt;

use omnistock_sdk::ItemRef;

/// A product or a variation, with what it takes to address it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WooItem {
    Product(u64),
    Variation { parent: u64, id: u64 },
}

impl WooItem {
    /// Parses `123` or `45/678`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let number = |part: &str| {
            part.parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{text:?} is not a WooCommerce item (123 or 45/678)"))
        };
        match text.split_once('/') {
            None => Ok(Self::Product(number(text)?)),
            Some((parent, id)) => Ok(Self::Variation {
                parent: number(parent)?,
                id: number(id)?,
            }),
        }
    }

    /// The item's own id (the product's or the variation's).
    pub fn id(self) -> u64 {
        match self {
            Self::Product(id) | Self::Variation { id, .. } => id,
        }
    }

    /// The product whose batch endpoint writes it: `None` for `/products/batch`.
    pub fn parent(self) -> Option<u64> {
        match self {
            Self::Product(_) => None,
            Self::Variation { parent, .. } => Some(parent),
        }
    }

    /// As the SDK's item ref.
    pub fn item_ref(self) -> ItemRef {
        ItemRef::new(self.to_string())
            .unwrap_or_else(|_| unreachable!("digits and a slash make a valid item ref"))
    }
}

impl fmt::Display for WooItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Product(id) => write!(f, "{id}"),
            Self::Variation { parent, id } => write!(f, "{parent}/{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_and_variations_round_trip() {
        for text in ["123", "45/678"] {
            assert_eq!(
                WooItem::parse(text).expect("valid").item_ref().as_str(),
                text
            );
        }
        assert_eq!(WooItem::parse("45/678").expect("valid").parent(), Some(45));
        for bad in ["", "x", "0", "1/", "/2", "1/2/3", "-4"] {
            assert!(WooItem::parse(bad).is_err(), "{bad}");
        }
    }
}
