//! Kits (bundles): SKUs sold as sets of other SKUs (`[kits.GIFTBOX] components = { MUG = 2,
//! TEA = 1 }`).
//!
//! A kit has no stock of its own. A sale of it reserves its components: each order-line
//! event of a kit becomes one event per component, with its own id (`{id}/{component}`), the
//! quantity times the component's count, and the line marked with the kit
//! (`{line}#kit:{KIT}`), before it is logged — so the log holds component events and a replay
//! does not depend on the kit's definition at the time. A kit's number on a channel is the
//! least its components allow: `min(component number ÷ count)`, rounded down. Components are
//! pooled like the channel pools them; whether they sit at one location to ship together is
//! not modelled.

use std::collections::BTreeMap;

use omnistock_sdk::{ChannelId, EventId, LocationId, Sku, StockChange, StockEvent};

use crate::allocation::{self, Availability, ChannelNumber, Conditions};
use crate::config::{Config, Kit};
use crate::state::{Lifecycle, LocationStock, SkuState};

/// What marks a component's order line as a kit's: `{line}#kit:{KIT}`.
const LINE_MARK: &str = "#kit:";

/// The events `event` stands for: its components' if it is about a kit, else itself.
/// A count or adjustment of a kit is refused: a kit has no stock of its own.
pub fn expand(config: &Config, event: StockEvent) -> Result<Vec<StockEvent>, &'static str> {
    let Some(kit) = config.kits.get(&event.sku) else {
        return Ok(vec![event]);
    };
    let kit_line = |line: &str| format!("{line}{LINE_MARK}{}", event.sku);
    let mut parts = Vec::with_capacity(kit.components.len());
    for (component, count) in &kit.components {
        let change = match &event.change {
            StockChange::LevelObserved { .. } | StockChange::Adjusted { .. } => {
                return Err("a kit has no stock of its own: count or adjust its components");
            }
            StockChange::OrderLineOpened {
                order,
                line,
                location,
                quantity,
            } => StockChange::OrderLineOpened {
                order: order.clone(),
                line: kit_line(line),
                location: location.clone(),
                quantity: quantity.saturating_mul(*count),
            },
            StockChange::OrderLineFulfilled {
                order,
                line,
                channel,
                quantity,
            } => StockChange::OrderLineFulfilled {
                order: order.clone(),
                line: kit_line(line),
                channel: channel.clone(),
                quantity: quantity.map(|kits| kits.saturating_mul(*count)),
            },
            StockChange::OrderLineCancelled {
                order,
                line,
                restocked,
            } => StockChange::OrderLineCancelled {
                order: order.clone(),
                line: kit_line(line),
                restocked: *restocked,
            },
        };
        let id = EventId::new(format!("{}/{component}", event.id))
            .map_err(|_| "the kit event's id is too long to name its components' events")?;
        parts.push(StockEvent {
            id,
            occurred_at: event.occurred_at,
            sku: component.clone(),
            change,
        });
    }
    Ok(parts)
}

/// Whether a component's order line is a kit's (the channel sold the kit, not the component).
pub fn is_kit_line(line: &str) -> bool {
    line.contains(LINE_MARK)
}

/// The kits `component` is part of.
pub fn kits_of<'c>(config: &'c Config, component: &'c Sku) -> impl Iterator<Item = &'c Sku> {
    config
        .kits
        .iter()
        .filter(move |(_, kit)| kit.components.iter().any(|(c, _)| c == component))
        .map(|(sku, _)| sku)
}

/// A kit's numbers from its components' states (a component with no state has none).
pub fn availability(
    kit: &Kit,
    states: &dyn Fn(&Sku) -> Option<SkuState>,
    config: &Config,
    conditions: &Conditions,
) -> Availability {
    let empty = SkuState::default();
    let parts: Vec<(Availability, u32)> = kit
        .components
        .iter()
        .map(|(component, count)| {
            let state = states(component);
            let numbers = allocation::availability(
                component,
                state.as_ref().unwrap_or(&empty),
                config,
                conditions,
            );
            (numbers, *count)
        })
        .collect();
    let least = |of: &dyn Fn(&Availability) -> Option<i64>| -> i64 {
        least(parts.iter().map(|(numbers, count)| (of(numbers), *count)))
    };
    let locations: BTreeMap<LocationId, LocationStock> = config
        .locations
        .keys()
        .map(|l| {
            let stock = LocationStock {
                on_hand: least(&|n| n.locations.get(l).map(|s| s.on_hand)),
                reserved: 0,
                safety: 0,
                available: least(&|n| n.locations.get(l).map(|s| s.available)),
            };
            (l.clone(), stock)
        })
        .collect();
    let channels = config
        .channels
        .iter()
        .map(|(id, channel)| {
            let number = ChannelNumber {
                available: least(&|n| n.channels.get(id).map(|c| c.available)),
                policy: "kit",
                buffer: 0,
                locations: channel.sells_from.clone(),
            };
            (id.clone(), number)
        })
        .collect();
    Availability {
        total: locations.values().map(|s| s.available).sum(),
        locations,
        channels,
    }
}

