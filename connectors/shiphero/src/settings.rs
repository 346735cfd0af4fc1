//! What the daemon's config hands the connector: the API, resolved secrets, which ShipHero
//! warehouse is which of our locations, and whose orders ShipHero ships.

use std::collections::BTreeMap;
use std::time::Duration;

use omnistock_sdk::http::HttpSettings;
use omnistock_sdk::{ChannelId, LocationId};

use crate::connector::WEBHOOK_TYPES;

/// One ShipHero account, as the config describes it. Secrets arrive resolved.
#[derive(Clone, Debug)]
pub struct ShipHeroSettings {
    /// The channel's name, for messages (`wms-east`).
    pub channel: String,
    /// `https://public-api.shiphero.com` (the GraphQL endpoint is `/graphql`, the token
    /// refresh `/auth/refresh`); the fake's URI in tests.
    pub api_url: String,
    /// The bearer token (a JWT, valid 28 days).
    pub access_token: String,
    /// Renews the access token when ShipHero answers 401.
    pub refresh_token: String,
    /// One secret for every webhook type, as older configs have it; empty: none. ShipHero's
    /// `webhook_create` returns a secret per registered webhook, so with more than one type
    /// registered, `webhook_secrets` is what works.
    pub webhook_secret: String,
    /// The secret of `X-ShipHero-HMAC-SHA256` per webhook type (`Shipment Update` → the
    /// `shared_signature_secret` its `webhook_create` returned). A type without one falls
    /// back to `webhook_secret`; a type with neither is refused (401).
    pub webhook_secrets: BTreeMap<String, String>,
    /// ShipHero warehouse id (the base64 UUID, `V2FyZWhvdXNlOjc2NzMz`) → our location. A
    /// warehouse not in it is reported, never guessed.
    pub warehouses: BTreeMap<String, LocationId>,
    /// ShipHero shop name (`shop_name` on its orders) → the channel that took the order.
    pub order_channels: BTreeMap<String, ChannelId>,
    /// The channel of orders whose shop is not in `order_channels` (one online shop).
    pub orders_from: Option<ChannelId>,
    /// Whether cycle-count adjustments made in omnistock are pushed (inventory_add /
    /// inventory_remove). Off by default: ShipHero owns its counts.
    pub allow_adjustments: bool,
    pub http: HttpSettings,
    pub calls_per_second: f64,
    pub burst: u32,
    /// How often the on-hand of every warehouse is polled for changes.
    pub poll_interval: Duration,
}

pub const DEFAULT_API_URL: &str = "https://public-api.shiphero.com";
pub const DEFAULT_CALLS_PER_SECOND: f64 = 5.0;
pub const DEFAULT_BURST: u32 = 10;
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(60);

impl ShipHeroSettings {
    pub fn new(
        channel: impl Into<String>,
        api_url: impl Into<String>,
        access_token: impl Into<String>,
        refresh_token: impl Into<String>,
        webhook_secret: impl Into<String>,
    ) -> Self {
        Self {
            channel: channel.into(),
            api_url: api_url.into(),
            access_token: access_token.into(),
            refresh_token: refresh_token.into(),
            webhook_secret: webhook_secret.into(),
            webhook_secrets: BTreeMap::new(),
            warehouses: BTreeMap::new(),
            order_channels: BTreeMap::new(),
            orders_from: None,
            allow_adjustments: false,
            http: HttpSettings::new(concat!("omnistock-shiphero/", env!("CARGO_PKG_VERSION"))),
            calls_per_second: DEFAULT_CALLS_PER_SECOND,
            burst: DEFAULT_BURST,
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }

    /// Maps a ShipHero warehouse to ours.
    pub fn warehouse(mut self, shiphero: impl Into<String>, ours: LocationId) -> Self {
        self.warehouses.insert(shiphero.into(), ours);
        self
    }

    /// The secret of `webhook_type`'s webhook: its own, else the channel's single one.
    pub fn secret_for(&self, webhook_type: &str) -> Option<&str> {
        self.webhook_secrets
            .get(webhook_type)
            .map(String::as_str)
            .or(Some(self.webhook_secret.as_str()))
            .filter(|s| !s.is_empty())
    }

    /// Every secret a delivery may be signed with, each once.
    pub fn secrets(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self
            .webhook_secrets
            .values()
            .map(String::as_str)
            .chain(Some(self.webhook_secret.as_str()))
            .filter(|s| !s.is_empty())
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Every problem with the settings, each naming its field.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let url = self.api_url.trim_end_matches('/');
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            problems.push(format!("api_url: {:?} is not an http(s) URL", self.api_url));
        }
        for (field, value) in [
            ("access_token", &self.access_token),
            ("refresh_token", &self.refresh_token),
        ] {
            if value.is_empty() {
                problems.push(format!("{field}: empty"));
            }
        }
        for (webhook_type, secret) in &self.webhook_secrets {
            if !WEBHOOK_TYPES.contains(&webhook_type.as_str()) {
                problems.push(format!(
                    "webhook_secrets: {webhook_type:?} is not a webhook this connector handles ({})",
                    WEBHOOK_TYPES.join(", ")
                ));
            } else if secret.is_empty() {
                problems.push(format!("webhook_secrets: {webhook_type}: empty"));
            }
        }
        if self.warehouses.is_empty() {
            problems.push("warehouses: empty: no count could be placed".to_owned());
        }
        if !(self.calls_per_second.is_finite() && self.calls_per_second > 0.0) {
            problems.push(format!(
                "calls_per_second: {} is not a positive number",
                self.calls_per_second
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The channel whose order a ShipHero shop's order is, if the config says.
    pub fn order_channel(&self, shop_name: Option<&str>) -> Option<&ChannelId> {
        shop_name
            .and_then(|name| self.order_channels.get(name))
            .or(self.orders_from.as_ref())
    }
}
