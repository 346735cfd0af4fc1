//! Builds the warehouse kinds' connectors (`shiphero`, `file_feed`) from their config.
//!
//! Both own their warehouse locations: their counts are the truth there, so they are never
//! pushed a number, nor holds (neither takes holds: ShipHero allocates its own orders).
//! ShipHero's `allow_adjustments` turns on its delta form for cycle-count adjustments made in
//! omnistock, pushed at the warehouse it owns (`sync::connectors`, `Shown::Mirror`).

use omnistock_file_feed::{FileFeedConnector, FileFeedSettings};
use omnistock_sdk::{ChannelId, ConnectorError};
use omnistock_shiphero::connector::WEBHOOK_TYPES;
use omnistock_shiphero::webhooks::config_key;
use omnistock_shiphero::{ShipHeroConnector, ShipHeroSettings};

use crate::config::{ChannelConfig, FileFeedChannel, Secret, ShipHeroChannel};

pub(super) fn shiphero(
    id: &ChannelId,
    channel: &ChannelConfig,
    wms: &ShipHeroChannel,
) -> Result<ShipHeroConnector, ConnectorError> {
    let mut settings = ShipHeroSettings::new(
        id.as_str(),
        wms.api_url.clone(),
        wms.access_token.expose(),
        wms.refresh_token.expose(),
        wms.webhook_secret.as_ref().map_or("", Secret::expose),
    );
    settings.webhook_secrets = wms
        .webhook_secrets
        .iter()
        .map(|(kind, secret)| (kind.clone(), secret.expose().to_owned()))
        .collect();
    settings.warehouses = wms.warehouses.clone();
    settings.order_channels = wms.order_channels.clone();
    settings.orders_from = wms.orders_from.clone();
    settings.allow_adjustments = wms.allow_adjustments;
    settings.poll_interval = wms.poll_interval;
    settings.calls_per_second = channel.limits.per_second;
    settings.burst = channel.limits.burst;
    ShipHeroConnector::new(settings)
}

/// Warns of each webhook type the daemon will refuse for want of its secret.
pub(super) fn warn_unsigned(id: &ChannelId, connector: &ShipHeroConnector) {
    for kind in WEBHOOK_TYPES {
        if connector.settings().secret_for(kind).is_none() {
            tracing::warn!(
                channel = %id,
                webhook = %kind,
                "No secret for these ShipHero webhooks: they are refused until `omnistock connect` registers them and webhook_secrets names their secret."
            );
        }
    }
}

/// `omnistock connect` for ShipHero: registers its webhooks at `uri` and says, for each one
/// created, its secret (shown this once: ShipHero never shows it again) and where the config
/// reads it from. The lines go to the terminal only, never to the log.
pub(super) async fn register_shiphero(
    id: &ChannelId,
    channel: &ChannelConfig,
    wms: &ShipHeroChannel,
    uri: &str,
) -> Result<Vec<String>, ConnectorError> {
    let connector = shiphero(id, channel, wms)?;
    let actions = connector.register_webhooks(uri).await?;
    Ok(actions
        .iter()
        .map(|action| {
            let key = config_key(&action.webhook_type);
            match &action.secret {
                Some(secret) => format!(
                    "{action}; its secret, shown this once: {secret}\n    {}; then restart omnistock",
                    where_to_put(id, wms, &action.webhook_type, &key)
                ),
                None if connector.settings().secret_for(&action.webhook_type).is_none() => {
                    format!(
                        "{action}, but no secret is configured for it: ShipHero showed it once, \
                         when it was created; if it is lost, delete the webhook in ShipHero and \
                         connect again"
                    )
                }
                None => action.to_string(),
            }
        })
        .collect())
}

/// Where the config reads the secret of `webhook_type` from, or what to add to it.
fn where_to_put(id: &ChannelId, wms: &ShipHeroChannel, webhook_type: &str, key: &str) -> String {
    match wms.webhook_secrets.get(webhook_type) {
        Some(secret) => format!(
            "put it in {}, where webhook_secrets.{key} of channels.{id} reads it",
            secret.origin
        ),
        None => {
            let env = format!("SHIPHERO_{id}_{key}_SECRET")
                .to_ascii_uppercase()
                .replace(['-', '.'], "_");
            format!(
                "put it in environment variable {env} (or a credential file) and add \
                 {key} = {{ env = \"{env}\" }} to webhook_secrets of [channels.{id}]"
            )
        }
    }
}

pub(super) fn file_feed(
    id: &ChannelId,
    feed: &FileFeedChannel,
) -> Result<FileFeedConnector, ConnectorError> {
    let mut settings = FileFeedSettings::new(
        id.as_str(),
        feed.directory.clone(),
        feed.format.clone(),
        feed.default_location.clone(),
    );
    settings.locations = feed.locations.clone();
    settings.poll_interval = feed.poll_interval;
    FileFeedConnector::new(settings)
}
