//! The SDK's conformance kit, run against the WooCommerce connector and its fake, in both
//! push forms.

mod common;

use std::time::Duration;

use async_trait::async_trait;
use common::*;
use omnistock_sdk::conformance::{self, ConformanceFake, Failure};
use omnistock_sdk::{ItemRef, LocationId};
use omnistock_woocommerce::WooItem;
use omnistock_woocommerce::fake::{self, FakeWoo};

/// The fake's knobs, as the kit asks for them.
struct Knobs(FakeWoo);

#[async_trait]
impl ConformanceFake for Knobs {
    fn webhook_body(&self, topic: &str) -> Vec<u8> {
        if topic.starts_with("order.") {
            let order = self.0.place_order("MUG", 1, "processing");
            self.0.order_body(order)
        } else {
            self.0.product_body(MUG)
        }
    }

    fn sign_webhook(&self, topic: &str, body: &[u8]) -> Vec<(String, String)> {
        self.0.webhook_headers(topic, body)
    }

    async fn fail_next(&self, failure: Failure) {
        self.0.fail_next(match failure {
            Failure::RateLimited { retry_after } => fake::Failure::TooManyRequests {
                retry_after_secs: retry_after.as_secs(),
            },
            Failure::ServerError => fake::Failure::ServerError,
            Failure::Garbage => fake::Failure::Garbage,
            Failure::Timeout => fake::Failure::Slow(Duration::from_secs(3)),
        });
    }

    fn failures(&self) -> Vec<Failure> {
        vec![
            Failure::RateLimited {
                retry_after: Duration::from_secs(2),
            },
            Failure::ServerError,
            Failure::Garbage,
            Failure::Timeout,
        ]
    }

    async fn level(&self, item: &ItemRef, location: &LocationId) -> Option<i64> {
        if location != &loc("wh-eu") {
            return None;
        }
        self.0.stock(WooItem::parse(item.as_str()).ok()?.id())
    }
}

#[tokio::test]
async fn keeps_the_connector_contract_with_inventory_delta() {
    let fake = shop(true).await;
    let connector = connector(settings(&fake));
    conformance::run(&connector, &Knobs(fake))
        .await
        .assert_all_passed();
}

#[tokio::test]
async fn keeps_the_connector_contract_with_the_blind_set() {
    let fake = shop(false).await;
    let connector = connector(settings(&fake));
    conformance::run(&connector, &Knobs(fake))
        .await
        .assert_all_passed();
}
