//! A simulation of the whole engine — ingest, planner, pushers — against in-memory channels
//! that sell on their own, lose order webhooks, send duplicates, restock on cancellation or
//! not, and fail calls at random. After quiescence every channel must show its policy's
//! number, less exactly the sales it made whose orders never reached us.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use omnistock_sdk::{
    Capabilities, ChannelId, Connector, ConnectorError, ItemLevel, ItemRef, ListPage, LocationId,
    OrderId, PushForm, PushOutcome, PushRequest, Sku, StockChange, StockEvent, Timestamp,
};
use proptest::prelude::*;

use super::test_engine::allocation_side;
use super::test_engine::test_channel;
use crate::allocation;
use crate::config::{
    ApiConfig, ApiLimits, ChannelConfig, ChannelKind, Config, LocationConfig, LogFormat, Policy,
    Secret,
};
use crate::ingest::{Ingest, Submission};
use crate::metrics::Metrics;
use crate::store::Store;

pub(super) const SKUS: [&str; 3] = ["MUG", "TEA", "PEN"];
const PUSHING: [&str; 2] = ["web", "outlet"];

pub(super) fn id<T: TryFrom<String>>(text: &str) -> T
where
    T::Error: std::fmt::Debug,
{
    T::try_from(text.to_owned()).expect("valid id")
}

/// A channel's system: its numbers, compare-and-set with idempotency keys, and random
/// failures — some after the change was applied, as a timeout can be.
pub(super) struct SimChannel {
    levels: Mutex<HashMap<String, i64>>,
    applied: Mutex<HashMap<String, (i64, i64)>>,
    rng: Mutex<u64>,
    fail_percent: u64,
}

impl SimChannel {
    pub(super) fn new(seed: u64, fail_percent: u64) -> Self {
        let levels = SKUS.iter().map(|s| ((*s).to_owned(), 0)).collect();
        Self {
            levels: Mutex::new(levels),
            applied: Mutex::new(HashMap::new()),
            rng: Mutex::new(seed | 1),
            fail_percent,
        }
    }

    pub(super) fn levels(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.levels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn maybe_fail(&self) -> Result<(), ConnectorError> {
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        match *rng % 100 {
            n if n < self.fail_percent / 2 => {
                Err(ConnectorError::Retryable("simulated 500".into()))
            }
            n if n < self.fail_percent => Err(ConnectorError::RateLimited {
                message: "simulated 429".into(),
                retry_after: Duration::from_millis(5),
            }),
            _ => Ok(()),
        }
    }
}

/// The engine's handle on a simulated channel; the test keeps another to sell through.
pub(super) struct SimHandle(pub(super) Arc<SimChannel>, pub(super) LocationId);

#[async_trait]
impl Connector for SimHandle {
    fn capabilities(&self) -> Capabilities {
        test_channel::capabilities(PushForm::CompareAndSet, 2)
    }

    async fn list(&self, _cursor: Option<String>) -> Result<ListPage, ConnectorError> {
        Ok(test_channel::empty_listing())
    }

    async fn read(&self, items: &[ItemRef]) -> Result<Vec<ItemLevel>, ConnectorError> {
        self.0.maybe_fail()?;
        let levels = self.0.levels();
        Ok(items
            .iter()
            .filter_map(|item| {
                let available = *levels.get(item.as_str())?;
                Some(test_channel::level(item, &self.1, available))
            })
            .collect())
    }

    fn parse_webhook(
        &self,
        _: &[(String, String)],
        _: &[u8],
    ) -> Result<Vec<StockEvent>, ConnectorError> {
        Err(ConnectorError::BadInput(
            "the simulation posts events directly".into(),
        ))
    }

