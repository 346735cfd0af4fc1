//! `strict`: escrow shares of each location's ATP among the strict channels selling from it.
//! Pure.
//!
//! Per SKU and location, the ATP is split into non-negative integer shares, one per strict
//! channel selling from the location, that never sum to more than the ATP: the channels can
//! sell concurrently and never together sell a unit that is not there (DESIGN.md
//! "Allocation"; the bounded counter's rights, recomputed from the merged state). A strict
//! channel's number is the sum of its shares less its buffer.
//!
//! Shares follow recent sales: each channel weighs `1 +` the units of its order lines at the
//! location opened within [`VELOCITY_WINDOW_MS`] before the SKU's newest order line (a time
//! taken from the state itself, so every replica computes the same shares without a clock).
//! The `1 +` gives equal shares when nobody sold and keeps a channel that has not sold
//! lately able to sell. When the ATP is at most [`LOW_STOCK_PER_CHANNEL`] units per strict
//! channel, spreading it would leave every channel with a unit or two that may never sell,
//! so the whole ATP goes to the channel that sold there most recently.
//!
//! Moving shares between channels whose pushes are in flight is the sync engine's job
//! (`sync::escrow`): a raise waits until the lowers that pay for it are confirmed.

use std::collections::BTreeMap;

use omnistock_sdk::{ChannelId, EventId, LocationId, Timestamp};

use crate::config::{Config, Policy};
use crate::state::{LocationStock, SkuState};

/// When and by which event an order line opened.
type Mark = (Timestamp, EventId);

/// How far back a channel's order lines count as its recent sales velocity: an hour.
pub const VELOCITY_WINDOW_MS: i64 = 60 * 60 * 1000;

/// At or below this many units of ATP per strict channel at a location, the whole ATP goes
/// to one channel (the one that sold there most recently).
pub const LOW_STOCK_PER_CHANNEL: i64 = 2;

/// Each strict channel's share of each location it sells from.
pub type Shares = BTreeMap<LocationId, BTreeMap<ChannelId, i64>>;

/// The shares of every location that strict channels sell from.
pub fn shares(
    state: &SkuState,
    config: &Config,
    locations: &BTreeMap<LocationId, LocationStock>,
) -> Shares {
    let window_end = newest_opening(state);
    let mut shares = Shares::new();
    for (location, stock) in locations {
        let sellers: Vec<Seller> = config
            .channels
            .iter()
            .filter(|(_, c)| c.policy == Policy::Strict && c.sells_from.contains(location))
            .map(|(id, _)| Seller::of(id, location, state, window_end))
            .collect();
        if !sellers.is_empty() {
            shares.insert(location.clone(), split(stock.available, &sellers));
        }
    }
    shares
}

/// A strict channel's number: the sum of its shares, less its buffer, never below 0.
pub fn number(shares: &Shares, channel: &ChannelId, buffer: i64) -> i64 {
    let held: i64 = shares.values().filter_map(|s| s.get(channel)).sum();
    held.saturating_sub(buffer).max(0)
}

/// One strict channel's recent sales at one location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seller {
    pub channel: ChannelId,
    /// Units of its order lines opened within the velocity window.
    pub recent_units: i64,
    /// Its newest order line's opening there, if any.
    pub last_sale: Option<Mark>,
}

impl Seller {
    fn of(
        channel: &ChannelId,
        location: &LocationId,
        state: &SkuState,
        window_end: Option<Timestamp>,
    ) -> Self {
        let mut seller = Seller {
            channel: channel.clone(),
            recent_units: 0,
            last_sale: None,
        };
        let lines = state
            .replica
            .reservations
            .iter()
            .filter(|(key, _)| &key.channel == channel)
            .filter_map(|(_, r)| r.details.as_ref())
            .filter(|d| &d.location == location);
        for line in lines {
            let recent = window_end.is_some_and(|end| {
                end.as_millis() - line.opened.0.as_millis() <= VELOCITY_WINDOW_MS
            });
            if recent {
                seller.recent_units += i64::from(line.quantity);
            }
            if seller
                .last_sale
                .as_ref()
                .is_none_or(|last| &line.opened > last)
            {
                seller.last_sale = Some(line.opened.clone());
            }
        }
        seller
    }
}

