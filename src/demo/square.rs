//! A store's POS on Square: the contract-exact fake Square, owning its store. A till sale is
//! recorded in Square's inventory log and announced by a signed `inventory.count.updated`
//! webhook, which makes omnistock poll Square's changes; a delivery is a physical count.
//! Square offers deltas, so omnistock keeps open reservations against the store held in it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use omnistock_sdk::{ChannelId, LocationId, Sku};
use omnistock_square::fake::{DEFAULT_SIGNATURE_KEY, Failure, FakeSquare};

use super::catalog::{Catalog, Dice};
use super::channel::{OpenLine, Simulated, Site, fail_one_of};
use super::table::ChannelTable;

/// Square's id of the store.
const LOCATION: &str = "LDEMOSTORE01";

pub struct Square {
    pub id: ChannelId,
    location: LocationId,
    fake: FakeSquare,
    token: String,
    /// Catalog variation id per SKU.
    variations: BTreeMap<Sku, String>,
}

impl Square {
    /// Starts the fake account with every SKU of the catalog counted at the store as the
    /// catalog says.
    pub async fn start(
        id: ChannelId,
        location: LocationId,
        token: String,
        catalog: &Catalog,
    ) -> Self {
        let variations: BTreeMap<Sku, String> = catalog
            .skus
            .iter()
            .enumerate()
            .map(|(n, sku)| (sku.clone(), format!("VDEMO{n:018}")))
            .collect();
        let mut builder = FakeSquare::builder()
            .spec_optional()
            .access_token(&token)
            .location(LOCATION);
        for (sku, variation) in &variations {
            let count = catalog
                .stock
                .get(&(sku.clone(), location.clone()))
                .copied()
                .unwrap_or(0);
            builder = builder
                .variation(variation, sku.as_str())
                .count(variation, LOCATION, count);
        }
        let fake = builder.start().await;
        Self {
            id,
            location,
            fake,
            token,
            variations,
        }
    }

    /// The URL Square signs its webhooks for (as registered; here they are delivered
    /// straight to the daemon).
    fn notification_url(&self) -> String {
        format!("https://omnistock.demo.invalid/v1/webhooks/{}", self.id)
    }

    /// Tells omnistock, as Square does, that the variation's count changed.
    async fn announce(&self, site: &Site, variation: &str) -> anyhow::Result<()> {
        let body = self.fake.count_updated_body(variation, LOCATION);
        let headers = self.fake.webhook_headers(&self.notification_url(), &body);
        site.deliver_webhook(&self.id, &headers, body).await
    }
}

#[async_trait]
impl Simulated for Square {
    fn id(&self) -> &ChannelId {
        &self.id
    }

    fn table(&self) -> ChannelTable {
        ChannelTable::new(&self.id, "square")
            .text("base_url", self.fake.uri())
            .secret("access_token", "token", &self.token)
            .secret("webhook_signature_key", "key", DEFAULT_SIGNATURE_KEY)
            .text("notification_url", self.notification_url())
            .raw(
                "square_locations",
                format!("{{ {LOCATION:?} = {:?} }}", self.location.as_str()),
            )
            .sells_from([&self.location])
    }

    async fn sell(
        &self,
        site: &Site,
        sku: &Sku,
        quantity: u32,
    ) -> anyhow::Result<Option<OpenLine>> {
        let Some(variation) = self.variations.get(sku) else {
            return Ok(None);
        };
        if self.fake.level(variation, LOCATION).unwrap_or(0) >= i64::from(quantity) {
            self.fake.sale(variation, LOCATION, i64::from(quantity));
            self.announce(site, variation).await?;
        }
        Ok(None)
    }

    async fn receive(&self, site: &Site, sku: &Sku, quantity: i64) -> anyhow::Result<bool> {
        let Some(variation) = self.variations.get(sku) else {
            return Ok(false);
        };
        let now = self.fake.level(variation, LOCATION).unwrap_or(0);
        self.fake
            .physical_count(variation, LOCATION, now + quantity);
        self.announce(site, variation).await?;
        Ok(true)
    }

    fn fail_next(&self, dice: &mut Dice) -> Option<&'static str> {
        let failures = vec![
            (Failure::RateLimited, "429 RATE_LIMITED"),
            (Failure::ServerError, "HTTP 500 INTERNAL_SERVER_ERROR"),
        ];
        fail_one_of(dice, failures, |failure| self.fake.fail_next(failure))
    }
}