/// The kits available at `location`: the least, over the kit's components, of the
/// component's available units there (its safety stock kept back) ÷ its count. The number
/// [`availability`] gives the location; the escrow caps strict channels' kit raises by it
/// (`sync::escrow`), and takes the states as the writer holds them, without copies.
pub fn available_at<'s>(
    kit: &Kit,
    location: &LocationId,
    states: impl Fn(&Sku) -> Option<&'s SkuState>,
    config: &Config,
) -> i64 {
    least(kit.components.iter().map(|(component, count)| {
        let available = states(component).map(|state| {
            let safety = config.safety(component, location);
            state.stock_at(location, safety).available
        });
        (available, *count)
    }))
}

/// The kits some numbers of their components allow: the least of `number ÷ count`, rounded
/// down (a component without a number, or below 0, allows none; a kit without components
/// none either).
fn least(parts: impl IntoIterator<Item = (Option<i64>, u32)>) -> i64 {
    parts
        .into_iter()
        .map(|(number, count)| number.unwrap_or(0).max(0) / i64::from(count))
        .min()
        .unwrap_or(0)
}

/// Kits `channel` sold itself that it still keeps out of its own number: its kit lines on
/// the kit's first component, unless cancelled with a restock, in kits.
pub fn own_sold_kits(kit_sku: &Sku, kit: &Kit, first: &SkuState, channel: &ChannelId) -> i64 {
    let Some((_, count)) = kit.components.first() else {
        return 0;
    };
    let mark = format!("{LINE_MARK}{kit_sku}");
    let units: i64 = first
        .replica
        .reservations
        .iter()
        .filter(|(key, r)| {
            &key.channel == channel
                && key.line.ends_with(&mark)
                && !matches!(
                    r.lifecycle,
                    Lifecycle::Cancelled {
                        restocked: true,
                        ..
                    }
                )
        })
        .filter_map(|(_, r)| r.details.as_ref())
        .map(|d| i64::from(d.quantity))
        .sum();
    units / i64::from(*count)
}

#[cfg(test)]
mod tests {
    use omnistock_sdk::{EventId, OrderId, Sku, StockChange, StockEvent, Timestamp};

    use super::*;

    #[test]
    fn a_kit_is_available_at_a_location_as_its_scarcest_component_allows() {
        let mut config = crate::config::for_tests_owned(
            "wh",
            "wms",
            &[],
            "[kits.GIFTBOX]\ncomponents = { MUG = 2, TEA = 1 }\n",
        );
        let wh = LocationId::new("wh").expect("location");
        if let Some(location) = config.locations.get_mut(&wh) {
            location.safety = 1;
        }
        let kit = &config.kits[&Sku::new("GIFTBOX").expect("sku")];
        let (mug, tea) = (Sku::new("MUG").expect("sku"), Sku::new("TEA").expect("sku"));
        let mut states = std::collections::HashMap::from([(
            mug.clone(),
            SkuState::counted_for_tests(&mug, &wh, 7, &config),
        )]);
        assert_eq!(
            available_at(kit, &wh, |c| states.get(c), &config),
            0,
            "no TEA: no kit"
        );
        states.insert(
            tea.clone(),
            SkuState::counted_for_tests(&tea, &wh, 4, &config),
        );
        // MUG: (7 - 1) ÷ 2 = 3; TEA: 4 - 1 = 3.
        assert_eq!(available_at(kit, &wh, |c| states.get(c), &config), 3);
        // One MUG less: (6 - 1) ÷ 2 = 2, rounded down.
        states.insert(
            mug.clone(),
            SkuState::counted_for_tests(&mug, &wh, 6, &config),
        );
        let at_wh = available_at(kit, &wh, |c| states.get(c), &config);
        assert_eq!(at_wh, 2);
        let conditions = Conditions {
            now: Timestamp::EPOCH,
            lag_seconds: Default::default(),
        };
        let numbers = availability(kit, &|c| states.get(c).cloned(), &config, &conditions);
        assert_eq!(
            numbers.locations[&wh].available, at_wh,
            "the number the API shows for the location"
        );
    }

    #[test]
    fn a_kits_partial_shipment_ships_its_components_units() {
        let config = crate::config::for_tests_owned(
            "wh",
            "wms",
            &[],
            "[kits.GIFTBOX]\ncomponents = { MUG = 2, TEA = 1 }\n",
        );
        let shipped = |quantity| StockEvent {
            id: EventId::new("ship-1").expect("id"),
            occurred_at: Timestamp::EPOCH,
            sku: Sku::new("GIFTBOX").expect("sku"),
            change: StockChange::OrderLineFulfilled {
                order: OrderId::new("1001").expect("id"),
                line: "1".to_owned(),
                channel: None,
                quantity,
            },
        };
        let units = |events: Vec<StockEvent>| -> Vec<(String, Option<u32>)> {
            events
                .into_iter()
                .map(|e| match e.change {
                    StockChange::OrderLineFulfilled { quantity, .. } => {
                        (e.sku.to_string(), quantity)
                    }
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let parts = expand(&config, shipped(Some(3))).expect("a kit's shipment");
        assert_eq!(
            units(parts),
            vec![("MUG".to_owned(), Some(6)), ("TEA".to_owned(), Some(3))]
        );
        let whole = expand(&config, shipped(None)).expect("a kit's shipment");
        assert_eq!(
            units(whole),
            vec![("MUG".to_owned(), None), ("TEA".to_owned(), None)]
        );
    }
}
