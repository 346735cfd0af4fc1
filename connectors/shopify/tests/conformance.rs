//! The SDK's conformance kit, run against the Shopify connector and its fake.

mod common;

use async_trait::async_trait;
use common::*;
use omnistock_sdk::conformance::{self, ConformanceFake, Failure};
use omnistock_sdk::{ItemRef, LocationId};
use omnistock_shopify::fake::{self, FakeShopify};
use omnistock_shopify::gid::{Gid, GidKind};

/// The fake's knobs, as the kit asks for them.
struct Knobs(FakeShopify);

#[async_trait]
impl ConformanceFake for Knobs {
    fn webhook_body(&self, topic: &str) -> Vec<u8> {
        self.0.sample_body(topic)
    }

    fn sign_webhook(&self, topic: &str, body: &[u8]) -> Vec<(String, String)> {
        self.0.webhook_headers(topic, body)
    }

    async fn fail_next(&self, failure: Failure) {
        self.0.fail_next(match failure {
            Failure::RateLimited { retry_after } => fake::Failure::TooManyRequests {
                retry_after_secs: retry_after.as_secs_f64(),
            },
            Failure::ServerError => fake::Failure::ServerError,
            Failure::Garbage => fake::Failure::Garbage,
            Failure::Timeout => fake::Failure::Slow,
        });
    }

    fn failures(&self) -> Vec<Failure> {
        let mut all = vec![Failure::Timeout];
        all.extend(ConformanceFakeDefaults.failures());
        all
    }

    async fn level(&self, item: &ItemRef, location: &LocationId) -> Option<i64> {
        let item = Gid::parse(item.as_str(), GidKind::InventoryItem).ok()?;
        let shopify = (location == &loc("store-1")).then_some(STORE)?;
        self.0.level(item.id, shopify)
    }
}

/// The kit's default failures, borrowed through a fake that overrides nothing.
struct ConformanceFakeDefaults;

#[async_trait]
impl ConformanceFake for ConformanceFakeDefaults {
    fn webhook_body(&self, _: &str) -> Vec<u8> {
        Vec::new()
    }
    fn sign_webhook(&self, _: &str, _: &[u8]) -> Vec<(String, String)> {
        Vec::new()
    }
    async fn fail_next(&self, _: Failure) {}
    async fn level(&self, _: &ItemRef, _: &LocationId) -> Option<i64> {
        None
    }
}

#[tokio::test]
async fn the_shopify_connector_keeps_the_connector_contract() {
    let fake = shop().await;
    let connector = connector(settings(&fake));
    let knobs = Knobs(fake);
    conformance::run(&connector, &knobs)
        .await
        .assert_all_passed();
}