/// Splits `atp` among `sellers` (in channel order): all to the latest seller when stock is
/// low, else in proportion to `1 + recent units`, largest remainders first. The shares sum
/// to exactly `max(atp, 0)`.
pub fn split(atp: i64, sellers: &[Seller]) -> BTreeMap<ChannelId, i64> {
    let atp = atp.max(0);
    let mut shares: BTreeMap<ChannelId, i64> =
        sellers.iter().map(|s| (s.channel.clone(), 0)).collect();
    let Some(first) = sellers.first() else {
        return shares;
    };
    let count = i64::try_from(sellers.len()).unwrap_or(i64::MAX);
    if atp <= count.saturating_mul(LOW_STOCK_PER_CHANNEL) {
        // `max_by` keeps the last of equals: compare so that the first channel wins ties.
        let latest = sellers
            .iter()
            .rev()
            .max_by(|a, b| a.last_sale.cmp(&b.last_sale))
            .unwrap_or(first);
        shares.insert(latest.channel.clone(), atp);
        return shares;
    }
    let weights: Vec<i64> = sellers.iter().map(|s| 1 + s.recent_units.max(0)).collect();
    let total: i64 = weights.iter().sum();
    let mut remainders = Vec::with_capacity(sellers.len());
    let mut given = 0;
    for (seller, weight) in sellers.iter().zip(&weights) {
        // i128: atp × weight may not fit in i64.
        let exact = i128::from(atp) * i128::from(*weight);
        let floor = i64::try_from(exact / i128::from(total)).unwrap_or(0);
        remainders.push((exact % i128::from(total), seller.channel.clone()));
        shares.insert(seller.channel.clone(), floor);
        given += floor;
    }
    // Largest remainder first; equal remainders in channel order.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    for (_, channel) in remainders
        .into_iter()
        .take(usize::try_from(atp - given).unwrap_or(0))
    {
        *shares.entry(channel).or_default() += 1;
    }
    shares
}

/// The time of the SKU's newest order line: the end of the velocity window.
fn newest_opening(state: &SkuState) -> Option<Timestamp> {
    state
        .replica
        .reservations
        .values()
        .filter_map(|r| r.details.as_ref())
        .map(|d| d.opened.0)
        .max()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn seller(channel: &str, recent_units: i64, last_sale: Option<i64>) -> Seller {
        Seller {
            channel: ChannelId::new(channel).expect("id"),
            recent_units,
            last_sale: last_sale.map(|t| {
                (
                    Timestamp::from_millis(t),
                    EventId::new(format!("e{t}")).expect("id"),
                )
            }),
        }
    }

    fn of(shares: &BTreeMap<ChannelId, i64>, channel: &str) -> i64 {
        shares[&ChannelId::new(channel).expect("id")]
    }

    #[test]
    fn nobody_sold_means_equal_shares() {
        let shares = split(
            30,
            &[
                seller("a", 0, None),
                seller("b", 0, None),
                seller("c", 0, None),
            ],
        );
        assert_eq!(
            (of(&shares, "a"), of(&shares, "b"), of(&shares, "c")),
            (10, 10, 10)
        );
    }

    #[test]
    fn shares_follow_recent_sales() {
        // Weights 1 + 8 and 1 + 0: 90 units go 81 / 9.
        let shares = split(90, &[seller("a", 8, Some(5)), seller("b", 0, None)]);
        assert_eq!((of(&shares, "a"), of(&shares, "b")), (81, 9));
    }

    #[test]
    fn low_stock_goes_whole_to_the_latest_seller() {
        let sellers = [seller("a", 9, Some(5)), seller("b", 1, Some(7))];
        let shares = split(LOW_STOCK_PER_CHANNEL * 2, &sellers);
        assert_eq!((of(&shares, "a"), of(&shares, "b")), (0, 4));
        let shares = split(LOW_STOCK_PER_CHANNEL * 2 + 1, &sellers);
        assert!(
            of(&shares, "a") > of(&shares, "b"),
            "above the threshold velocity decides"
        );
        let nobody = split(3, &[seller("a", 0, None), seller("b", 0, None)]);
        assert_eq!(
            (of(&nobody, "a"), of(&nobody, "b")),
            (3, 0),
            "first channel when nobody sold"
        );
    }

    #[test]
    fn the_buffer_comes_off_the_sum_of_shares() {
        let a = ChannelId::new("a").expect("id");
        let shares: Shares = BTreeMap::from([
            (
                LocationId::new("wh").expect("id"),
                BTreeMap::from([(a.clone(), 4)]),
            ),
            (
                LocationId::new("store").expect("id"),
                BTreeMap::from([(a.clone(), 3)]),
            ),
        ]);
        assert_eq!(number(&shares, &a, 2), 5);
        assert_eq!(number(&shares, &a, 9), 0, "never below 0");
    }

    proptest! {
        #[test]
        fn shares_are_never_negative_and_sum_to_the_atp(
            atp in -5..10_000i64,
            sales in prop::collection::vec((0..500i64, prop::option::of(0..1000i64)), 1..5),
        ) {
            let sellers: Vec<Seller> = sales
                .iter()
                .enumerate()
                .map(|(i, (units, last))| seller(&format!("c{i}"), *units, *last))
                .collect();
            let shares = split(atp, &sellers);
            prop_assert!(shares.values().all(|s| *s >= 0));
            prop_assert_eq!(shares.values().sum::<i64>(), atp.max(0));
        }
    }
}
