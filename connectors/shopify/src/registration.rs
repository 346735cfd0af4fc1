//! Webhook subscriptions: make Shopify send every topic we handle to our public URL, and say
//! what was done (for `omnistock connect shopify-main`, or a start with registration on).

use std::fmt;

use omnistock_sdk::ConnectorError;
use serde_json::json;

use crate::connector::{ShopifyConnector, WEBHOOK_TOPICS};
use crate::queries::{self, MUTATION_COST, WebhookNode};

/// What registration did for one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookAction {
    /// No subscription for the topic existed; one was created.
    Created { topic: String, id: String },
    /// A subscription pointed elsewhere; it now points at our URI.
    Updated {
        topic: String,
        id: String,
        previous_uri: String,
    },
    /// A subscription already pointed at our URI.
    Unchanged { topic: String, id: String },
}

impl fmt::Display for WebhookAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Created { topic, id } => write!(f, "{topic}: created {id}"),
            Self::Updated {
                topic,
                id,
                previous_uri,
            } => write!(f, "{topic}: updated {id} (was {previous_uri})"),
            Self::Unchanged { topic, id } => write!(f, "{topic}: already registered ({id})"),
        }
    }
}

/// `inventory_levels/update` → `INVENTORY_LEVELS_UPDATE`.
pub fn topic_enum(topic: &str) -> String {
    topic.replace('/', "_").to_ascii_uppercase()
}

impl ShopifyConnector {
    /// Lists the app's webhook subscriptions and creates or updates one per topic we handle
    /// so each delivers to `uri` (our public `https://…/webhooks/<channel>`).
    pub async fn register_webhooks(&self, uri: &str) -> Result<Vec<WebhookAction>, ConnectorError> {
        let existing = self.webhook_subscriptions().await?;
        let mut actions = Vec::new();
        for topic in WEBHOOK_TOPICS {
            let name = topic_enum(topic);
            let mine: Vec<&WebhookNode> = existing.iter().filter(|s| s.topic == name).collect();
            if let Some(same) = mine.iter().find(|s| s.uri.as_deref() == Some(uri)) {
                actions.push(WebhookAction::Unchanged {
                    topic: (*topic).to_owned(),
                    id: same.id.clone(),
                });
            } else if let Some(other) = mine.first() {
                let action = format!(
                    "pointing the {topic} webhook of {} at {uri}",
                    self.settings.channel
                );
                let data: queries::WebhookUpdateData = self
                    .graphql
                    .call(
                        &action,
                        queries::WEBHOOK_UPDATE,
                        json!({ "id": other.id, "webhookSubscription": { "uri": uri } }),
                        MUTATION_COST,
                    )
                    .await?;
                let node = accepted(data.webhook_subscription_update, &action)?;
                actions.push(WebhookAction::Updated {
                    topic: (*topic).to_owned(),
                    id: node.id,
                    previous_uri: other.uri.clone().unwrap_or_default(),
                });
            } else {
                let action = format!("subscribing {} to {topic}", self.settings.channel);
                let data: queries::WebhookCreateData = self
                    .graphql
                    .call(
                        &action,
                        queries::WEBHOOK_CREATE,
                        json!({ "topic": name, "webhookSubscription": { "uri": uri, "format": "JSON" } }),
                        MUTATION_COST,
                    )
                    .await?;
                let node = accepted(data.webhook_subscription_create, &action)?;
                actions.push(WebhookAction::Created {
                    topic: (*topic).to_owned(),
                    id: node.id,
                });
            }
        }
        Ok(actions)
    }

    async fn webhook_subscriptions(&self) -> Result<Vec<WebhookNode>, ConnectorError> {
        let action = format!(
            "listing the webhook subscriptions of {}",
            self.settings.channel
        );
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let data: queries::WebhooksData = self
                .graphql
                .call(
                    &action,
                    queries::WEBHOOKS_QUERY,
                    json!({ "after": after }),
                    2.0 + 100.0,
                )
                .await?;
            let subs = data.webhook_subscriptions;
            all.extend(subs.edges.into_iter().map(|e| e.node));
            match subs
                .page_info
                .filter(|p| p.has_next_page)
                .and_then(|p| p.end_cursor)
            {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }
}

fn accepted(payload: queries::WebhookPayload, action: &str) -> Result<WebhookNode, ConnectorError> {
    if !payload.user_errors.is_empty() {
        let text: Vec<String> = payload.user_errors.into_iter().map(|e| e.message).collect();
        return Err(ConnectorError::Permanent(format!(
            "{action}: {}",
            text.join("; ")
        )));
    }
    payload.webhook_subscription.ok_or_else(|| {
        ConnectorError::Retryable(format!("{action}: no subscription in the answer"))
    })
}
