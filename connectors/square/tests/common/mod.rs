//! What the Square tests share: a small account, its settings and connector, and the check
//! that every body the fake received conformed to Square's OpenAPI schemas.

#![allow(dead_code)] // each test file uses part of it

use std::time::Duration;

use omnistock_sdk::{LocationId, Sku};
use omnistock_square::fake::FakeSquare;
use omnistock_square::{SquareConnector, SquareSettings};

/// The store Square owns, and a location whose owner is someone else (a warehouse whose
/// stock Square only shows).
pub const STORE: &str = "LSTORE01";
pub const SHOWROOM: &str = "LSHOW02";
pub const MUG: &str = "VMUG0000000000000000001";
pub const CAP: &str = "VCAP0000000000000000002";
pub const NAMELESS: &str = "VNOSKU000000000000000003";
pub const NOTIFICATION_URL: &str = "https://omni.example/v1/webhooks/square-downtown";

pub fn loc(name: &str) -> LocationId {
    LocationId::new(name).expect("valid location")
}

pub fn sku(name: &str) -> Sku {
    Sku::new(name).expect("valid sku")
}

/// An account with a store (owned), a showroom (not owned) and an unmapped back office.
pub async fn account() -> FakeSquare {
    FakeSquare::builder()
        .location(STORE)
        .location(SHOWROOM)
        .location("LBACKOFFICE")
        .variation(MUG, "MUG")
        .variation(CAP, "CAP")
        .variation_without_sku(NAMELESS)
        .count(MUG, STORE, 10)
        .count(CAP, STORE, 4)
        .count(MUG, SHOWROOM, 6)
        .count(NAMELESS, STORE, 1)
        .count(MUG, "LBACKOFFICE", 2)
        .slow_answer(Duration::from_secs(10))
        .start()
        .await
}

pub fn settings(fake: &FakeSquare) -> SquareSettings {
    let mut settings = fake
        .settings("square-downtown", NOTIFICATION_URL)
        .owned_location(STORE, loc("store-1"))
        .location(SHOWROOM, loc("showroom"));
    // Long enough for a slow CI machine, short against the fake's 10 s slow answer.
    settings.http.timeout = Duration::from_secs(3);
    settings
}

pub fn connector(settings: SquareSettings) -> SquareConnector {
    SquareConnector::new(settings).expect("valid settings")
}

/// Every request the fake received conformed to Square's OpenAPI schemas.
#[track_caller]
pub fn assert_conforming(fake: &FakeSquare) {
    let violations = fake.schema_violations();
    assert!(violations.is_empty(), "schema violations: {violations:#?}");
}
