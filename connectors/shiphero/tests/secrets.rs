//! A secret per registered webhook: ShipHero's `webhook_create` returns one for each, and
//! signs each webhook's deliveries with its own.

mod common;

use common::*;
use omnistock_sdk::signature::sign_base64;
use omnistock_sdk::{Connector, ConnectorError};
use omnistock_shiphero::fake::{FakeShipHero, inventory_update, shipment_update};
use omnistock_shiphero::webhooks::{HMAC_HEADER, INVENTORY_UPDATE, SHIPMENT_UPDATE};

const URL: &str = "https://omnistock.example.com/v1/webhooks/wms-east";

/// An account with both webhooks registered at our URL; their secrets.
async fn registered() -> (FakeShipHero, String, String) {
    let fake = account().await;
    let shipments = fake.register_webhook(SHIPMENT_UPDATE, URL, "omnistock-wms-east");
    let inventory = fake.register_webhook(INVENTORY_UPDATE, URL, "omnistock-wms-east");
    assert_ne!(shipments, inventory, "ShipHero gives each webhook its own");
    (fake, shipments, inventory)
}

/// Settings holding only these per-type secrets.
fn with_secrets(
    fake: &FakeShipHero,
    secrets: &[(&str, &str)],
) -> omnistock_shiphero::ShipHeroSettings {
    let mut s = settings(fake);
    s.webhook_secret = String::new();
    s.webhook_secrets = secrets
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    s
}

fn shipment() -> serde_json::Value {
    shipment_update(9, "Shopify Store", "1001", &[("7", "MUG", 1)])
}

/// `body` signed with `secret`, with the headers ShipHero sends.
fn signed_with(
    fake: &FakeShipHero,
    body: &serde_json::Value,
    secret: &str,
) -> (Vec<(String, String)>, Vec<u8>) {
    let bytes = body.to_string().into_bytes();
    let headers = fake
        .webhook_headers(&bytes)
        .into_iter()
        .map(|(n, v)| match n.as_str() {
            HMAC_HEADER => (n, sign_base64(secret.as_bytes(), &[&bytes])),
            _ => (n, v),
        })
        .collect();
    (headers, bytes)
}

#[track_caller]
fn assert_refused(result: Result<omnistock_sdk::WebhookReport, ConnectorError>, why: &str) {
    match result {
        Err(ConnectorError::BadInput(message)) => {
            assert!(message.contains(HMAC_HEADER), "{message}");
            assert!(message.contains(why), "{message} lacks {why:?}");
        }
        other => panic!("expected a refused signature, got {other:?}"),
    }
}

#[tokio::test]
async fn each_webhook_type_is_accepted_signed_with_its_own_secret() {
    let (fake, shipments, inventory) = registered().await;
    let connector = connector(with_secrets(
        &fake,
        &[
            (SHIPMENT_UPDATE, &shipments),
            (INVENTORY_UPDATE, &inventory),
        ],
    ));
    // The fake signs each type with the secret its webhook_create returned.
    let (headers, body) = fake.webhook(shipment());
    let report = connector
        .parse_webhook_report(&headers, &body)
        .expect("own secret");
    assert_eq!(report.events.len(), 1, "{report:?}");
    let (headers, body) = fake.webhook(inventory_update("MUG", 9));
    let report = connector
        .parse_webhook_report(&headers, &body)
        .expect("own secret");
    assert!(report.poll_now);
}

#[tokio::test]
async fn a_delivery_signed_with_the_other_webhooks_secret_is_refused() {
    let (fake, shipments, inventory) = registered().await;
    let connector = connector(with_secrets(
        &fake,
        &[
            (SHIPMENT_UPDATE, &shipments),
            (INVENTORY_UPDATE, &inventory),
        ],
    ));
    let (headers, body) = signed_with(&fake, &shipment(), &inventory);
    assert_refused(
        connector.parse_webhook_report(&headers, &body),
        "another webhook's secret",
    );
    let (headers, body) = signed_with(&fake, &inventory_update("MUG", 9), &shipments);
    assert_refused(
        connector.parse_webhook_report(&headers, &body),
        "another webhook's secret",
    );
}

