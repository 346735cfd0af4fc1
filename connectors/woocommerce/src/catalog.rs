//! Listing and re-reading WooCommerce's stock numbers, and the SKU ↔ item cache.
//!
//! Mapped: simple products and variations that manage their own stock and carry a SKU.
//! Everything else is reported with why, never guessed: no SKU, stock not managed, a
//! variation that uses its parent's stock, a variation without a SKU of its own (WooCommerce
//! shows it with its parent's SKU, woocommerce/woocommerce#17249: it is recognised by the
//! parent's SKU, learned when the parent is listed), a variable product that manages stock for its
//! variations, a managed product without a number. Variable products without stock of
//! their own are containers: their variations are listed, they themselves are not reported.

use std::collections::{BTreeMap, HashMap};

use omnistock_sdk::{ConnectorError, ItemLevel, ItemRef, ListPage, ListReport, Sku, Unmapped};

use crate::api::{ManageStock, PAGE_SIZE, Product};
use crate::connector::WooConnector;
use crate::item::WooItem;

/// SKUs and items, both ways, learned from listings, reads, webhooks and order lines; and
/// the SKUs of variable products, because WooCommerce shows a variation without a SKU of its
/// own with its parent's.
#[derive(Debug, Default)]
pub struct Catalog {
    skus: HashMap<WooItem, Sku>,
    items: HashMap<Sku, WooItem>,
    parents: HashMap<u64, Sku>,
}

impl Catalog {
    pub fn learn_parent(&mut self, parent: u64, sku: Sku) {
        self.parents.insert(parent, sku);
    }

    pub fn parent_sku(&self, parent: u64) -> Option<&Sku> {
        self.parents.get(&parent)
    }

    pub fn learn(&mut self, item: WooItem, sku: Sku) {
        if let Some(old) = self.skus.insert(item, sku.clone()) {
            self.items.remove(&old);
        }
        self.items.insert(sku, item);
    }

    pub fn item_of(&self, sku: &Sku) -> Option<WooItem> {
        self.items.get(sku).copied()
    }
}

/// A product or variation judged: its stock number, or why it is not mapped.
pub enum Judged {
    Level {
        sku: Sku,
        available: i64,
    },
    Unmapped(String),
    /// A variable product without stock of its own: its variations speak for it.
    Container,
}

/// What a product or variation is to us. `item` says which it is.
pub fn judge(item: WooItem, product: &Product) -> Judged {
    let variable = product.kind.as_deref() == Some("variable");
    match product.manage_stock {
        ManageStock::Off if variable => return Judged::Container,
        ManageStock::Off => return Judged::Unmapped("stock not managed".into()),
        ManageStock::Parent => {
            return Judged::Unmapped("uses its parent's stock (manage_stock \"parent\")".into());
        }
        ManageStock::On if variable => {
            return Judged::Unmapped(
                "variable product managing stock for its variations: map the variations".into(),
            );
        }
        ManageStock::On => {}
    }
    let Some(sku) = product.usable_sku() else {
        return Judged::Unmapped(format!(
            "no usable SKU ({:?})",
            product.sku.as_deref().unwrap_or("")
        ));
    };
    match product.stock_quantity {
        Some(available) => Judged::Level { sku, available },
        None => Judged::Unmapped(format!("{item}: manages stock but has no stock_quantity")),
    }
}

/// The item a product record stands for: a variation when it names a parent.
pub fn item_of_record(product: &Product) -> WooItem {
    if product.parent_id != 0 {
        WooItem::Variation {
            parent: product.parent_id,
            id: product.id,
        }
    } else {
        WooItem::Product(product.id)
    }
}

impl WooConnector {
    /// [`judge`], and a variation showing its parent's SKU is not mapped by it.
    pub(crate) fn judge_record(&self, item: WooItem, product: &Product) -> Judged {
        match judge(item, product) {
            Judged::Level { sku, .. } if self.borrows_parent_sku(item, &sku) => Judged::Unmapped(
                format!("no SKU of its own (WooCommerce shows its parent's, {sku})"),
            ),
            judged => judged,
        }
    }

    /// Whether `sku` on `item` is only its parent's, shown for a variation without its own.
    pub(crate) fn borrows_parent_sku(&self, item: WooItem, sku: &Sku) -> bool {
        item.parent().is_some_and(|parent| {
            self.catalog
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .parent_sku(parent)
                == Some(sku)
        })
    }

    /// Judges one record into `report`, learning its SKU.
    fn collect(&self, item: WooItem, product: &Product, report: &mut ListReport) {
        match self.judge_record(item, product) {
            Judged::Level { sku, available } => {
                self.learn(item, sku.clone());
                report.page.levels.push(ItemLevel {
                    item: item.item_ref(),
                    sku: Some(sku),
                    location: self.settings.location.clone(),
                    available,
                });
            }
            Judged::Unmapped(reason) => report.unmapped.push(Unmapped {
                what: item.to_string(),
                reason,
            }),
            Judged::Container => {}
        }
    }

