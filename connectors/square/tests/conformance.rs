//! The SDK's conformance kit, run against the Square connector and its fake.

mod common;

use async_trait::async_trait;
use common::*;
use omnistock_sdk::conformance::{self, ConformanceFake, Failure};
use omnistock_sdk::http::DEFAULT_RETRY_AFTER;
use omnistock_sdk::{ItemRef, LocationId};
use omnistock_square::fake::{self, FakeSquare};

/// The fake's knobs, as the kit asks for them.
struct Knobs(FakeSquare);

#[async_trait]
impl ConformanceFake for Knobs {
    /// A count at the showroom, a location Square does not own: there the webhook carries
    /// the number (at the store it only asks for a poll, and has no events to check).
    fn webhook_body(&self, _topic: &str) -> Vec<u8> {
        self.0.count_updated_body(MUG, SHOWROOM)
    }

    fn sign_webhook(&self, _topic: &str, body: &[u8]) -> Vec<(String, String)> {
        self.0.webhook_headers(NOTIFICATION_URL, body)
    }

    async fn fail_next(&self, failure: Failure) {
        self.0.fail_next(match failure {
            Failure::RateLimited { .. } => fake::Failure::RateLimited,
            Failure::ServerError => fake::Failure::ServerError,
            Failure::Garbage => fake::Failure::Garbage,
            Failure::Timeout => fake::Failure::Slow,
        });
    }

    /// Square sends no `Retry-After`: the connector waits the SDK's default, which is what
    /// the kit may expect.
    fn failures(&self) -> Vec<Failure> {
        vec![
            Failure::RateLimited {
                retry_after: DEFAULT_RETRY_AFTER,
            },
            Failure::ServerError,
            Failure::Garbage,
            Failure::Timeout,
        ]
    }

    async fn level(&self, item: &ItemRef, location: &LocationId) -> Option<i64> {
        let square = if *location == loc("store-1") {
            STORE
        } else if *location == loc("showroom") {
            SHOWROOM
        } else {
            return None;
        };
        self.0.level(item.as_str(), square)
    }
}

#[tokio::test]
async fn the_square_connector_keeps_the_connector_contract() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    let knobs = Knobs(fake);
    conformance::run(&connector, &knobs)
        .await
        .assert_all_passed();
    assert_conforming(&knobs.0);
}
