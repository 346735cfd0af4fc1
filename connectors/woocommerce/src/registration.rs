//! `omnistock connect woo-eu`: webhooks created, re-pointed or re-enabled so each topic we
//! handle is delivered to our URL with our secret, and the check of whether the shop
//! honours `inventory_delta`.
//!
//! WooCommerce disables a webhook after more than 5 failed deliveries in a row and never
//! tells anyone; connecting again notices (`Reactivated`) and turns it back on. The secret is
//! sent on every create and update: WooCommerce never shows it back, so we cannot check it.

use std::fmt;

use omnistock_sdk::ConnectorError;
use serde_json::json;

use crate::api::{PAGE_SIZE, Product, Webhook};
use crate::catalog::{Judged, judge};
use crate::connector::{WEBHOOK_TOPICS, WooConnector};
use crate::item::WooItem;

/// What registration did for one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookAction {
    Created {
        topic: String,
        id: u64,
    },
    /// A webhook of ours pointed elsewhere; it now points at our URL.
    Updated {
        topic: String,
        id: u64,
        previous_url: String,
    },
    /// WooCommerce had set it to `status` (disabled after failed deliveries); active again.
    Reactivated {
        topic: String,
        id: u64,
        status: String,
    },
    Unchanged {
        topic: String,
        id: u64,
    },
}

impl fmt::Display for WebhookAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Created { topic, id } => write!(f, "{topic}: created webhook {id}"),
            Self::Updated {
                topic,
                id,
                previous_url,
            } => {
                write!(
                    f,
                    "{topic}: webhook {id} now points here (was {previous_url})"
                )
            }
            Self::Reactivated { topic, id, status } => write!(
                f,
                "{topic}: webhook {id} was {status} (WooCommerce disables a webhook after 5 failed deliveries); reactivated"
            ),
            Self::Unchanged { topic, id } => write!(f, "{topic}: already registered ({id})"),
        }
    }
}

/// What the `inventory_delta` check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeltaProbe {
    /// `+1` moved the number by one (and `-1` put it back).
    Honoured { item: String },
    /// `+1` left the number as it was: the shop ignores `inventory_delta`.
    Ignored { item: String },
    /// The number moved by something else meanwhile; run the check again.
    Inconclusive { item: String },
    /// No product manages its stock: nothing to check with.
    NothingToCheck,
}

impl fmt::Display for DeltaProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Honoured { item } => write!(
                f,
                "inventory_delta: honoured (checked on {item}); set inventory_delta = true"
            ),
            Self::Ignored { item } => write!(
                f,
                "inventory_delta: ignored (checked on {item}); keep inventory_delta = false"
            ),
            Self::Inconclusive { item } => write!(
                f,
                "inventory_delta: inconclusive ({item} changed meanwhile); connect again to check"
            ),
            Self::NothingToCheck => write!(
                f,
                "inventory_delta: not checked (no product manages its stock)"
            ),
        }
    }
}

impl WooConnector {
    fn webhook_name(&self, topic: &str) -> String {
        format!("omnistock {} {topic}", self.settings.channel)
    }

    /// Creates, re-points or re-enables one webhook per topic we handle so each delivers to
    /// `url` (our public `https://…/v1/webhooks/<channel>`).
    pub async fn register_webhooks(&self, url: &str) -> Result<Vec<WebhookAction>, ConnectorError> {
        let existing = self.webhooks().await?;
        let secret = &self.settings.webhook_secret;
        let mut actions = Vec::new();
        for topic in WEBHOOK_TOPICS {
            let topic = (*topic).to_owned();
            let name = self.webhook_name(&topic);
            let same = existing
                .iter()
                .find(|w| w.topic == topic && w.delivery_url == url);
            let ours = existing.iter().find(|w| w.topic == topic && w.name == name);
            let action = match (same, ours) {
                (Some(hook), _) if hook.status == "active" => {
                    WebhookAction::Unchanged { topic, id: hook.id }
                }
                (Some(hook), _) => {
                    self.update_webhook(hook.id, json!({ "status": "active", "secret": secret }))
                        .await?;
                    WebhookAction::Reactivated {
                        topic,
                        id: hook.id,
                        status: hook.status.clone(),
                    }
                }
                (None, Some(hook)) => {
                    self.update_webhook(
                        hook.id,
                        json!({ "delivery_url": url, "status": "active", "secret": secret }),
                    )
                    .await?;
                    WebhookAction::Updated {
                        topic,
                        id: hook.id,
                        previous_url: hook.delivery_url.clone(),
                    }
                }
                (None, None) => {
                    let what = format!("creating the {topic} webhook of {}", self.settings.channel);
                    let created: Webhook = self
                        .rest
                        .send(
                            reqwest::Method::POST,
                            "/webhooks",
                            &json!({ "name": name, "topic": topic, "delivery_url": url, "secret": secret, "status": "active" }),
                            &what,
                        )
                        .await?;
                    WebhookAction::Created {
                        topic,
                        id: created.id,
                    }
                }
            };
            actions.push(action);
        }
        Ok(actions)
    }

