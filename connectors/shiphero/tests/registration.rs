//! `omnistock connect` for ShipHero: `webhook_create` once per webhook type, idempotently,
//! each returned secret handed back once and then the one its deliveries are signed with.

mod common;

use common::*;
use omnistock_sdk::{Connector, ConnectorError};
use omnistock_shiphero::fake::{self, FakeShipHero, inventory_update, shipment_update};
use omnistock_shiphero::registration::{Outcome, WebhookAction};
use omnistock_shiphero::webhooks::{INVENTORY_UPDATE, SHIPMENT_UPDATE};

const URL: &str = "https://omnistock.example.com/v1/webhooks/wms-east";
const SHOP: &str = "omnistock-wms-east";

/// How many `webhook_create` mutations the fake received.
fn creates(fake: &FakeShipHero) -> usize {
    fake.requests()
        .iter()
        .filter(|r| {
            r["query"]
                .as_str()
                .is_some_and(|q| q.contains("webhook_create"))
        })
        .count()
}

fn outcomes(actions: &[WebhookAction]) -> Vec<(&str, &Outcome)> {
    actions
        .iter()
        .map(|a| (a.webhook_type.as_str(), &a.outcome))
        .collect()
}

#[tokio::test]
async fn connect_creates_one_webhook_per_type_and_hands_back_each_secret_once() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    let actions = connector.register_webhooks(URL).await.expect("registered");
    assert_eq!(
        outcomes(&actions),
        [
            (SHIPMENT_UPDATE, &Outcome::Created),
            (INVENTORY_UPDATE, &Outcome::Created)
        ]
    );
    let registered = fake.webhooks();
    assert_eq!(registered.len(), 2);
    for (action, hook) in actions.iter().zip(&registered) {
        assert_eq!(
            (
                hook.name.as_str(),
                hook.url.as_str(),
                hook.shop_name.as_str()
            ),
            (action.webhook_type.as_str(), URL, SHOP)
        );
        assert_eq!(action.id, hook.id);
        assert_eq!(action.secret.as_deref(), Some(hook.secret.as_str()));
        // Neither what is printed as the action nor its Debug carries the secret.
        assert!(!action.to_string().contains(&hook.secret), "{action}");
        assert!(!format!("{action:?}").contains(&hook.secret), "{action:?}");
    }

    // With the returned secrets configured, both types' deliveries are accepted.
    let mut s = settings(&fake);
    s.webhook_secret = String::new();
    s.webhook_secrets = actions
        .iter()
        .map(|a| (a.webhook_type.clone(), a.secret.clone().unwrap_or_default()))
        .collect();
    let daemon = common::connector(s);
    let (headers, body) = fake.webhook(shipment_update(3, "S", "1001", &[("7", "MUG", 1)]));
    daemon
        .parse_webhook_report(&headers, &body)
        .expect("shipment");
    let (headers, body) = fake.webhook(inventory_update("MUG", 4));
    daemon
        .parse_webhook_report(&headers, &body)
        .expect("inventory");
}

#[tokio::test]
async fn connecting_again_keeps_the_webhooks_already_at_our_url() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    connector.register_webhooks(URL).await.expect("first");
    let before = fake.webhooks();
    let again = connector.register_webhooks(URL).await.expect("again");
    assert_eq!(
        outcomes(&again),
        [
            (SHIPMENT_UPDATE, &Outcome::Unchanged),
            (INVENTORY_UPDATE, &Outcome::Unchanged)
        ]
    );
    assert!(again.iter().all(|a| a.secret.is_none()), "{again:?}");
    assert_eq!(fake.webhooks(), before, "nothing created, nothing deleted");
    assert_eq!(creates(&fake), 2);
}

#[tokio::test]
async fn ours_pointing_elsewhere_is_recreated_here_and_others_webhooks_are_left_alone() {
    let fake = account().await;
    let old_secret = fake.register_webhook(SHIPMENT_UPDATE, "https://old.example.com/hook", SHOP);
    fake.register_webhook(INVENTORY_UPDATE, "https://erp.example.com/stock", "erp");
    let connector = connector(settings(&fake));
    let actions = connector.register_webhooks(URL).await.expect("registered");
    assert_eq!(
        outcomes(&actions),
        [
            (
                SHIPMENT_UPDATE,
                &Outcome::Replaced {
                    previous_url: "https://old.example.com/hook".into()
                }
            ),
            (INVENTORY_UPDATE, &Outcome::Created)
        ]
    );
    let shipments = actions[0].secret.clone().expect("a new secret");
    assert_ne!(
        shipments, old_secret,
        "a recreated webhook has a new secret"
    );
    let now: Vec<(String, String, String)> = fake
        .webhooks()
        .into_iter()
        .map(|h| (h.name, h.url, h.shop_name))
        .collect();
    assert_eq!(
        now,
        [
            (
                INVENTORY_UPDATE.into(),
                "https://erp.example.com/stock".into(),
                "erp".into()
            ),
            (SHIPMENT_UPDATE.into(), URL.into(), SHOP.into()),
            (INVENTORY_UPDATE.into(), URL.into(), SHOP.into()),
        ]
    );
}

#[tokio::test]
async fn a_failure_while_listing_creates_nothing_and_keeps_its_class() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    fake.fail_next(fake::Failure::ServerError);
    match connector.register_webhooks(URL).await {
        Err(ConnectorError::Retryable(message)) => {
            assert!(
                message.contains("listing the webhooks of wms-east"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    fake.fail_next(fake::Failure::TooManyRequests {
        retry_after_secs: 2.0,
    });
    assert!(matches!(
        connector.register_webhooks(URL).await,
        Err(ConnectorError::RateLimited { .. })
    ));
    fake.fail_next(fake::Failure::NotEnoughCredits);
    assert!(matches!(
        connector.register_webhooks(URL).await,
        Err(ConnectorError::RateLimited { .. })
    ));
    fake.fail_next(fake::Failure::Garbage);
    assert!(connector.register_webhooks(URL).await.is_err());
    assert!(fake.webhooks().is_empty());
    assert_eq!(creates(&fake), 0);
}

#[tokio::test]
async fn an_expired_token_is_renewed_during_registration() {
    let fake = account().await;
    let connector = connector(settings(&fake));
    fake.expire_token();
    let actions = connector.register_webhooks(URL).await.expect("renewed");
    assert_eq!(actions.len(), 2);
    assert_eq!(fake.stats().refreshes, 1);
}
