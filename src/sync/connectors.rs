//! Builds each channel's connector from its configuration: the one place channel kinds are
//! matched to connector crates.

use std::sync::Arc;
use std::time::Duration;

use omnistock_generic::{GenericConnector, GenericSettings};
use omnistock_sdk::{ChannelId, Connector, ConnectorError, LocationId};

use crate::config::{ChannelConfig, ChannelKind};

/// How long one call to a channel may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A pushing channel's connector and the location its number is reported at; `None` for a
/// channel without a push side.
pub fn build(id: &ChannelId, channel: &ChannelConfig) -> Result<Option<(Arc<dyn Connector>, LocationId)>, ConnectorError> {
    let Some(location) = channel.sells_from.first().cloned() else { return Ok(None) };
    match &channel.kind {
        ChannelKind::Generic { push_url: None, .. } => Ok(None),
        ChannelKind::Generic { push_url: Some(url), webhook_secret } => {
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
            Ok(Some((Arc::new(connector), location)))
        }
    }
}
