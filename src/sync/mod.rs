//! The sync engine: merged state → the right number on every channel, fast, without ever
//! destroying a concurrent sale.
//!
//! - [`plan`]: after each group commit, which pushes the changes call for (in the writer,
//!   written to the outbox in the same atomic commit as the events).
//! - [`target`]: the value to set on a channel given its target, what we published and what
//!   it shows (rule 6). Pure.
//! - [`pusher`]: one task per channel draining its outbox: coalesce, prioritize, batch, rate
//!   limit, compare-and-set, confirm, retry, dead-letter.
//! - [`book`]: the published values and channel health shared by the writer, pushers and API.
//! - [`escrow`]: strict channels' raises wait for the lowers that pay for them.
//! - [`backoff`], [`connectors`]: retry delays; building connectors from config.

pub mod backoff;
pub mod book;
pub mod connectors;
pub mod escrow;
#[cfg(test)]
mod holds_tests;
#[cfg(test)]
mod kit_escrow_tests;
#[cfg(test)]
mod lost_answer_tests;
#[cfg(test)]
mod mid_round_tests;
pub mod plan;
pub mod poller;
pub mod pusher;
pub mod reconcile;
#[cfg(test)]
mod simulation;
#[cfg(test)]
mod strict_simulation;
pub mod target;
#[cfg(test)]
mod test_engine;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use omnistock_sdk::ChannelId;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use book::{ChannelHealth, PublishedBook, PushLog, PushRecord, StatusBoard};
pub use plan::Planner;
pub use pusher::Tuning;

use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Why the engine could not start or act.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("building the connector of channel {channel}: {message}")]
    Connector { channel: ChannelId, message: String },
    #[error("channel {0} has no push side (no push_url)")]
    NotPushing(ChannelId),
}

/// The running engine: one pusher per pushing channel.
pub struct Engine {
    store: Arc<Store>,
    wakes: BTreeMap<ChannelId, Arc<Notify>>,
    shown: BTreeMap<ChannelId, plan::Shown>,
    paused: BTreeMap<ChannelId, watch::Sender<bool>>,
    pub published: PublishedBook,
    pub status: StatusBoard,
    /// The last pushes per channel and SKU, for `explain`.
    pub pushes: PushLog,
    stop: watch::Sender<bool>,
    tasks: Vec<(ChannelId, JoinHandle<()>)>,
}

/// What the engine is built from.
pub struct EngineSetup {
    pub config: Arc<Config>,
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    pub tuning: Tuning,
    /// Seeds the pushers' backoff jitter, so a simulation replays.
    pub seed: u64,
    /// Asks a channel's poller for its recent changes: a pusher does when a sale it sees in
    /// a channel's number is not explained by an order in time.
    pub polls: poller::PollWaker,
}

impl Engine {
    /// Starts a pusher for each given push side (built by [`connectors::build_all`], or
    /// simulated channels: the seam a simulation drives the engine through).
    pub fn start(
        setup: EngineSetup,
        sides: BTreeMap<ChannelId, connectors::PushSide>,
    ) -> Result<Engine, EngineError> {
        let (mut engine, pushers) = Engine::build(setup, sides)?;
        for (id, pusher) in pushers {
            engine.tasks.push((id, tokio::spawn(pusher.run())));
        }
        Ok(engine)
    }

