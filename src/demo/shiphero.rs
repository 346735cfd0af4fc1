//! The warehouse's WMS on ShipHero: the contract-exact fake ShipHero (GraphQL, signed
//! webhooks), owning the warehouse and shipping the online orders of every shop that sells
//! from it. A shipment takes its units off ShipHero's on-hand when the label is made, then
//! `Shipment Update` names the shop's order and line it fulfils (by `shop_name`, which the
//! channel's `order_channels` maps back to our channel); a receipt or a cycle count changes
//! the on-hand and sends `Inventory Update`, which makes omnistock poll ShipHero's counts.
//! omnistock never pushes to it: ShipHero owns its counts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use async_trait::async_trait;
use omnistock_sdk::{ChannelId, LocationId, Sku};
use omnistock_shiphero::fake::{
    DEFAULT_REFRESH_TOKEN, DEFAULT_SECRET, DEFAULT_TOKEN, Failure, FakeShipHero, WAREHOUSE,
    inventory_update, shipment_update,
};

use super::catalog::{Catalog, Dice};
use super::channel::{OpenLine, Simulated, Site, fail_one_of};
use super::table::ChannelTable;
use crate::clock::{Clock as _, SystemClock};

/// How often omnistock polls ShipHero besides the polls its webhooks ask for.
const POLL_INTERVAL_SECS: u64 = 5;
/// ShipHero's number of the first shipment; the others follow.
const FIRST_SHIPMENT: u64 = 315_518_000;

pub struct ShipHero {
    pub id: ChannelId,
    location: LocationId,
    fake: FakeShipHero,
    /// ShipHero's `shop_name` of each channel whose orders it ships.
    shops: BTreeMap<ChannelId, String>,
    next_shipment: AtomicU64,
}

impl ShipHero {
    /// Starts the fake account with the catalog's stock at the warehouse, counted now, and
    /// ships the orders of `shops` (our channel, its ShipHero `shop_name`).
    pub async fn start(
        id: ChannelId,
        location: LocationId,
        shops: &[(ChannelId, &str)],
        catalog: &Catalog,
    ) -> Self {
        let fake = FakeShipHero::builder().start().await;
        let now = SystemClock.now().to_rfc3339();
        for sku in &catalog.skus {
            let on_hand = catalog
                .stock
                .get(&(sku.clone(), location.clone()))
                .copied()
                .unwrap_or(0);
            fake.count(WAREHOUSE, sku.as_str(), on_hand, &now);
        }
        Self {
            id,
            location,
            fake,
            shops: shops
                .iter()
                .map(|(channel, shop)| (channel.clone(), (*shop).to_owned()))
                .collect(),
            next_shipment: AtomicU64::new(FIRST_SHIPMENT),
        }
    }

    /// ShipHero ships an online order line: the label takes the units off its on-hand, then
    /// `Shipment Update` tells omnistock which shop's line it fulfils, which closes that
    /// line's reservation once omnistock has re-read the count (DESIGN.md rule 3).
    pub async fn ship(&self, site: &Site, line: &OpenLine) -> anyhow::Result<()> {
        let shop = self.shops.get(&line.channel).with_context(|| {
            format!(
                "{}: ships no orders of {} (not in its order_channels)",
                self.id, line.channel
            )
        })?;
        self.move_on_hand(site, &line.sku, -i64::from(line.quantity));
        let shipment = self.next_shipment.fetch_add(1, Ordering::Relaxed);
        let (headers, body) = self.fake.webhook(shipment_update(
            shipment,
            shop,
            &line.order,
            &[(&line.line, line.sku.as_str(), line.quantity)],
        ));
        site.deliver_webhook(&self.id, &headers, body).await
    }

    /// A cycle count finds `by` units more (or fewer) of `sku` than ShipHero had.
    pub async fn recount(&self, site: &Site, sku: &Sku, by: i64) -> anyhow::Result<()> {
        let on_hand = self.move_on_hand(site, sku, by);
        self.announce(site, sku, on_hand).await
    }

    /// Moves ShipHero's on-hand of `sku` by `by` (never below 0), counted now; returns it.
    fn move_on_hand(&self, site: &Site, sku: &Sku, by: i64) -> i64 {
        let on_hand = (self.fake.on_hand(WAREHOUSE, sku.as_str()).unwrap_or(0) + by).max(0);
        self.fake
            .count(WAREHOUSE, sku.as_str(), on_hand, &site.now().to_rfc3339());
        on_hand
    }

    /// ShipHero's `Inventory Update` for `sku`.
    async fn announce(&self, site: &Site, sku: &Sku, on_hand: i64) -> anyhow::Result<()> {
        let (headers, body) = self.fake.webhook(inventory_update(sku.as_str(), on_hand));
        site.deliver_webhook(&self.id, &headers, body).await
    }
}

#[async_trait]
impl Simulated for ShipHero {
    fn id(&self) -> &ChannelId {
        &self.id
    }

    fn table(&self) -> ChannelTable {
        let shops: Vec<String> = self
            .shops
            .iter()
            .map(|(channel, shop)| format!("{shop:?} = {:?}", channel.as_str()))
            .collect();
        ChannelTable::new(&self.id, "shiphero")
            .text("api_url", self.fake.uri())
            .secret("access_token", "token", DEFAULT_TOKEN)
            .secret("refresh_token", "refresh", DEFAULT_REFRESH_TOKEN)
            .secret("webhook_secret", "webhook", DEFAULT_SECRET)
            .raw(
                "warehouses",
                format!("{{ {WAREHOUSE:?} = {:?} }}", self.location.as_str()),
            )
            .raw("order_channels", format!("{{ {} }}", shops.join(", ")))
            .raw("poll_interval_secs", POLL_INTERVAL_SECS)
            .sells_from([&self.location])
    }

    async fn sell(&self, _: &Site, _: &Sku, _: u32) -> anyhow::Result<Option<OpenLine>> {
        Ok(None)
    }

    /// A receipt: the units are put away and counted.
    async fn receive(&self, site: &Site, sku: &Sku, quantity: i64) -> anyhow::Result<bool> {
        self.recount(site, sku, quantity).await?;
        Ok(true)
    }

    fn fail_next(&self, dice: &mut Dice) -> Option<&'static str> {
        let failures = vec![
            (
                Failure::TooManyRequests {
                    retry_after_secs: 2.0,
                },
                "429 Too Many Requests, retry after 2 s",
            ),
            (Failure::ServerError, "HTTP 500"),
            (Failure::Garbage, "a garbage body"),
            (Failure::NotEnoughCredits, "a not-enough-credits error"),
        ];
        fail_one_of(dice, failures, |failure| self.fake.fail_next(failure))
    }
}
