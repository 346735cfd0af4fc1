//! A simulation of strict channels sharing a location: the engine against in-memory channels
//! that sell on their own, lose and duplicate order webhooks, cancel with or without a
//! restock, and fail calls (some after applying), while the owners restock. At every step
//! the channels selling from a location together show no more than is really available
//! there (no interleaving oversells); after quiescence each shows its share less its unseen
//! sales.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use omnistock_sdk::{
    ChannelId, Connector, LocationId, OrderId, Sku, StockChange, StockEvent, Timestamp,
};
use proptest::prelude::*;

use super::connectors::PushSide;
use super::escrow::forward_replans;
use super::simulation::{SKUS, SimChannel, SimHandle, id};
use crate::allocation;
use crate::config::{ApiLimits, ChannelConfig, ChannelKind, Config, Policy, Secret};
use crate::ingest::{Ingest, Submission};
use crate::metrics::Metrics;
use crate::store::Store;

/// The strict channels, with their buffers.
const STRICT: [(&str, i64); 3] = [("a", 0), ("b", 1), ("c", 0)];
/// Safety stock at each location (store, wh).
const SAFETY: [(&str, i64); 2] = [("store", 1), ("wh", 0)];

/// `a` and `b` sell from the warehouse; `c` from the warehouse too or from the store.
fn config(dir: std::path::PathBuf, c_at_wh: bool) -> Config {
    let mut config = super::simulation::config(dir);
    let limits = ApiLimits {
        per_second: 10_000.0,
        burst: 1_000,
        max_batch: 2,
    };
    config
        .channels
        .retain(|c, _| c.as_str() == "pos" || c.as_str() == "wms");
    for (name, buffer) in STRICT {
        let location = if name == "c" && !c_at_wh {
            "store"
        } else {
            "wh"
        };
        let channel = ChannelConfig {
            sells_from: vec![id(location)],
            buffer,
            adaptive_buffer: false,
            policy: Policy::Strict,
            kind: ChannelKind::Generic {
                webhook_secret: Secret::new("s".into(), "test".into()),
                push_url: Some("sim".into()),
            },
            limits: limits.clone(),
            reconcile_every: None,
        };
        config.channels.insert(id(name), channel);
    }
    config
}

#[derive(Clone, Debug)]
enum Step {
    /// An owner receives units.
    Restock { wh: bool, sku: usize, by: i64 },
    /// A strict channel sells on its own; its order webhook may be lost or sent twice.
    Sale {
        channel: usize,
        sku: usize,
        quantity: i64,
        delivered: bool,
        twice: bool,
    },
    /// A channel cancels one of its earlier sales, restocking its own number or not.
    Cancel { sale: usize, restock: bool },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => (any::<bool>(), 0..3usize, 1..6i64).prop_map(|(wh, sku, by)| Step::Restock { wh, sku, by }),
        4 => (
            0..3usize,
            0..3usize,
            1..3i64,
            prop::bool::weighted(0.8),
            prop::bool::weighted(0.2)
        )
            .prop_map(|(channel, sku, quantity, delivered, twice)| Step::Sale {
                channel,
                sku,
                quantity,
                delivered,
                twice
            }),
        1 => (0..20usize, any::<bool>()).prop_map(|(sale, restock)| Step::Cancel { sale, restock }),
    ]
}

/// A sale as the world knows it.
struct Sale {
    channel: usize,
    sku: usize,
    quantity: i64,
    location: &'static str,
    order: String,
    delivered: bool,
    cancelled: bool,
}

struct World {
    ingest: Ingest,
    config: Arc<Config>,
    channels: BTreeMap<&'static str, Arc<SimChannel>>,
    /// Held to see every channel between pushes.
    world: Arc<Mutex<()>>,
    store: Arc<Store>,
    next_event: usize,
    /// Units really at each (location, sku).
    on_hand: HashMap<(&'static str, usize), i64>,
    sales: Vec<Sale>,
    /// Units each channel sold whose orders never reached us, and it did not restock.
    unseen: HashMap<(usize, usize), i64>,
}

impl World {
    fn location_of(&self, channel: usize) -> &'static str {
        let name = STRICT[channel].0;
        match self.config.channels[&id::<ChannelId>(name)].sells_from[0].as_str() {
            "store" => "store",
            _ => "wh",
        }
    }

    async fn post(&mut self, channel: &str, sku: usize, change: StockChange) -> StockEvent {
        self.next_event += 1;
        let event = StockEvent {
            id: id(&format!("e{}", self.next_event)),
            occurred_at: Timestamp::from_millis(1_000 * self.next_event as i64),
            sku: Sku::new(SKUS[sku]).expect("sku"),
            change,
        };
        self.post_event(channel, event.clone()).await;
        event
    }

    async fn post_event(&self, channel: &str, event: StockEvent) {
        let submission = Submission {
            channel: id(channel),
            manual: false,
            events: vec![event],
        };
        self.ingest
            .submit(submission)
            .await
            .expect("the store accepts the event");
    }