    /// The engine and its pushers, not yet running: [`Engine::start`] spawns them; a
    /// simulation steps them itself, in an order drawn from its seed.
    fn build(
        setup: EngineSetup,
        sides: BTreeMap<ChannelId, connectors::PushSide>,
    ) -> Result<(Engine, Vec<(ChannelId, pusher::Pusher)>), EngineError> {
        let published = PublishedBook::from_store(setup.store.all_published()?);
        let escrow = {
            let book = published.lock();
            escrow::Escrow::rebuilt(
                &setup.store.all_pending()?,
                &setup.store.dead_letters(None)?,
                |c, s| book.get(&(c.clone(), s.clone())).map(|p| p.quantity),
            )
        };
        let published = published.with_escrow(escrow);
        let paused_channels = setup.store.paused_channels()?;
        let status = StatusBoard::default();
        let (stop, stop_rx) = watch::channel(false);
        let mut engine = Engine {
            store: setup.store.clone(),
            wakes: BTreeMap::new(),
            shown: BTreeMap::new(),
            paused: BTreeMap::new(),
            published: published.clone(),
            status: status.clone(),
            pushes: PushLog::default(),
            stop,
            tasks: Vec::new(),
        };
        let mut pushers = Vec::new();
        for (i, (id, side)) in sides.into_iter().enumerate() {
            let Some(channel) = setup.config.channels.get(&id) else {
                continue;
            };
            let connectors::PushSide {
                connector,
                limiter,
                location,
                shown,
                listed,
            } = side;
            let wake = Arc::new(Notify::new());
            let (paused_tx, paused_rx) = watch::channel(paused_channels.contains(&id));
            let pusher = pusher::Pusher::new(pusher::PusherSetup {
                channel: id.clone(),
                connector,
                limiter,
                location,
                mirror: matches!(shown, plan::Shown::Mirror(_)),
                listed,
                limits: channel.limits.clone(),
                store: setup.store.clone(),
                published: published.clone(),
                status: status.clone(),
                pushes: engine.pushes.clone(),
                metrics: setup.metrics.clone(),
                clock: setup.clock.clone(),
                wake: wake.clone(),
                paused: paused_rx,
                stop: stop_rx.clone(),
                tuning: setup.tuning.clone(),
                polls: setup.polls.clone(),
                seed: setup.seed.wrapping_add(i as u64),
            });
            engine.wakes.insert(id.clone(), wake);
            engine.shown.insert(id.clone(), shown);
            engine.paused.insert(id.clone(), paused_tx);
            pushers.push((id, pusher));
        }
        Ok((engine, pushers))
    }

    /// The channels with a pusher.
    pub fn pushing(&self) -> BTreeSet<ChannelId> {
        self.wakes.keys().cloned().collect()
    }

    /// What each pushing channel is made to show, for the planner.
    pub fn shown(&self) -> BTreeMap<ChannelId, plan::Shown> {
        self.shown.clone()
    }

    /// A handle the writer uses to wake pushers after committing their outbox entries.
    pub fn waker(&self) -> Waker {
        Waker(Arc::new(self.wakes.clone()))
    }

    /// Pauses or resumes a channel's pushes; remembered across restarts.
    pub fn set_paused(&self, channel: &ChannelId, paused: bool) -> Result<(), EngineError> {
        let sender = self
            .paused
            .get(channel)
            .ok_or_else(|| EngineError::NotPushing(channel.clone()))?;
        self.store.set_paused(channel, paused)?;
        sender.send_replace(paused);
        tracing::info!(channel = %channel, paused, "Channel pushes {}.", if paused { "paused" } else { "resumed" });
        Ok(())
    }

    /// Stops every pusher, waiting up to `deadline`; names the ones that overran.
    pub async fn stop(self, deadline: Duration) {
        self.stop.send_replace(true);
        for (channel, task) in self.tasks {
            if tokio::time::timeout(deadline, task).await.is_err() {
                tracing::error!(channel = %channel, "Pusher overran the drain deadline; its pending pushes stay in the outbox.");
            }
        }
    }
}

/// Wakes the pushers of channels that have new outbox entries.
#[derive(Clone, Default)]
pub struct Waker(Arc<BTreeMap<ChannelId, Arc<Notify>>>);

impl Waker {
    pub fn wake<'a>(&self, channels: impl IntoIterator<Item = &'a ChannelId>) {
        for channel in channels {
            if let Some(wake) = self.0.get(channel) {
                wake.notify_one();
            }
        }
    }
}
