//! Builds the warehouse kinds' connectors (`shiphero`, `file_feed`) from their config.
//!
//! Both own their warehouse locations: their counts are the truth there, so they are never
//! pushed a number, nor holds (neither takes holds: ShipHero allocates its own orders).
//! ShipHero's `allow_adjustments` turns on its delta form for cycle-count adjustments made in
//! omnistock, pushed at the warehouse it owns (`sync::connectors`, `Shown::Mirror`).

use omnistock_file_feed::{FileFeedConnector, FileFeedSettings};
use omnistock_sdk::{ChannelId, ConnectorError};
use omnistock_shiphero::{ShipHeroConnector, ShipHeroSettings};

use crate::config::{ChannelConfig, FileFeedChannel, ShipHeroChannel};

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
        wms.webhook_secret.expose(),
    );
    settings.warehouses = wms.warehouses.clone();
    settings.order_channels = wms.order_channels.clone();
    settings.orders_from = wms.orders_from.clone();
    settings.allow_adjustments = wms.allow_adjustments;
    settings.poll_interval = wms.poll_interval;
    settings.calls_per_second = channel.limits.per_second;
    settings.burst = channel.limits.burst;
    ShipHeroConnector::new(settings)
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
