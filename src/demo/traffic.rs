//! The demo's traffic: sales on every selling channel, deliveries to the owners,
//! cancellations, the warehouse's shipments of online orders and its cycle counts, and now
//! and then a failing API.
//!
//! What happens next is drawn from the seed alone ([`Step::draw`]), never from what the
//! channels answered, so a seed always plays the same sequence; whether a sale goes through
//! still depends on what the channel shows at that moment.

use std::sync::Arc;
use std::time::Duration;

use omnistock_sdk::Sku;

use super::catalog::Dice;
use super::channel::{OpenLine, Simulated, Site};
use super::shiphero::ShipHero;

/// What happens next, with the dice it needs drawn up front.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Channel `seller` (an index into the sellers) sells `quantity` of SKU `sku`.
    Sale {
        seller: u64,
        sku: u64,
        quantity: u32,
    },
    /// Owner `owner` receives `quantity` of SKU `sku`.
    Delivery { owner: u64, sku: u64, quantity: i64 },
    /// The open online line `line` (an index, modulo how many are open) is cancelled.
    Cancel { line: u64 },
    /// The warehouse ships the open online line `line`.
    Ship { line: u64 },
    /// The warehouse's cycle count of SKU `sku` finds `by` units more or fewer.
    Recount { sku: u64, by: i64 },
    /// Called channel `channel` fails its next call; `how` picks the failure.
    Fail { channel: u64, how: u64 },
}

impl Step {
    /// Sales 68 %, shipments 10 %, deliveries 8 %, cancellations 8 %, cycle counts 2 %,
    /// failures 4 %.
    pub fn draw(dice: &mut Dice) -> Step {
        let roll = dice.below(100);
        let (a, b) = (dice.next_u64(), dice.next_u64());
        match roll {
            0..68 => Step::Sale {
                seller: a,
                sku: b,
                quantity: 1 + (dice.below(10) == 0) as u32,
            },
            68..80 => Step::Ship { line: a },
            80..88 => Step::Delivery {
                owner: a,
                sku: b,
                quantity: dice.between(5, 20),
            },
            88..96 => Step::Cancel { line: a },
            96..98 => Step::Recount {
                sku: b,
                by: if a % 2 == 0 { -1 } else { 1 },
            },
            _ => Step::Fail { channel: a, how: b },
        }
    }
}

/// Who plays what.
pub struct Cast {
    /// Every channel where customers buy.
    pub sellers: Vec<Arc<dyn Simulated>>,
    /// The locations' owners, who receive deliveries.
    pub owners: Vec<Arc<dyn Simulated>>,
    /// The warehouse's WMS, which ships online orders and counts its shelves.
    pub warehouse: Arc<ShipHero>,
    /// The channels omnistock calls (pushes to or polls), whose APIs can fail.
    pub called: Vec<Arc<dyn Simulated>>,
}

/// Plays `rate` steps a second until the task is dropped.
pub async fn play(site: Arc<Site>, cast: Cast, skus: Vec<Sku>, seed: u64, rate: f64) {
    let mut dice = Dice::new(seed);
    let mut open: Vec<OpenLine> = Vec::new();
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.01)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let step = Step::draw(&mut dice);
        if let Err(error) = perform(&site, &cast, &skus, &mut open, &step).await {
            tracing::warn!(?step, "Demo traffic: {error:#}");
        }
    }
}

fn nth<T>(items: &[T], n: u64) -> Option<&T> {
    items.get((n % items.len().max(1) as u64) as usize)
}

async fn perform(
    site: &Site,
    cast: &Cast,
    skus: &[Sku],
    open: &mut Vec<OpenLine>,
    step: &Step,
) -> anyhow::Result<()> {
    match *step {
        Step::Sale {
            seller,
            sku,
            quantity,
        } => {
            if let (Some(seller), Some(sku)) = (nth(&cast.sellers, seller), nth(skus, sku))
                && let Some(line) = seller.sell(site, sku, quantity).await?
            {
                open.push(line);
            }
        }
        Step::Delivery {
            owner,
            sku,
            quantity,
        } => {
            if let (Some(owner), Some(sku)) = (nth(&cast.owners, owner), nth(skus, sku)) {
                owner.receive(site, sku, quantity).await?;
            }
        }
        Step::Cancel { line } | Step::Ship { line } if !open.is_empty() => {
            let line = open.swap_remove((line % open.len() as u64) as usize);
            if matches!(step, Step::Ship { .. }) {
                cast.warehouse.ship(site, &line).await?;
            } else if let Some(seller) = cast.sellers.iter().find(|s| s.id() == &line.channel) {
                seller.cancel(site, &line).await?;
            }
        }
        Step::Cancel { .. } | Step::Ship { .. } => {}
        Step::Recount { sku, by } => {
            if let Some(sku) = nth(skus, sku) {
                cast.warehouse.recount(site, sku, by).await?;
            }
        }
        Step::Fail { channel, how } => {
            if let Some(channel) = nth(&cast.called, channel) {
                let mut how = Dice::new(how);
                if let Some(said) = channel.fail_next(&mut how) {
                    tracing::info!(channel = %channel.id(), "Demo: the next call to {} fails with {said}.", channel.id());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_plays_the_same_steps_and_every_kind_comes_up() {
        let steps = |seed| {
            let mut dice = Dice::new(seed);
            (0..500).map(|_| Step::draw(&mut dice)).collect::<Vec<_>>()
        };
        assert_eq!(steps(42), steps(42));
        assert_ne!(steps(42), steps(43));
        let all = steps(42);
        let count = |kind: fn(&Step) -> bool| all.iter().filter(|s| kind(s)).count();
        let sales = count(|s| matches!(s, Step::Sale { .. }));
        assert!((300..400).contains(&sales), "{sales} sales of 500");
        assert!(count(|s| matches!(s, Step::Ship { .. })) > 0);
        assert!(count(|s| matches!(s, Step::Delivery { .. })) > 0);
        assert!(count(|s| matches!(s, Step::Cancel { .. })) > 0);
        assert!(count(|s| matches!(s, Step::Recount { .. })) > 0);
        assert!(count(|s| matches!(s, Step::Fail { .. })) > 0);
    }
}
