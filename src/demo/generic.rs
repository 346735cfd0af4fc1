//! Channels that speak omnistock's generic protocol: a store POS (the owner of its store,
//! posting its sales, deliveries and counts) and a marketplace that
//! receives pushes through the generic push protocol (the fake receiver).

use async_trait::async_trait;
use omnistock_generic::fake::{Failure, FakeReceiver};
use omnistock_sdk::{ChannelId, LocationId, OrderId, Sku, StockChange};

use super::catalog::{Catalog, Dice};
use super::channel::{OpenLine, Simulated, Site, fail_one_of};
use super::table::ChannelTable;

/// How many events one start-up count posts at once.
const COUNT_BATCH: usize = 500;

/// A location's owner: a store's POS.
pub struct Owner {
    pub id: ChannelId,
    pub location: LocationId,
    secret: String,
}

impl Owner {
    pub fn new(id: ChannelId, location: LocationId, secret: String) -> Self {
        Self {
            id,
            location,
            secret,
        }
    }

    fn counted(&self, quantity: i64) -> StockChange {
        StockChange::LevelObserved {
            location: self.location.clone(),
            quantity,
        }
    }

    async fn adjust(&self, site: &Site, sku: &Sku, by: i64, reason: &str) -> anyhow::Result<()> {
        site.move_count(sku, &self.location, by);
        let change = StockChange::Adjusted {
            location: self.location.clone(),
            by,
            reason: reason.to_owned(),
        };
        let event = site.event(&self.id, sku, change)?;
        site.post_events(&self.id, &self.secret, &[event]).await
    }
}

#[async_trait]
impl Simulated for Owner {
    fn id(&self) -> &ChannelId {
        &self.id
    }

    fn table(&self) -> ChannelTable {
        ChannelTable::new(&self.id, "generic")
            .secret("webhook_secret", "", &self.secret)
            .sells_from([&self.location])
    }

    async fn open(&self, site: &Site, catalog: &Catalog) -> anyhow::Result<()> {
        let mut events = Vec::new();
        for sku in &catalog.skus {
            events.push(site.event(
                &self.id,
                sku,
                self.counted(site.count(sku, &self.location)),
            )?);
        }
        for batch in events.chunks(COUNT_BATCH) {
            site.post_events(&self.id, &self.secret, batch).await?;
        }
        Ok(())
    }

    async fn sell(
        &self,
        site: &Site,
        sku: &Sku,
        quantity: u32,
    ) -> anyhow::Result<Option<OpenLine>> {
        let quantity = i64::from(quantity);
        if site.count(sku, &self.location) >= quantity {
            self.adjust(site, sku, -quantity, "till sale").await?;
        }
        Ok(None)
    }

    async fn receive(&self, site: &Site, sku: &Sku, quantity: i64) -> anyhow::Result<bool> {
        self.adjust(site, sku, quantity, "delivery").await?;
        Ok(true)
    }
}

/// An online marketplace omnistock pushes to with the generic push protocol.
pub struct Receiver {
    pub id: ChannelId,
    location: LocationId,
    secret: String,
    fake: FakeReceiver,
}

impl Receiver {
    /// Starts its fake, knowing every SKU of the catalog at 0 (omnistock pushes the numbers).
    pub async fn start(
        id: ChannelId,
        location: LocationId,
        secret: String,
        catalog: &Catalog,
    ) -> Self {
        let mut builder = FakeReceiver::builder(id.as_str(), &secret);
        for sku in &catalog.skus {
            builder = builder.level(sku.as_str(), 0);
        }
        let fake = builder.start().await;
        Self {
            id,
            location,
            secret,
            fake,
        }
    }
}

#[async_trait]
impl Simulated for Receiver {
    fn id(&self) -> &ChannelId {
        &self.id
    }

    fn table(&self) -> ChannelTable {
        ChannelTable::new(&self.id, "generic")
            .secret("webhook_secret", "", &self.secret)
            .sells_from([&self.location])
            .text("push_url", self.fake.url())
    }

    async fn sell(
        &self,
        site: &Site,
        sku: &Sku,
        quantity: u32,
    ) -> anyhow::Result<Option<OpenLine>> {
        if self.fake.level(sku.as_str()).unwrap_or(0) < i64::from(quantity) {
            return Ok(None);
        }
        // The shop lowers its own number at once; its order reaches omnistock after.
        self.fake.sell(sku.as_str(), i64::from(quantity));
        let order = format!("{}-{}", self.id, site.order_number());
        let event = site.event(
            &self.id,
            sku,
            StockChange::OrderLineOpened {
                order: OrderId::new(order.as_str())?,
                line: "1".to_owned(),
                location: self.location.clone(),
                quantity,
            },
        )?;
        site.post_events(&self.id, &self.secret, &[event]).await?;
        Ok(Some(OpenLine {
            channel: self.id.clone(),
            order,
            line: "1".to_owned(),
            sku: sku.clone(),
            location: self.location.clone(),
            quantity,
        }))
    }

    async fn cancel(&self, site: &Site, line: &OpenLine) -> anyhow::Result<()> {
        self.fake.sell(line.sku.as_str(), -i64::from(line.quantity));
        let event = site.event(
            &self.id,
            &line.sku,
            StockChange::OrderLineCancelled {
                order: OrderId::new(line.order.as_str())?,
                line: line.line.clone(),
                restocked: true,
            },
        )?;
        site.post_events(&self.id, &self.secret, &[event]).await
    }

    fn fail_next(&self, dice: &mut Dice) -> Option<&'static str> {
        let failures = vec![
            (
                Failure::RateLimited {
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
