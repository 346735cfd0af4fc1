//! Square's JSON, as far as we read it: counts, changes, catalog variations, locations, and
//! the decimal-string quantities they all carry.
//!
//! Response types ignore fields they do not name (Square adds fields in new versions);
//! request bodies are built with `serde_json::json!` next to their call, checked by the fake
//! against Square's OpenAPI schemas.

use serde::Deserialize;

/// `{ counts, cursor }` of `BatchRetrieveInventoryCounts`; an empty result is `{}`.
#[derive(Debug, Default, Deserialize)]
pub struct CountsPage {
    #[serde(default)]
    pub counts: Vec<Count>,
    pub cursor: Option<String>,
}

/// One `InventoryCount`.
#[derive(Clone, Debug, Deserialize)]
pub struct Count {
    pub catalog_object_id: String,
    pub state: String,
    pub location_id: String,
    pub quantity: String,
    pub calculated_at: Option<String>,
}

/// `{ changes, cursor }` of `BatchRetrieveInventoryChanges`.
#[derive(Debug, Default, Deserialize)]
pub struct ChangesPage {
    #[serde(default)]
    pub changes: Vec<Change>,
    pub cursor: Option<String>,
}

/// One `InventoryChange`: only the member matching `type` is set.
#[derive(Clone, Debug, Deserialize)]
pub struct Change {
    #[serde(rename = "type")]
    pub kind: String,
    pub adjustment: Option<Adjustment>,
    pub physical_count: Option<PhysicalCount>,
}

/// One `InventoryAdjustment`.
#[derive(Clone, Debug, Deserialize)]
pub struct Adjustment {
    pub id: String,
    pub reference_id: Option<String>,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub location_id: String,
    pub catalog_object_id: String,
    pub quantity: String,
    pub occurred_at: String,
    pub created_at: Option<String>,
}

/// One `InventoryPhysicalCount`.
#[derive(Clone, Debug, Deserialize)]
pub struct PhysicalCount {
    pub id: String,
    pub reference_id: Option<String>,
    pub state: String,
    pub location_id: String,
    pub catalog_object_id: String,
    pub quantity: String,
    pub occurred_at: String,
    pub created_at: Option<String>,
}

/// `{ objects, cursor }` of `ListCatalog`.
#[derive(Debug, Default, Deserialize)]
pub struct CatalogPage {
    #[serde(default)]
    pub objects: Vec<CatalogObject>,
    pub cursor: Option<String>,
}

/// A catalog object; we ask only for `ITEM_VARIATION`s.
#[derive(Clone, Debug, Deserialize)]
pub struct CatalogObject {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub is_deleted: bool,
    pub item_variation_data: Option<VariationData>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct VariationData {
    pub sku: Option<String>,
}

/// `{ locations }` of `ListLocations`.
#[derive(Debug, Default, Deserialize)]
pub struct LocationsPage {
    #[serde(default)]
    pub locations: Vec<Location>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Location {
    pub id: String,
    pub status: Option<String>,
}

/// Square's error body: `{ "errors": [{ category, code, detail, field }] }`.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub errors: Vec<ApiError>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ApiError {
    pub category: String,
    pub code: String,
    pub detail: Option<String>,
    pub field: Option<String>,
}

/// A decimal-string quantity as a whole number of units (`"12"`, `"12.000"`, `"-3"`), or
/// why it is not one (`"0.5"` of an item sold by weight).
pub fn whole_units(text: &str) -> Result<i64, String> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if !frac.bytes().all(|b| b == b'0') {
        return Err(format!("quantity {text:?} is not a whole number of units"));
    }
    int.parse::<i64>()
        .map_err(|_| format!("quantity {text:?} is not a decimal number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_whole_units() {
        assert_eq!(whole_units("12"), Ok(12));
        assert_eq!(whole_units("12.000"), Ok(12));
        assert_eq!(whole_units("-3"), Ok(-3));
        assert!(whole_units("0.5").is_err());
        assert!(whole_units("twelve").is_err());
        assert!(whole_units("").is_err());
    }

    #[test]
    fn an_empty_result_is_an_empty_object() {
        let page: CountsPage = serde_json::from_str("{}").expect("empty page");
        assert!(page.counts.is_empty() && page.cursor.is_none());
    }
}
