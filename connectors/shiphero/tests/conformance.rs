//! The SDK's conformance kit, run against the ShipHero connector and its fake.

mod common;

use async_trait::async_trait;
use common::*;
use omnistock_sdk::conformance::{self, ConformanceFake, Failure};
use omnistock_sdk::{ItemRef, LocationId};
use omnistock_shiphero::fake::{self, FakeShipHero, WAREHOUSE, shipment_update};

/// The fake's knobs, as the kit asks for them.
struct Knobs(FakeShipHero);

#[async_trait]
impl ConformanceFake for Knobs {
    fn webhook_body(&self, _topic: &str) -> Vec<u8> {
        shipment_update(
            315_518_042,
            "Shopify Store",
            "820982911946154508",
            &[("866550311766439020", "MUG", 1)],
        )
        .to_string()
        .into_bytes()
    }

    fn sign_webhook(&self, _topic: &str, body: &[u8]) -> Vec<(String, String)> {
        self.0.webhook_headers(body)
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
        vec![
            Failure::RateLimited {
                retry_after: std::time::Duration::from_secs(2),
            },
            Failure::ServerError,
            Failure::Garbage,
            Failure::Timeout,
        ]
    }

    async fn level(&self, item: &ItemRef, location: &LocationId) -> Option<i64> {
        (location == &loc("wh-east")).then_some(())?;
        self.0.on_hand(WAREHOUSE, item.as_str())
    }
}

#[tokio::test]
async fn the_shiphero_connector_keeps_the_connector_contract() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    conformance::run(&connector, &Knobs(fake))
        .await
        .assert_all_passed();
}

#[tokio::test]
async fn with_adjustments_allowed_it_keeps_the_delta_contract_too() {
    let fake = account().await;
    let mut s = settings(&fake);
    s.allow_adjustments = true;
    let connector = connector(s);
    conformance::run(&connector, &Knobs(fake))
        .await
        .assert_all_passed();
}
