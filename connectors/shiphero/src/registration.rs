//! `omnistock connect wms-east`: one ShipHero webhook per type the connector handles
//! ([`WEBHOOK_TYPES`]), delivering to our URL, each registered once.
//!
//! ShipHero's `webhook_create` returns the new webhook's `shared_signature_secret` once and
//! never again, and a webhook cannot be edited, only deleted and created anew. So: the
//! webhooks are listed first (`webhooks`); one of the type already delivering to our URL is
//! kept (its secret is the one already configured); ours (`shop_name` `omnistock-<channel>`)
//! pointing elsewhere is deleted and created again; otherwise one is created. A created
//! webhook's secret is handed back in [`WebhookAction::secret`] for the caller to show once:
//! it is in no `Display`, no `Debug` and no log line.
//!
//! Fields and mutations as ShipHero's webhooks page and public client code show them
//! (`webhook_create(data: { name, url, shop_name })` → `webhook { id … shared_signature_secret }`,
//! `webhook_delete(data: { name, shop_name })`, `webhooks { data { edges { node … } } }`); the
//! input type names `CreateWebhookInput` / `DeleteWebhookInput` are [unv] against the schema.

use std::fmt;

use serde::Deserialize;
use serde_json::json;

use crate::connector::{PAGE_SIZE, ShipHeroConnector, WEBHOOK_TYPES};
use crate::graphql;
use omnistock_sdk::ConnectorError;

pub const WEBHOOKS_QUERY: &str = "query Webhooks($first: Int, $after: String) { webhooks { request_id complexity \
data(first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id legacy_id shop_name name url } } } } }";

pub const CREATE_MUTATION: &str = "mutation Create($data: CreateWebhookInput!) { webhook_create(data: $data) { request_id complexity \
webhook { id legacy_id shop_name name url shared_signature_secret } } }";

pub const DELETE_MUTATION: &str = "mutation Delete($data: DeleteWebhookInput!) { webhook_delete(data: $data) { request_id complexity } }";

/// What registration did for one webhook type.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookAction {
    /// `Shipment Update`.
    pub webhook_type: String,
    /// ShipHero's id of the webhook now delivering it.
    pub id: String,
    pub outcome: Outcome,
    /// The new webhook's `shared_signature_secret` (`Created`, `Replaced`), shown once.
    pub secret: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    /// Ours pointed at `previous_url`: deleted, and created again at our URL (ShipHero
    /// cannot change a webhook's URL). Its secret changed.
    Replaced {
        previous_url: String,
    },
    /// Already delivering to our URL; its secret is unchanged.
    Unchanged,
}

impl fmt::Display for WebhookAction {
    /// Never the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, id) = (&self.webhook_type, &self.id);
        match &self.outcome {
            Outcome::Created => write!(f, "{kind}: created webhook {id}"),
            Outcome::Replaced { previous_url } => write!(
                f,
                "{kind}: webhook pointed at {previous_url}; deleted and created again here as {id}"
            ),
            Outcome::Unchanged => write!(f, "{kind}: already registered ({id}), secret unchanged"),
        }
    }
}

impl fmt::Debug for WebhookAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookAction")
            .field("webhook_type", &self.webhook_type)
            .field("id", &self.id)
            .field("outcome", &self.outcome)
            .field("secret", &self.secret.as_ref().map(|_| "redacted"))
            .finish()
    }
}

#[derive(Deserialize)]
struct ListData {
    webhooks: graphql::Connection<Webhook>,
}

#[derive(Clone, Debug, Deserialize)]
struct Webhook {
    id: String,
    name: String,
    url: String,
    #[serde(default)]
    shop_name: Option<String>,
}

#[derive(Deserialize)]
struct CreateData {
    webhook_create: Created,
}

#[derive(Deserialize)]
struct Created {
    webhook: CreatedWebhook,
}

#[derive(Deserialize)]
struct CreatedWebhook {
    id: String,
    shared_signature_secret: String,
}

impl ShipHeroConnector {
    /// The `shop_name` our webhooks are registered under: it tells ours from others'.
    pub fn webhook_shop_name(&self) -> String {
        format!("omnistock-{}", self.settings().channel)
    }

    /// Makes each webhook type we handle deliver to `url` (our public
    /// `https://…/v1/webhooks/<channel>`); see the module doc.
    pub async fn register_webhooks(&self, url: &str) -> Result<Vec<WebhookAction>, ConnectorError> {
        let existing = self.list_webhooks().await?;
        let shop_name = self.webhook_shop_name();
        let mut actions = Vec::new();
        for kind in WEBHOOK_TYPES {
            let webhook_type = (*kind).to_owned();
            let here = existing.iter().find(|w| w.name == *kind && w.url == url);
            let ours = existing
                .iter()
                .find(|w| w.name == *kind && w.shop_name.as_deref() == Some(shop_name.as_str()));
            let action = match (here, ours) {
                (Some(hook), _) => WebhookAction {
                    webhook_type,
                    id: hook.id.clone(),
                    outcome: Outcome::Unchanged,
                    secret: None,
                },
                (None, Some(hook)) => {
                    self.delete_webhook(kind, &shop_name).await?;
                    let (id, secret) = self.create_webhook(kind, url, &shop_name).await?;
                    WebhookAction {
                        webhook_type,
                        id,
                        outcome: Outcome::Replaced {
                            previous_url: hook.url.clone(),
                        },
                        secret: Some(secret),
                    }
                }
                (None, None) => {
                    let (id, secret) = self.create_webhook(kind, url, &shop_name).await?;
                    WebhookAction {
                        webhook_type,
                        id,
                        outcome: Outcome::Created,
                        secret: Some(secret),
                    }
                }
            };
            actions.push(action);
        }
        Ok(actions)
    }

    async fn list_webhooks(&self) -> Result<Vec<Webhook>, ConnectorError> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let action = format!("listing the webhooks of {}", self.settings().channel);
            let data: ListData = self
                .graphql()
                .call(
                    &action,
                    WEBHOOKS_QUERY,
                    json!({ "first": PAGE_SIZE, "after": after }),
                )
                .await?;
            let page = data.webhooks.data;
            all.extend(page.edges.into_iter().map(|e| e.node));
            match (page.page_info.has_next_page, page.page_info.end_cursor) {
                (true, Some(end)) => after = Some(end),
                _ => return Ok(all),
            }
        }
    }

    /// Creates one webhook; its id and secret.
    async fn create_webhook(
        &self,
        kind: &str,
        url: &str,
        shop_name: &str,
    ) -> Result<(String, String), ConnectorError> {
        let action = format!("creating the {kind} webhook of {}", self.settings().channel);
        let data: CreateData = self
            .graphql()
            .call(
                &action,
                CREATE_MUTATION,
                json!({ "data": { "name": kind, "url": url, "shop_name": shop_name } }),
            )
            .await?;
        let hook = data.webhook_create.webhook;
        if hook.shared_signature_secret.is_empty() {
            return Err(ConnectorError::Permanent(format!(
                "{action}: ShipHero returned no shared_signature_secret; delete webhook {} and connect again",
                hook.id
            )));
        }
        Ok((hook.id, hook.shared_signature_secret))
    }

    async fn delete_webhook(&self, kind: &str, shop_name: &str) -> Result<(), ConnectorError> {
        let action = format!(
            "deleting the {kind} webhook of {} to point it here",
            self.settings().channel
        );
        let _: serde_json::Value = self
            .graphql()
            .call(
                &action,
                DELETE_MUTATION,
                json!({ "data": { "name": kind, "shop_name": shop_name } }),
            )
            .await?;
        Ok(())
    }
}