    /// Our webhooks that WooCommerce no longer delivers (`disabled` after failures, `paused`).
    pub async fn inactive_webhooks(&self) -> Result<Vec<Webhook>, ConnectorError> {
        Ok(self
            .webhooks()
            .await?
            .into_iter()
            .filter(|w| w.name.starts_with(&self.webhook_name("")) && w.status != "active")
            .collect())
    }

    async fn update_webhook(&self, id: u64, body: serde_json::Value) -> Result<(), ConnectorError> {
        let what = format!("updating webhook {id} of {}", self.settings.channel);
        let _: Webhook = self
            .rest
            .send(
                reqwest::Method::PUT,
                &format!("/webhooks/{id}"),
                &body,
                &what,
            )
            .await?;
        Ok(())
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>, ConnectorError> {
        let mut all = Vec::new();
        let mut page = 1;
        loop {
            let action = format!(
                "listing the webhooks of {} (page {page})",
                self.settings.channel
            );
            let (batch, paging): (Vec<Webhook>, _) = self
                .rest
                .get(
                    "/webhooks",
                    &[
                        ("per_page", PAGE_SIZE.to_string()),
                        ("page", page.to_string()),
                    ],
                    &action,
                )
                .await?;
            all.extend(batch);
            if !paging.has_after(page) {
                return Ok(all);
            }
            page += 1;
        }
    }

    /// Checks whether the shop honours `inventory_delta`: `+1` on the first simple product
    /// that manages its stock, then `-1` to put it back if it moved. Both are server-side
    /// changes, so a sale in between is kept; if the shop ignores the field, neither changes
    /// anything. The number shows one more unit for the moment between the two calls.
    pub async fn probe_inventory_delta(&self) -> Result<DeltaProbe, ConnectorError> {
        let action = format!(
            "finding a product to check inventory_delta on {}",
            self.settings.channel
        );
        let (products, _): (Vec<Product>, _) = self
            .rest
            .get(
                "/products",
                &[
                    ("per_page", PAGE_SIZE.to_string()),
                    ("type", "simple".into()),
                ],
                &action,
            )
            .await?;
        let Some((id, before)) =
            products
                .iter()
                .find_map(|p| match judge(WooItem::Product(p.id), p) {
                    Judged::Level { available, .. } => Some((p.id, available)),
                    _ => None,
                })
        else {
            return Ok(DeltaProbe::NothingToCheck);
        };
        let item = id.to_string();
        let after = self.nudge(id, 1).await?;
        Ok(match after {
            Some(n) if n == before + 1 => {
                self.nudge(id, -1).await?;
                DeltaProbe::Honoured { item }
            }
            Some(n) if n == before => DeltaProbe::Ignored { item },
            _ => DeltaProbe::Inconclusive { item },
        })
    }

    async fn nudge(&self, id: u64, by: i64) -> Result<Option<i64>, ConnectorError> {
        let action = format!(
            "checking inventory_delta on product {id} of {}",
            self.settings.channel
        );
        let answers = self
            .rest
            .batch_update(
                "/products",
                vec![json!({ "id": id, "inventory_delta": by })],
                &action,
            )
            .await?;
        match answers.into_iter().next() {
            Some(crate::api::BatchItem::Saved(p)) => Ok(p.stock_quantity),
            Some(crate::api::BatchItem::Failed { error, .. }) => {
                Err(ConnectorError::Permanent(format!("{action}: {error}")))
            }
            None => Err(ConnectorError::Retryable(format!("{action}: empty answer"))),
        }
    }
}