    async fn push(&self, batch: &[PushRequest]) -> Result<Vec<PushOutcome>, ConnectorError> {
        self.0.maybe_fail()?;
        let outcomes = {
            let mut levels = self.0.levels();
            let mut applied = self
                .0
                .applied
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            batch
                .iter()
                .map(|request| {
                    let change = (request.expected, request.target);
                    if applied.get(&request.idempotency_key) == Some(&change) {
                        return PushOutcome::Applied;
                    }
                    match levels.get_mut(request.item.as_str()) {
                        Some(level) if *level == request.expected => {
                            *level = request.target;
                            applied.insert(request.idempotency_key.clone(), change);
                            PushOutcome::Applied
                        }
                        Some(level) => PushOutcome::StaleCompare {
                            actual: Some(*level),
                        },
                        None => PushOutcome::Rejected("unknown".into()),
                    }
                })
                .collect()
        };
        // Sometimes the answer is lost after the change was applied, as with a timeout.
        self.0.maybe_fail()?;
        Ok(outcomes)
    }
}

pub(super) fn config(dir: PathBuf) -> Config {
    let secret = || Secret::new("s".into(), "test".into());
    let limits = ApiLimits {
        per_second: 10_000.0,
        burst: 1_000,
        max_batch: 2,
    };
    let channel = |sells_from: &[&str], buffer: i64, push: bool| ChannelConfig {
        sells_from: sells_from.iter().map(|l| id(l)).collect(),
        buffer,
        policy: Policy::Pooled,
        kind: ChannelKind::Generic {
            webhook_secret: secret(),
            push_url: push.then(|| "sim".to_owned()),
        },
        limits: limits.clone(),
        reconcile_every: None,
        adaptive_buffer: false,
    };
    Config {
        source: dir.join("sim.toml"),
        node_id: "sim".into(),
        listen: "127.0.0.1:0".parse().expect("address"),
        public_url: None,
        state_dir: dir,
        log_format: LogFormat::Text,
        api: ApiConfig {
            admin_token: secret(),
            max_body_bytes: 1 << 20,
        },
        locations: BTreeMap::from([
            (
                id("store"),
                LocationConfig {
                    owner: id("pos"),
                    safety: 1,
                },
            ),
            (
                id("wh"),
                LocationConfig {
                    owner: id("wms"),
                    safety: 0,
                },
            ),
        ]),
        skus: BTreeMap::new(),
        kits: BTreeMap::new(),
        channels: BTreeMap::from([
            (id("pos"), channel(&["store"], 0, false)),
            (id("wms"), channel(&["wh"], 0, false)),
            (id("web"), channel(&["store", "wh"], 1, true)),
            (id("outlet"), channel(&["wh"], 0, true)),
        ]),
    }
}

/// One step of the world.
#[derive(Clone, Debug)]
enum Step {
    /// An owner counts or adjusts its location.
    Count {
        wh: bool,
        sku: usize,
        quantity: i64,
    },
    Adjust {
        wh: bool,
        sku: usize,
        by: i64,
    },
    /// A pushing channel sells on its own; its order webhook may be lost or sent twice.
    Sale {
        channel: usize,
        sku: usize,
        quantity: i64,
        wh: bool,
        delivered: bool,
        twice: bool,
    },
    /// A channel cancels one of its earlier sales, restocking its own number or not.
    Cancel {
        sale: usize,
        restock: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (any::<bool>(), 0..3usize, 0..30i64).prop_map(|(wh, sku, quantity)| Step::Count {
            wh,
            sku,
            quantity
        }),
        (any::<bool>(), 0..3usize, -3..6i64).prop_map(|(wh, sku, by)| Step::Adjust { wh, sku, by }),
        (
            0..2usize,
            0..3usize,
            1..3i64,
            any::<bool>(),
            prop::bool::weighted(0.8),
            prop::bool::weighted(0.2)
        )
            .prop_map(
                |(channel, sku, quantity, wh, delivered, twice)| Step::Sale {
                    channel,
                    sku,
                    quantity,
                    wh,
                    delivered,
                    twice
                }
            ),
        (0..20usize, any::<bool>()).prop_map(|(sale, restock)| Step::Cancel { sale, restock }),
    ]
}

struct World {
    ingest: Ingest,
    channels: BTreeMap<String, Arc<SimChannel>>,
    store: Arc<Store>,
    next_event: usize,
    /// (channel, sku, quantity, order, delivered, cancelled)
    sales: Vec<(usize, usize, i64, String, bool, bool)>,
    /// Units each channel sold whose orders never reached us, and it did not restock.
    unseen: HashMap<(String, String), i64>,
}

impl World {
    async fn post(&mut self, channel: &str, sku: &str, change: StockChange) {
        self.next_event += 1;
        let event = StockEvent {
            id: id(&format!("e{}", self.next_event)),
            occurred_at: Timestamp::from_millis(1_000 * self.next_event as i64),
            sku: Sku::new(sku).expect("sku"),
            change,
        };
        self.post_event(channel, event).await;
    }

