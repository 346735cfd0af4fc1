//! Square's names to ours: item variations to SKUs (from the Catalog API, config overrides
//! first) and Square locations to our locations (from config, checked against the Locations
//! API), and which of those locations Square owns.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::RwLock;

use omnistock_sdk::{ItemRef, LocationId, Sku, Unmapped};

use crate::settings::SquareSettings;
use crate::wire::CatalogObject;

/// What a Square location is to us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub ours: LocationId,
    /// Square owns it: its counts are the store's truth.
    pub owned: bool,
}

/// The maps, with the catalog cache behind a lock (refreshed while webhooks are parsed).
#[derive(Debug)]
pub struct Mapping {
    locations: BTreeMap<String, Place>,
    reverse: HashMap<LocationId, String>,
    overrides: BTreeMap<String, Sku>,
    catalog: RwLock<Catalog>,
}

#[derive(Debug, Default)]
struct Catalog {
    skus: HashMap<String, Sku>,
    items: HashMap<Sku, String>,
    /// A webhook named a variation we do not know, or the catalog changed: reload it.
    stale: bool,
}

impl Catalog {
    fn learn(&mut self, variation: &str, sku: Sku) {
        if let Some(old) = self.skus.insert(variation.to_owned(), sku.clone()) {
            self.items.remove(&old);
        }
        self.items.insert(sku, variation.to_owned());
    }
}

impl Mapping {
    pub fn new(settings: &SquareSettings) -> Self {
        let locations: BTreeMap<String, Place> = settings
            .locations
            .iter()
            .map(|(square, ours)| {
                let place = Place {
                    ours: ours.clone(),
                    owned: settings.owned.contains(ours),
                };
                (square.clone(), place)
            })
            .collect();
        let reverse = locations
            .iter()
            .map(|(square, place)| (place.ours.clone(), square.clone()))
            .collect();
        let mut catalog = Catalog {
            stale: true,
            ..Catalog::default()
        };
        for (variation, sku) in &settings.variations {
            catalog.learn(variation, sku.clone());
        }
        Self {
            locations,
            reverse,
            overrides: settings.variations.clone(),
            catalog: RwLock::new(catalog),
        }
    }

    /// Our place for a Square location, if the config maps it.
    pub fn place(&self, square: &str) -> Option<&Place> {
        self.locations.get(square)
    }

    /// The Square location of ours.
    pub fn square_location(&self, ours: &LocationId) -> Option<&str> {
        self.reverse.get(ours).map(String::as_str)
    }

    /// Every mapped Square location id, and those Square owns.
    pub fn square_locations(&self, owned_only: bool) -> Vec<String> {
        self.locations
            .iter()
            .filter(|(_, p)| p.owned || !owned_only)
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub fn sku(&self, variation: &str) -> Option<Sku> {
        self.read().skus.get(variation).cloned()
    }

    pub fn variation(&self, sku: &Sku) -> Option<ItemRef> {
        let catalog = self.read();
        ItemRef::new(catalog.items.get(sku)?.as_str()).ok()
    }

    /// Whether the catalog should be reloaded before mapping more.
    pub fn is_stale(&self) -> bool {
        self.read().stale
    }

    /// Asks for a reload: a webhook named a variation we do not know, or the catalog changed.
    pub fn mark_stale(&self) {
        self.write().stale = true;
    }

    /// Replaces the catalog with a full listing of variations; returns the variations left
    /// out, each with why. Config overrides win over a variation's own `sku`.
    pub fn load(&self, objects: &[CatalogObject]) -> Vec<Unmapped> {
        let mut fresh = Catalog::default();
        let mut unmapped = Vec::new();
        for object in objects.iter().filter(|o| !o.is_deleted) {
            if let Some(sku) = self.overrides.get(&object.id) {
                fresh.learn(&object.id, sku.clone());
                continue;
            }
            let raw = object
                .item_variation_data
                .as_ref()
                .and_then(|d| d.sku.as_deref())
                .unwrap_or_default();
            match Sku::new(raw.trim()) {
                Ok(sku) => fresh.learn(&object.id, sku),
                Err(e) => unmapped.push(Unmapped {
                    what: object.id.clone(),
                    reason: format!("no usable SKU: {e}"),
                }),
            }
        }
        // An override for a variation the listing did not show is still the operator's word.
        for (variation, sku) in &self.overrides {
            if !fresh.skus.contains_key(variation) {
                fresh.learn(variation, sku.clone());
            }
        }
        *self.write() = fresh;
        unmapped
    }

    /// The Square locations the Locations API lists (active ones) that the config leaves
    /// out, and the configured ones it does not list.
    pub fn check_locations(&self, listed: &BTreeSet<String>) -> Vec<Unmapped> {
        let mut unmapped: Vec<Unmapped> = listed
            .iter()
            .filter(|id| !self.locations.contains_key(*id))
            .map(|id| Unmapped {
                what: format!("location {id}"),
                reason: "location not in config".into(),
            })
            .collect();
        unmapped.extend(
            self.locations
                .keys()
                .filter(|id| !listed.contains(*id))
                .map(|id| Unmapped {
                    what: format!("location {id}"),
                    reason: "in config but not an active location of this Square account".into(),
                }),
        );
        unmapped
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Catalog> {
        self.catalog.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Catalog> {
        self.catalog.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::VariationData;

    fn variation(id: &str, sku: Option<&str>) -> CatalogObject {
        CatalogObject {
            id: id.into(),
            kind: "ITEM_VARIATION".into(),
            is_deleted: false,
            item_variation_data: Some(VariationData {
                sku: sku.map(str::to_owned),
            }),
        }
    }

    #[test]
    fn overrides_win_and_variations_without_sku_are_reported() {
        let mut settings = SquareSettings::new("sq", "t", "k", "https://x/");
        settings
            .variations
            .insert("V2".into(), Sku::new("MUG-BLUE").expect("sku"));
        let mapping = Mapping::new(&settings);
        assert!(mapping.is_stale());
        let unmapped = mapping.load(&[
            variation("V1", Some("MUG")),
            variation("V2", Some("MUG-RED")),
            variation("V3", None),
        ]);
        assert!(!mapping.is_stale());
        assert_eq!(mapping.sku("V1").map(String::from), Some("MUG".into()));
        assert_eq!(mapping.sku("V2").map(String::from), Some("MUG-BLUE".into()));
        assert_eq!(unmapped.len(), 1);
        assert_eq!(unmapped[0].what, "V3");
        assert_eq!(
            mapping
                .variation(&Sku::new("MUG").expect("sku"))
                .map(String::from),
            Some("V1".into())
        );
    }
}
