//! The demo's catalog and its dice: SKUs, the stock each location starts with, and a small
//! seeded generator so a seed always plays the same traffic.

use std::collections::BTreeMap;

use omnistock_sdk::{LocationId, Sku};

/// SplitMix64: tiny, fast, and the same sequence for a seed on every machine.
#[derive(Clone, Debug)]
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: i64, high: i64) -> i64 {
        low + self.below(high.abs_diff(low) + 1) as i64
    }

    /// One of `items`, or `None` when there is none.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }
}

/// The SKUs and what each location holds of them at the start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catalog {
    pub skus: Vec<Sku>,
    pub stock: BTreeMap<(Sku, LocationId), i64>,
}

impl Catalog {
    /// `count` SKUs `DEMO-0001…`; the warehouse holds 20 to 80 of each, a store 0 to 12.
    pub fn generate(
        count: usize,
        warehouse: &LocationId,
        stores: &[LocationId],
        dice: &mut Dice,
    ) -> Self {
        let mut skus = Vec::with_capacity(count);
        let mut stock = BTreeMap::new();
        for n in 1..=count {
            let Ok(sku) = Sku::new(format!("DEMO-{n:04}")) else {
                continue;
            };
            stock.insert((sku.clone(), warehouse.clone()), dice.between(20, 80));
            for store in stores {
                stock.insert((sku.clone(), store.clone()), dice.between(0, 12));
            }
            skus.push(sku);
        }
        Self { skus, stock }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(name: &str) -> LocationId {
        LocationId::new(name).expect("location")
    }

    #[test]
    fn a_seed_always_gives_the_same_catalog_and_another_seed_another() {
        let (wh, stores) = (location("wh"), [location("a"), location("b")]);
        let one = Catalog::generate(50, &wh, &stores, &mut Dice::new(7));
        assert_eq!(one, Catalog::generate(50, &wh, &stores, &mut Dice::new(7)));
        assert_ne!(one, Catalog::generate(50, &wh, &stores, &mut Dice::new(8)));
        assert_eq!(one.skus.len(), 50);
        assert_eq!(one.skus[0].as_str(), "DEMO-0001");
        assert_eq!(one.stock.len(), 150);
        for ((_, at), n) in &one.stock {
            let range = if *at == wh { 20..=80 } else { 0..=12 };
            assert!(range.contains(n), "{at}: {n}");
        }
    }

    #[test]
    fn dice_stay_in_their_range() {
        let mut dice = Dice::new(1);
        for _ in 0..1000 {
            assert!((3..=5).contains(&dice.between(3, 5)));
            assert!(dice.below(4) < 4);
        }
        assert_eq!(dice.pick::<u8>(&[]), None);
    }
}