    async fn post_event(&mut self, channel: &str, event: StockEvent) {
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
        let place = |wh: bool| if wh { ("wms", "wh") } else { ("pos", "store") };
        match step {
            Step::Count { wh, sku, quantity } => {
                let (owner, location) = place(wh);
                self.post(
                    owner,
                    SKUS[sku],
                    StockChange::LevelObserved {
                        location: id(location),
                        quantity,
                    },
                )
                .await;
            }
            Step::Adjust { wh, sku, by } => {
                let (owner, location) = place(wh);
                self.post(
                    owner,
                    SKUS[sku],
                    StockChange::Adjusted {
                        location: id(location),
                        by,
                        reason: String::new(),
                    },
                )
                .await;
            }
            Step::Sale {
                channel,
                sku,
                quantity,
                wh,
                delivered,
                twice,
            } => {
                let name = PUSHING[channel];
                let sim = self.channels[name].clone();
                {
                    let mut levels = sim.levels();
                    let level = levels.entry(SKUS[sku].to_owned()).or_default();
                    if *level < quantity {
                        return; // The channel refuses to sell what it does not show.
                    }
                    *level -= quantity;
                }
                let order = format!("{name}-{}", self.sales.len());
                let location = if wh || name == "outlet" {
                    "wh"
                } else {
                    "store"
                };
                self.sales
                    .push((channel, sku, quantity, order.clone(), delivered, false));
                if !delivered {
                    *self
                        .unseen
                        .entry((name.to_owned(), SKUS[sku].to_owned()))
                        .or_default() += quantity;
                    return;
                }
                self.next_event += 1;
                let event = StockEvent {
                    id: id(&format!("e{}", self.next_event)),
                    occurred_at: Timestamp::from_millis(1_000 * self.next_event as i64),
                    sku: Sku::new(SKUS[sku]).expect("sku"),
                    change: StockChange::OrderLineOpened {
                        order: OrderId::new(order).expect("order"),
                        line: "1".into(),
                        location: id(location),
                        quantity: u32::try_from(quantity).expect("small"),
                    },
                };
                self.post_event(name, event.clone()).await;
                if twice {
                    self.post_event(name, event).await;
                }
            }
            Step::Cancel { sale, restock } => {
                let Some(&(channel, sku, quantity, ref order, delivered, cancelled)) =
                    self.sales.get(sale)
                else {
                    return;
                };
                if cancelled {
                    return;
                }
                let order = order.clone();
                self.sales[sale].5 = true;
                let name = PUSHING[channel];
                if restock {
                    *self.channels[name]
                        .levels()
                        .entry(SKUS[sku].to_owned())
                        .or_default() += quantity;
                    if !delivered {
                        *self
                            .unseen
                            .entry((name.to_owned(), SKUS[sku].to_owned()))
                            .or_default() -= quantity;
                    }
                }
                let change = StockChange::OrderLineCancelled {
                    order: OrderId::new(order).expect("order"),
                    line: "1".into(),
                    restocked: restock,
                };
                self.post(name, SKUS[sku], change).await;
            }
        }
    }

    /// Waits until every pushing channel's outbox stays empty.
    async fn quiesce(&self) {
        let mut calm = 0;
        for _ in 0..2_000 {
            let empty = PUSHING.iter().all(|c| {
                self.store
                    .outbox_len(&id(c))
                    .map(|n| n == 0)
                    .unwrap_or(false)
            });
            calm = if empty { calm + 1 } else { 0 };
            if calm >= 10 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the engine did not quiesce");
    }
}

async fn simulate(steps: Vec<Step>, seed: u64, fail_percent: u64) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = Arc::new(config(dir.path().join("state")));
    let store = Arc::new(Store::open(&config.state_dir).expect("store"));
    let _metrics = Arc::new(Metrics::new());
    let channels: BTreeMap<String, Arc<SimChannel>> = PUSHING
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                (*c).to_owned(),
                Arc::new(SimChannel::new(seed.wrapping_add(i as u64), fail_percent)),
            )
        })
        .collect();
    let sides = channels
        .iter()
        .map(|(name, sim)| {
            let location = if name == "outlet" { "wh" } else { "store" };
            let connector = Arc::new(SimHandle(sim.clone(), id(location))) as Arc<dyn Connector>;
            (
                id(name),
                allocation_side(&config, &id(name), id(location), connector),
            )
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
    let mut world = World {
        ingest,
        channels,
        store,
        next_event: 0,
        sales: Vec::new(),
        unseen: HashMap::new(),
    };

    // Every SKU starts counted everywhere, and every channel learns its number.
    for sku in 0..SKUS.len() {
        world
            .run(Step::Count {
                wh: false,
                sku,
                quantity: 10,
            })
            .await;
        world
            .run(Step::Count {
                wh: true,
                sku,
                quantity: 10,
            })
            .await;
    }
    world.quiesce().await;
    for step in steps {
        world.run(step).await;
        tokio::task::yield_now().await;
    }
    world.quiesce().await;

    let states = world.ingest.view().read().clone();
    for channel in PUSHING {
        for sku in SKUS {
            let state = states
                .get(&Sku::new(sku).expect("sku"))
                .cloned()
                .unwrap_or_default();
            let target = allocation::availability(
                &Sku::new(sku).expect("sku"),
                &state,
                &config,
                &allocation::Conditions::default(),
            )
            .channels[&id::<ChannelId>(channel)]
                .available;
            let unseen = world
                .unseen
                .get(&(channel.to_owned(), sku.to_owned()))
                .copied()
                .unwrap_or(0);
            let shows = world.channels[channel].levels()[sku];
            prop_assert_eq!(
                shows,
                (target - unseen).max(0),
                "{} {}: target {}, unseen sales {}",
                channel,
                sku,
                target,
                unseen
            );
        }
    }
    engine.stop(Duration::from_secs(5)).await;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn after_quiescence_every_channel_shows_its_number_less_its_unseen_sales(
        steps in prop::collection::vec(step(), 1..40),
        seed in any::<u64>(),
        fail_percent in prop_oneof![Just(0u64), 5..40u64],
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        runtime.block_on(simulate(steps, seed, fail_percent))?;
    }
}