    async fn run(&mut self, step: Step) {
        match step {
            Step::Restock { wh, sku, by } => {
                let (owner, location) = if wh { ("wms", "wh") } else { ("pos", "store") };
                *self.on_hand.entry((location, sku)).or_default() += by;
                let change = StockChange::Adjusted {
                    location: id(location),
                    by,
                    reason: "received".into(),
                };
                self.post(owner, sku, change).await;
            }
            Step::Sale {
                channel,
                sku,
                quantity,
                delivered,
                twice,
            } => {
                let name = STRICT[channel].0;
                {
                    let mut levels = self.channels[name].levels();
                    let level = levels.entry(SKUS[sku].to_owned()).or_default();
                    if *level < quantity {
                        return; // The channel refuses to sell what it does not show.
                    }
                    *level -= quantity;
                }
                let order = format!("{name}-{}", self.sales.len());
                let location = self.location_of(channel);
                self.sales.push(Sale {
                    channel,
                    sku,
                    quantity,
                    location,
                    order: order.clone(),
                    delivered,
                    cancelled: false,
                });
                if !delivered {
                    *self.unseen.entry((channel, sku)).or_default() += quantity;
                    return;
                }
                let change = StockChange::OrderLineOpened {
                    order: OrderId::new(order).expect("order"),
                    line: "1".into(),
                    location: id(location),
                    quantity: u32::try_from(quantity).expect("small"),
                };
                let event = self.post(name, sku, change).await;
                if twice {
                    self.post_event(name, event).await;
                }
            }
            Step::Cancel { sale, restock } => {
                let Some(found) = self.sales.get_mut(sale).filter(|s| !s.cancelled) else {
                    return;
                };
                found.cancelled = true;
                let (channel, sku, quantity, delivered) =
                    (found.channel, found.sku, found.quantity, found.delivered);
                let order = found.order.clone();
                let name = STRICT[channel].0;
                if restock {
                    *self.channels[name]
                        .levels()
                        .entry(SKUS[sku].to_owned())
                        .or_default() += quantity;
                    if !delivered {
                        *self.unseen.entry((channel, sku)).or_default() -= quantity;
                    }
                }
                let change = StockChange::OrderLineCancelled {
                    order: OrderId::new(order).expect("order"),
                    line: "1".into(),
                    restocked: restock,
                };
                self.post(name, sku, change).await;
            }
        }
    }

    /// No oversell: at each location, the strict channels selling from it show together no
    /// more than is really there, less safety stock and every open order (seen or not).
    fn check_no_oversell(&self) -> Result<(), TestCaseError> {
        let _between_pushes = self
            .world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (location, safety) in SAFETY {
            for (sku, name) in SKUS.iter().enumerate() {
                let open: i64 = self
                    .sales
                    .iter()
                    .filter(|s| s.sku == sku && s.location == location && !s.cancelled)
                    .map(|s| s.quantity)
                    .sum();
                let really =
                    self.on_hand.get(&(location, sku)).copied().unwrap_or(0) - safety - open;
                let shown: i64 = (0..STRICT.len())
                    .filter(|c| self.location_of(*c) == location)
                    .map(|c| self.channels[STRICT[c].0].levels()[*name])
                    .sum();
                prop_assert!(
                    shown <= really.max(0),
                    "{} at {}: the channels show {} but only {} are there",
                    name,
                    location,
                    shown,
                    really
                );
            }
        }
        Ok(())
    }

