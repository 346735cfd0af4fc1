//! The fake's inventory: a log of changes with ids, and counts computed from it the way
//! Square computes them — by `occurred_at`, the latest `PHYSICAL_COUNT` superseding every
//! change before it, later changes applied on top — so a late offline sale slots in by time.

use omnistock_sdk::Timestamp;
use serde_json::{Value, json};

/// What a change did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Adjustment { from: String, to: String },
    PhysicalCount { state: String },
}

/// One change in the log.
#[derive(Clone, Debug)]
pub struct Entry {
    pub id: String,
    pub kind: Kind,
    pub variation: String,
    pub location: String,
    pub quantity: i64,
    pub occurred_at: Timestamp,
    pub created_at: Timestamp,
    pub reference_id: Option<String>,
    /// `SQUARE_POS` for the till, `EXTERNAL_API` for an API client.
    pub product: &'static str,
}

impl Entry {
    /// The change as Square's `InventoryChange` JSON.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "id": self.id,
            "catalog_object_id": self.variation,
            "catalog_object_type": "ITEM_VARIATION",
            "location_id": self.location,
            "quantity": self.quantity.to_string(),
            "occurred_at": self.occurred_at.to_rfc3339(),
            "created_at": self.created_at.to_rfc3339(),
            "source": { "product": self.product, "name": "fake" },
        });
        if let Some(r) = &self.reference_id {
            body["reference_id"] = json!(r);
        }
        match &self.kind {
            Kind::Adjustment { from, to } => {
                body["from_state"] = json!(from);
                body["to_state"] = json!(to);
                json!({ "type": "ADJUSTMENT", "adjustment": body })
            }
            Kind::PhysicalCount { state } => {
                body["state"] = json!(state);
                json!({ "type": "PHYSICAL_COUNT", "physical_count": body })
            }
        }
    }

    /// What this change does to `IN_STOCK`: `Set(n)` or `Add(n)`.
    fn in_stock_effect(&self) -> Option<Effect> {
        match &self.kind {
            Kind::PhysicalCount { state } if state == "IN_STOCK" => {
                Some(Effect::Set(self.quantity))
            }
            Kind::PhysicalCount { .. } => None,
            Kind::Adjustment { from, to } => {
                let mut by = 0;
                if from == "IN_STOCK" {
                    by -= self.quantity;
                }
                if to == "IN_STOCK" {
                    by += self.quantity;
                }
                (by != 0).then_some(Effect::Add(by))
            }
        }
    }
}

enum Effect {
    Set(i64),
    Add(i64),
}

/// The change log.
#[derive(Debug, Default)]
pub struct Ledger {
    pub entries: Vec<Entry>,
}

impl Ledger {
    /// `IN_STOCK` of a variation at a location and its `calculated_at`, if anything was ever
    /// recorded for the pair.
    pub fn in_stock(&self, variation: &str, location: &str) -> Option<(i64, Timestamp)> {
        let mut relevant: Vec<(usize, &Entry)> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.variation == variation && e.location == location)
            .collect();
        let calculated_at = relevant.iter().map(|(_, e)| e.created_at).max()?;
        relevant.sort_by_key(|(seq, e)| (e.occurred_at, *seq));
        let mut count = 0;
        for (_, entry) in relevant {
            match entry.in_stock_effect() {
                Some(Effect::Set(n)) => count = n,
                Some(Effect::Add(n)) => count += n,
                None => {}
            }
        }
        Some((count, calculated_at))
    }

    /// Every (variation, location) pair with a count.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = self
            .entries
            .iter()
            .map(|e| (e.variation.clone(), e.location.clone()))
            .collect();
        pairs.sort();
        pairs.dedup();
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: Kind, quantity: i64, occurred: i64, created: i64) -> Entry {
        Entry {
            id: format!("c{created}"),
            kind,
            variation: "V".into(),
            location: "L".into(),
            quantity,
            occurred_at: Timestamp::from_millis(occurred),
            created_at: Timestamp::from_millis(created),
            reference_id: None,
            product: "SQUARE_POS",
        }
    }

    fn sale() -> Kind {
        Kind::Adjustment {
            from: "IN_STOCK".into(),
            to: "SOLD".into(),
        }
    }

    fn count() -> Kind {
        Kind::PhysicalCount {
            state: "IN_STOCK".into(),
        }
    }

    #[test]
    fn a_late_sale_before_the_last_count_is_inside_it() {
        let mut ledger = Ledger::default();
        ledger.entries.push(entry(count(), 100, 0, 0));
        ledger.entries.push(entry(sale(), 3, 10, 10));
        ledger.entries.push(entry(count(), 95, 30, 30));
        assert_eq!(ledger.in_stock("V", "L").map(|c| c.0), Some(95));
        // The offline sale of 2 at minute 20 arrives last: the count at 30 already has it.
        ledger.entries.push(entry(sale(), 2, 20, 35));
        assert_eq!(
            ledger.in_stock("V", "L"),
            Some((95, Timestamp::from_millis(35)))
        );
        // A sale after the count comes off it.
        ledger.entries.push(entry(sale(), 1, 40, 40));
        assert_eq!(ledger.in_stock("V", "L").map(|c| c.0), Some(94));
        assert_eq!(ledger.in_stock("V", "X"), None);
    }
}
