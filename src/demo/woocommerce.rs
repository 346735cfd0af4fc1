//! An online shop on WooCommerce: the contract-exact fake WooCommerce REST API, selling from
//! the warehouse. A customer's order lowers the shop's stock as WooCommerce does and its
//! signed `order.created` webhook reaches omnistock; a cancellation restocks it. omnistock
//! pushes with WooCommerce's server-side `inventory_delta`.

use std::collections::BTreeMap;

use anyhow::Context as _;
use async_trait::async_trait;
use omnistock_sdk::{ChannelId, LocationId, Sku};
use omnistock_woocommerce::fake::{
    DEFAULT_KEY, DEFAULT_SECRET, DEFAULT_WEBHOOK_SECRET, Failure, FakeWoo,
};

use super::catalog::{Catalog, Dice};
use super::channel::{OpenLine, Simulated, Site, fail_one_of};
use super::table::ChannelTable;

/// The product id of the first SKU; the others follow.
const FIRST_PRODUCT: u64 = 93;

pub struct WooCommerce {
    pub id: ChannelId,
    location: LocationId,
    fake: FakeWoo,
    products: BTreeMap<Sku, u64>,
}

impl WooCommerce {
    /// Starts the fake shop with every SKU of the catalog as a simple product at stock 0
    /// (omnistock pushes the numbers).
    pub async fn start(id: ChannelId, location: LocationId, catalog: &Catalog) -> Self {
        let products: BTreeMap<Sku, u64> = catalog
            .skus
            .iter()
            .enumerate()
            .map(|(n, sku)| (sku.clone(), FIRST_PRODUCT + n as u64))
            .collect();
        let mut builder = FakeWoo::builder().inventory_delta(true);
        for (sku, product) in &products {
            builder = builder.simple(*product, sku.as_str(), 0);
        }
        let fake = builder.start().await;
        Self {
            id,
            location,
            fake,
            products,
        }
    }

    async fn deliver(&self, site: &Site, topic: &str, order: u64) -> anyhow::Result<()> {
        let body = self.fake.order_body(order);
        let headers = self.fake.webhook_headers(topic, &body);
        site.deliver_webhook(&self.id, &headers, body).await
    }
}

#[async_trait]
impl Simulated for WooCommerce {
    fn id(&self) -> &ChannelId {
        &self.id
    }

    fn table(&self) -> ChannelTable {
        ChannelTable::new(&self.id, "woocommerce")
            .text("shop_url", self.fake.uri())
            .secret("consumer_key", "key", DEFAULT_KEY)
            .secret("consumer_secret", "secret", DEFAULT_SECRET)
            .secret("webhook_secret", "webhook", DEFAULT_WEBHOOK_SECRET)
            .raw("inventory_delta", true)
            .sells_from([&self.location])
    }

    async fn sell(
        &self,
        site: &Site,
        sku: &Sku,
        quantity: u32,
    ) -> anyhow::Result<Option<OpenLine>> {
        let Some(&product) = self.products.get(sku) else {
            return Ok(None);
        };
        if self.fake.stock(product).unwrap_or(0) < i64::from(quantity) {
            return Ok(None);
        }
        let order = self
            .fake
            .place_order(sku.as_str(), i64::from(quantity), "processing");
        let body: serde_json::Value = serde_json::from_slice(&self.fake.order_body(order))?;
        let line = body["line_items"][0]["id"]
            .as_u64()
            .with_context(|| format!("{}: order {order} has no line", self.id))?;
        self.deliver(site, "order.created", order).await?;
        Ok(Some(OpenLine {
            channel: self.id.clone(),
            order: order.to_string(),
            line: line.to_string(),
            sku: sku.clone(),
            location: self.location.clone(),
            quantity,
        }))
    }

    async fn cancel(&self, site: &Site, line: &OpenLine) -> anyhow::Result<()> {
        let order: u64 = line.order.parse()?;
        self.fake.set_order_status(order, "cancelled");
        self.deliver(site, "order.updated", order).await
    }

    fn fail_next(&self, dice: &mut Dice) -> Option<&'static str> {
        let failures = vec![
            (
                Failure::TooManyRequests {
                    retry_after_secs: 2,
                },
                "429 Too Many Requests, retry after 2 s",
            ),
            (Failure::ServerError, "HTTP 500"),
            (Failure::Garbage, "a garbage body"),
        ];
        fail_one_of(dice, failures, |failure| self.fake.fail_next(failure))
    }
}