    /// Waits until every strict channel's outbox stays empty, checking the invariant while
    /// the pushers work.
    async fn quiesce(&self) -> Result<(), TestCaseError> {
        let mut calm = 0;
        for _ in 0..2_000 {
            self.check_no_oversell()?;
            let empty = STRICT.iter().all(|(c, _)| {
                self.store
                    .outbox_len(&id(c))
                    .map(|n| n == 0)
                    .unwrap_or(false)
            });
            calm = if empty { calm + 1 } else { 0 };
            if calm >= 20 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(TestCaseError::fail("the engine did not quiesce"))
    }

    /// After quiescence: each channel shows its share (less buffer) less its unseen sales,
    /// unless some channel's unseen sales exceed its share — those units are gone from the
    /// location already, so the others may stay below their shares, never above.
    fn check_shares(&self) -> Result<(), TestCaseError> {
        let states = self.ingest.view().read().clone();
        for (sku, name) in SKUS.iter().enumerate() {
            let sku_id = Sku::new(*name).expect("sku");
            let state = states.get(&sku_id).cloned().unwrap_or_default();
            let numbers = allocation::availability(
                &sku_id,
                &state,
                &self.config,
                &allocation::Conditions::default(),
            );
            for (location, _) in SAFETY {
                let sellers: Vec<usize> = (0..STRICT.len())
                    .filter(|c| self.location_of(*c) == location)
                    .collect();
                let share = |c: usize| numbers.channels[&id::<ChannelId>(STRICT[c].0)].available;
                let unseen = |c: usize| self.unseen.get(&(c, sku)).copied().unwrap_or(0);
                let atp = numbers.locations[&id::<LocationId>(location)].available;
                let exact = sellers
                    .iter()
                    .map(|c| share(*c).max(unseen(*c)))
                    .sum::<i64>()
                    <= atp;
                for c in sellers {
                    let shows = self.channels[STRICT[c].0].levels()[*name];
                    let expected = (share(c) - unseen(c)).max(0);
                    if exact {
                        prop_assert_eq!(
                            shows,
                            expected,
                            "{} {}: share {}, unseen sales {}",
                            STRICT[c].0,
                            name,
                            share(c),
                            unseen(c)
                        );
                    } else {
                        prop_assert!(
                            shows <= expected,
                            "{} {}: shows {} above {}",
                            STRICT[c].0,
                            name,
                            shows,
                            expected
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

async fn simulate(
    steps: Vec<Step>,
    seed: u64,
    fail_percent: u64,
    c_at_wh: bool,
) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = Arc::new(config(dir.path().join("state"), c_at_wh));
    let store = Arc::new(Store::open(&config.state_dir).expect("store"));
    let _metrics = Arc::new(Metrics::new());
    let world_lock = Arc::new(Mutex::new(()));
    let channels: BTreeMap<&'static str, Arc<SimChannel>> = STRICT
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let sim = SimChannel::new(seed.wrapping_add(i as u64), fail_percent)
                .in_world(world_lock.clone());
            (*name, Arc::new(sim))
        })
        .collect();
    let sides = channels
        .iter()
        .map(|(name, sim)| {
            let location: LocationId =
                config.channels[&id::<ChannelId>(name)].sells_from[0].clone();
            let connector =
                Arc::new(SimHandle(sim.clone(), location.clone())) as Arc<dyn Connector>;
            let side = PushSide {
                connector,
                limiter: super::connectors::limiter(
                    &config.channels[&id::<ChannelId>(name)].limits,
                ),
                location,
                shown: super::plan::Shown::Allocation,
                listed: None,
            };
            (id(name), side)
        })
        .collect();
    let (engine, ingest) = super::test_engine::start(
        &config,
        &store,
        sides,
        super::test_engine::fast_tuning(),
        super::poller::PollWaker::default(),
        seed,
    );
    let replans = forward_replans(engine.published.escrow(), ingest.clone());
    let mut world = World {
        ingest,
        config: config.clone(),
        channels,
        world: world_lock,
        store,
        next_event: 0,
        on_hand: HashMap::new(),
        sales: Vec::new(),
        unseen: HashMap::new(),
    };

    // Every SKU starts with 10 units at each location, and every channel learns its share.
    for sku in 0..SKUS.len() {
        for wh in [false, true] {
            world.run(Step::Restock { wh, sku, by: 10 }).await;
        }
    }
    world.quiesce().await?;
    for step in steps {
        world.run(step).await;
        world.check_no_oversell()?;
        tokio::task::yield_now().await;
    }
    world.quiesce().await?;
    world.check_shares()?;
    replans.abort();
    engine.stop(Duration::from_secs(5)).await;
    Ok(())
}

/// Runs one case on its own runtime: two workers, so pushers and the writer interleave.
fn run_case(
    steps: Vec<Step>,
    seed: u64,
    fail_percent: u64,
    c_at_wh: bool,
) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(simulate(steps, seed, fail_percent, c_at_wh))
}

/// Failure rates: none, or 5–40 % of calls (half 500s, half 429s, each before or after the
/// change applied).
fn failures() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 5..40u64]
}

// Each case costs about half a second (two quiescences of at least 200 ms): 32 cases plus the
// saved regressions fit a slow 2-core CI machine in well under a minute in debug. The cases
// that found the bugs fixed so far are in
// `proptest-regressions/sync/strict_simulation.txt` and run first, in both tests.
proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn strict_channels_never_oversell_and_settle_on_their_shares(
        steps in prop::collection::vec(step(), 1..40),
        seed in any::<u64>(),
        fail_percent in failures(),
        c_at_wh in any::<bool>(),
    ) {
        run_case(steps, seed, fail_percent, c_at_wh)?;
    }
}

// The same with more and longer cases, for a change to the escrow, the planner or the pusher
// (a few minutes): `cargo test --lib -- --ignored strict_simulation`.
proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    #[ignore = "minutes long; run it when changing sync::escrow, sync::plan or sync::pusher"]
    fn strict_channels_never_oversell_under_a_heavy_simulation(
        steps in prop::collection::vec(step(), 1..80),
        seed in any::<u64>(),
        fail_percent in failures(),
        c_at_wh in any::<bool>(),
    ) {
        run_case(steps, seed, fail_percent, c_at_wh)?;
    }
}