#[tokio::test]
async fn a_delivery_signed_with_an_unknown_secret_is_refused() {
    let (fake, shipments, inventory) = registered().await;
    let connector = connector(with_secrets(
        &fake,
        &[
            (SHIPMENT_UPDATE, &shipments),
            (INVENTORY_UPDATE, &inventory),
        ],
    ));
    let (headers, body) = signed_with(&fake, &shipment(), "not-a-secret-of-ours");
    assert_refused(
        connector.parse_webhook_report(&headers, &body),
        "does not match",
    );
    // A body that is not even JSON, unsigned: refused for its signature, not parsed.
    let headers: Vec<(String, String)> = Vec::new();
    assert_refused(
        connector.parse_webhook_report(&headers, b"{not json"),
        "missing",
    );
}

#[tokio::test]
async fn the_single_webhook_secret_still_serves_every_type_without_its_own() {
    let fake = account().await;
    // Nothing registered: the fake signs with the account's one secret, as before.
    let connector = connector(settings(&fake));
    let (headers, body) = fake.webhook(inventory_update("MUG", 9));
    assert!(
        connector
            .parse_webhook_report(&headers, &body)
            .expect("signed")
            .poll_now
    );
    // With Shipment Update registered, its own secret wins for it; Inventory Update still
    // falls back to the single one.
    let shipments = fake.register_webhook(SHIPMENT_UPDATE, URL, "omnistock-wms-east");
    let connector = connector_with_fallback(&fake, &shipments);
    let (headers, body) = fake.webhook(shipment());
    connector
        .parse_webhook_report(&headers, &body)
        .expect("own secret");
    let (headers, body) = fake.webhook(inventory_update("MUG", 9));
    connector
        .parse_webhook_report(&headers, &body)
        .expect("the single secret");
    // The single secret does not vouch for a type that has its own.
    let (headers, body) = signed_with(&fake, &shipment(), omnistock_shiphero::fake::DEFAULT_SECRET);
    assert_refused(
        connector.parse_webhook_report(&headers, &body),
        "another webhook's secret",
    );
}

fn connector_with_fallback(
    fake: &FakeShipHero,
    shipments: &str,
) -> omnistock_shiphero::ShipHeroConnector {
    let mut s = settings(fake);
    s.webhook_secrets = [(SHIPMENT_UPDATE.to_owned(), shipments.to_owned())].into();
    connector(s)
}

#[tokio::test]
async fn with_one_secret_for_two_registered_webhooks_one_type_fails_as_the_issue_says() {
    let (fake, shipments, _inventory) = registered().await;
    // The old config: one secret, the Shipment Update one.
    let s = with_secrets(&fake, &[]);
    let s = omnistock_shiphero::ShipHeroSettings {
        webhook_secret: shipments,
        ..s
    };
    let connector = connector(s);
    let (headers, body) = fake.webhook(shipment());
    connector
        .parse_webhook_report(&headers, &body)
        .expect("its own");
    let (headers, body) = fake.webhook(inventory_update("MUG", 9));
    assert_refused(
        connector.parse_webhook_report(&headers, &body),
        "does not match",
    );
}

#[tokio::test]
async fn without_any_secret_every_delivery_is_refused_with_what_to_do() {
    let fake = account().await;
    let connector = connector(with_secrets(&fake, &[]));
    let (headers, body) = fake.webhook(shipment());
    assert_refused(
        connector.parse_webhook_report(&headers, &body),
        "omnistock connect wms-east",
    );
}

#[tokio::test]
async fn a_secret_for_a_webhook_the_connector_does_not_use_is_a_settings_error() {
    let fake = account().await;
    let s = with_secrets(&fake, &[("Order Canceled", "x"), (SHIPMENT_UPDATE, "")]);
    let problems = s.validate().expect_err("invalid");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("\"Order Canceled\" is not a webhook")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("Shipment Update: empty")),
        "{problems:?}"
    );
}
