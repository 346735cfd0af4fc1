//! Builds each channel's connector from its configuration: the one place channel kinds are
//! matched to connector crates.

use std::sync::Arc;
use std::time::Duration;

use omnistock_generic::{GenericConnector, GenericSettings};
use omnistock_sdk::{ChannelId, Connector, ConnectorError, LocationId};

use crate::config::{ChannelConfig, ChannelKind};

/// How long one call to a channel may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A pushing channel's connector and the location its number is reported at.
pub struct PushSide {
    pub connector: Arc<dyn Connector>,
    pub location: LocationId,
}

/// A pushing channel's push side; `None` for a channel without one.
pub fn build(id: &ChannelId, channel: &ChannelConfig) -> Result<Option<PushSide>, ConnectorError> {
    let Some(location) = channel.sells_from.first().cloned() else {
        return Ok(None);
    };
    match &channel.kind {
        ChannelKind::Generic { push_url: None, .. } => Ok(None),
        ChannelKind::Generic {
            push_url: Some(url),
            webhook_secret,
        } => {
            let connector = GenericConnector::new(GenericSettings {
                channel: id.clone(),
                push_url: url.clone(),
                secret: webhook_secret.expose().to_owned(),
                location: location.clone(),
                max_batch: channel.limits.max_batch,
                calls_per_second: channel.limits.per_second,
                burst: channel.limits.burst,
                timeout: CALL_TIMEOUT,
            })?;
            Ok(Some(PushSide {
                connector: Arc::new(connector),
                location,
            }))
        }
    }
}