    /// One page of products (page numbers are the cursor), with the variations of the
    /// variable ones on it.
    pub async fn list_page(&self, cursor: Option<String>) -> Result<ListReport, ConnectorError> {
        let page: u64 = match cursor.as_deref() {
            None => 1,
            Some(text) => text.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
                ConnectorError::Permanent(format!(
                    "listing {}: bad cursor {text:?}",
                    self.rest.channel()
                ))
            })?,
        };
        let action = format!("listing products of {} (page {page})", self.rest.channel());
        let (products, paging): (Vec<Product>, _) = self
            .rest
            .get(
                "/products",
                &[
                    ("per_page", PAGE_SIZE.to_string()),
                    ("page", page.to_string()),
                    ("orderby", "id".into()),
                    ("order", "asc".into()),
                ],
                &action,
            )
            .await?;
        let mut report = ListReport {
            page: ListPage {
                levels: Vec::new(),
                next: paging.has_after(page).then(|| (page + 1).to_string()),
            },
            unmapped: Vec::new(),
        };
        for product in &products {
            self.collect(WooItem::Product(product.id), product, &mut report);
            if product.kind.as_deref() == Some("variable") {
                if let Some(sku) = product.usable_sku() {
                    self.catalog
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .learn_parent(product.id, sku);
                }
                for variation in self.variations(product.id, None).await? {
                    let item = WooItem::Variation {
                        parent: product.id,
                        id: variation.id,
                    };
                    self.collect(item, &variation, &mut report);
                }
            }
        }
        Ok(report)
    }

    /// The variations of `parent` (all, or those in `include`), every page.
    async fn variations(
        &self,
        parent: u64,
        include: Option<&[u64]>,
    ) -> Result<Vec<Product>, ConnectorError> {
        let mut all = Vec::new();
        let mut page = 1;
        loop {
            let action = format!(
                "listing the variations of product {parent} on {} (page {page})",
                self.rest.channel()
            );
            let mut query = vec![
                ("per_page", PAGE_SIZE.to_string()),
                ("page", page.to_string()),
            ];
            if let Some(ids) = include {
                query.push(("include", join(ids)));
            }
            let (batch, paging): (Vec<Product>, _) = self
                .rest
                .get(&format!("/products/{parent}/variations"), &query, &action)
                .await?;
            all.extend(batch);
            if !paging.has_after(page) {
                return Ok(all);
            }
            page += 1;
        }
    }

    /// The current records of `items`, by item; items WooCommerce does not know are absent.
    pub async fn records(
        &self,
        items: &[WooItem],
    ) -> Result<BTreeMap<WooItem, Product>, ConnectorError> {
        let mut products = Vec::new();
        let mut variations: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for item in items {
            match item {
                WooItem::Product(id) => products.push(*id),
                WooItem::Variation { parent, id } => {
                    variations.entry(*parent).or_default().push(*id)
                }
            }
        }
        let mut found = BTreeMap::new();
        for ids in products.chunks(PAGE_SIZE) {
            let action = format!(
                "reading {} products from {}",
                ids.len(),
                self.rest.channel()
            );
            let (batch, _): (Vec<Product>, _) = self
                .rest
                .get(
                    "/products",
                    &[("include", join(ids)), ("per_page", PAGE_SIZE.to_string())],
                    &action,
                )
                .await?;
            found.extend(
                batch
                    .into_iter()
                    .filter(|p| ids.contains(&p.id))
                    .map(|p| (WooItem::Product(p.id), p)),
            );
        }
        for (parent, ids) in variations {
            for chunk in ids.chunks(PAGE_SIZE) {
                for variation in self.variations(parent, Some(chunk)).await? {
                    if chunk.contains(&variation.id) {
                        let item = WooItem::Variation {
                            parent,
                            id: variation.id,
                        };
                        found.insert(item, variation);
                    }
                }
            }
        }
        Ok(found)
    }

    /// The stock numbers of `items` that map; the rest are left out (and logged).
    pub async fn read_levels(&self, items: &[ItemRef]) -> Result<Vec<ItemLevel>, ConnectorError> {
        let parsed: Vec<WooItem> = items
            .iter()
            .filter_map(|i| match WooItem::parse(i.as_str()) {
                Ok(item) => Some(item),
                Err(e) => {
                    tracing::warn!(channel = %self.rest.channel(), item = %i, "Not a WooCommerce item: {e}.");
                    None
                }
            })
            .collect();
        let records = self.records(&parsed).await?;
        let mut report = ListReport {
            page: ListPage {
                levels: Vec::new(),
                next: None,
            },
            unmapped: Vec::new(),
        };
        for (item, product) in &records {
            self.collect(*item, product, &mut report);
        }
        for u in &report.unmapped {
            tracing::debug!(channel = %self.rest.channel(), what = %u.what, reason = %u.reason, "WooCommerce item not mapped.");
        }
        Ok(report.page.levels)
    }
}

fn join(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}
