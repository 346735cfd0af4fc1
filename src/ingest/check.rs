//! Checks an authenticated channel's events against the configuration before anything is
//! written: a payload that breaks the rules gets a 400 naming the field, and touches nothing.

use omnistock_sdk::{ChannelId, LocationId, StockChange, StockEvent};

use crate::config::Config;

/// An event that breaks the rules, with the path of the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Refused {
    /// `events[3].change.location`
    pub field: String,
    pub message: String,
}

/// Checks every event of one request from `channel` (or from an operator, when `manual`).
pub fn check_events(
    config: &Config,
    channel: &ChannelId,
    manual: bool,
    events: &[StockEvent],
) -> Result<(), Refused> {
    for (i, event) in events.iter().enumerate() {
        check_event(config, channel, manual, event).map_err(|(field, message)| Refused {
            field: format!("events[{i}].{field}"),
            message,
        })?;
    }
    Ok(())
}

fn check_event(
    config: &Config,
    channel: &ChannelId,
    manual: bool,
    event: &StockEvent,
) -> Result<(), (&'static str, String)> {
    if let (Some(kit), StockChange::LevelObserved { .. } | StockChange::Adjusted { .. }) =
        (config.kits.get(&event.sku), &event.change)
    {
        let parts: Vec<&str> = kit.components.iter().map(|(c, _)| c.as_str()).collect();
        return Err((
            "sku",
            format!(
                "\"{}\" is a kit ([kits.{}] in {}): it has no stock of its own; count or adjust its components ({})",
                event.sku,
                event.sku,
                config.source.display(),
                parts.join(", ")
            ),
        ));
    }
    let Some(location) = event.change.location() else {
        return Ok(());
    };
    let Some(configured) = config.locations.get(location) else {
        let known: Vec<&str> = config.locations.keys().map(LocationId::as_str).collect();
        return Err((
            "change.location",
            format!(
                "unknown location \"{}\" (configured: {})",
                location,
                known.join(", ")
            ),
        ));
    };
    match &event.change {
        StockChange::Adjusted { .. } if !manual && &configured.owner != channel => Err((
            "change",
            format!(
                "channel \"{channel}\" does not own location \"{location}\" (its owner is \"{}\"); only the owner's \
                 adjustments change on hand — report this channel's sales as order lines",
                configured.owner
            ),
        )),
        StockChange::OrderLineOpened { quantity: 0, .. } => Err((
            "change.quantity",
            "an order line holds at least 1 unit".to_owned(),
        )),
        StockChange::OrderLineOpened { .. } if !sells_from(config, channel, location) => Err((
            "change.location",
            format!(
                "channel \"{channel}\" does not sell from location \"{location}\" (see channels.{channel}.sells_from)"
            ),
        )),
        _ => Ok(()),
    }
}

fn sells_from(config: &Config, channel: &ChannelId, location: &LocationId) -> bool {
    config
        .channels
        .get(channel)
        .is_some_and(|c| c.sells_from.contains(location))
}
