//! The online store on Shopify: the contract-exact fake Shopify (Admin GraphQL, signed
//! webhooks), selling from the warehouse and both stores. A sale lowers the shop's own number
//! and then delivers `orders/create`, as Shopify does; omnistock pushes its numbers back with
//! compare-and-set.

use std::collections::BTreeMap;

use async_trait::async_trait;
use omnistock_sdk::{ChannelId, LocationId, Sku};
use omnistock_shopify::fake::{Failure, FakeShopify};
use serde_json::json;

use super::catalog::{Catalog, Dice};
use super::channel::{OpenLine, Simulated, Site, fail_one_of};
use super::table::ChannelTable;

/// Shopify's id of the first location; the others follow.
const FIRST_LOCATION: u64 = 655_441_491;
/// The inventory item id of the first SKU; the others follow.
const FIRST_ITEM: u64 = 808_950_810;

pub struct Shopify {
    pub id: ChannelId,
    fake: FakeShopify,
    token: String,
    secret: String,
    /// Our locations in Shopify's numbering; the first is where online orders reserve and
    /// where our number is pushed.
    locations: Vec<(u64, LocationId)>,
    items: BTreeMap<Sku, u64>,
}

impl Shopify {
    /// Starts the fake shop with every SKU of the catalog stocked at 0 at the first of
    /// `sells_from` (omnistock pushes the numbers).
    pub async fn start(
        id: ChannelId,
        sells_from: &[LocationId],
        token: String,
        secret: String,
        catalog: &Catalog,
    ) -> Self {
        let locations: Vec<(u64, LocationId)> = sells_from
            .iter()
            .enumerate()
            .map(|(n, l)| (FIRST_LOCATION + n as u64, l.clone()))
            .collect();
        let items: BTreeMap<Sku, u64> = catalog
            .skus
            .iter()
            .enumerate()
            .map(|(n, sku)| (sku.clone(), FIRST_ITEM + n as u64))
            .collect();
        let mut builder = FakeShopify::builder()
            .access_token(&token)
            .webhook_secret(&secret);
        for (sku, item) in &items {
            builder = builder.variant(sku.as_str(), *item, &[(FIRST_LOCATION, 0)]);
        }
        let fake = builder.start().await;
        Self {
            id,
            fake,
            token,
            secret,
            locations,
            items,
        }
    }

    fn order_body(&self, site: &Site, line: &OpenLine, cancelled: bool) -> anyhow::Result<Vec<u8>> {
        let now = site.now().to_rfc3339();
        let order: u64 = line.order.parse()?;
        let mut body = json!({
            "id": order, "admin_graphql_api_id": format!("gid://shopify/Order/{order}"),
            "name": format!("#{order}"), "created_at": now, "updated_at": now,
            "cancelled_at": null, "cancel_reason": null, "financial_status": "paid",
            "fulfillment_status": null, "source_name": "web", "location_id": null, "test": false,
            "line_items": [{
                "id": line.line.parse::<u64>()?, "sku": line.sku.as_str(), "quantity": line.quantity,
                "current_quantity": line.quantity, "fulfillable_quantity": line.quantity,
                "fulfillment_service": "manual", "fulfillment_status": null, "requires_shipping": true,
            }],
        });
        if cancelled {
            body["cancelled_at"] = json!(now);
            body["cancel_reason"] = json!("customer");
        }
        Ok(body.to_string().into_bytes())
    }

    async fn deliver(&self, site: &Site, topic: &str, body: Vec<u8>) -> anyhow::Result<()> {
        let (headers, body) = self.fake.webhook(topic, body);
        site.deliver_webhook(&self.id, &headers, body).await
    }
}

#[async_trait]
impl Simulated for Shopify {
    fn id(&self) -> &ChannelId {
        &self.id
    }

    fn table(&self) -> ChannelTable {
        let mapped: Vec<String> = self
            .locations
            .iter()
            .map(|(shopify, ours)| {
                format!("\"gid://shopify/Location/{shopify}\" = {:?}", ours.as_str())
            })
            .collect();
        ChannelTable::new(&self.id, "shopify")
            .text("shop_url", self.fake.uri())
            .secret("access_token", "token", &self.token)
            .secret("webhook_secret", "secret", &self.secret)
            .raw("shopify_locations", format!("{{ {} }}", mapped.join(", ")))
            .sells_from(self.locations.iter().map(|(_, ours)| ours))
    }

    async fn sell(
        &self,
        site: &Site,
        sku: &Sku,
        quantity: u32,
    ) -> anyhow::Result<Option<OpenLine>> {
        let (Some(&item), Some((location, ours))) = (self.items.get(sku), self.locations.first())
        else {
            return Ok(None);
        };
        let shows = self.fake.level(item, *location).unwrap_or(0);
        if shows < i64::from(quantity) {
            return Ok(None);
        }
        // Shopify lowers its number at checkout, then sends orders/create.
        self.fake
            .set_available(item, *location, shows - i64::from(quantity));
        let order = site.order_number() + 450_789_469_000;
        let line = OpenLine {
            channel: self.id.clone(),
            order: order.to_string(),
            line: (order * 10 + 1).to_string(),
            sku: sku.clone(),
            location: ours.clone(),
            quantity,
        };
        self.deliver(site, "orders/create", self.order_body(site, &line, false)?)
            .await?;
        Ok(Some(line))
    }

    async fn cancel(&self, site: &Site, line: &OpenLine) -> anyhow::Result<()> {
        if let (Some(&item), Some((location, _))) =
            (self.items.get(&line.sku), self.locations.first())
        {
            let shows = self.fake.level(item, *location).unwrap_or(0);
            self.fake
                .set_available(item, *location, shows + i64::from(line.quantity));
        }
        self.deliver(site, "orders/cancelled", self.order_body(site, line, true)?)
            .await
    }

    fn fail_next(&self, dice: &mut Dice) -> Option<&'static str> {
        let failures = vec![
            (
                Failure::TooManyRequests {
                    retry_after_secs: 2.0,
                },
                "429 Too Many Requests, retry after 2 s",
            ),
            (Failure::Throttled, "a THROTTLED answer"),
            (Failure::ServerError, "HTTP 500"),
        ];
        fail_one_of(dice, failures, |failure| self.fake.fail_next(failure))
    }
}
