//! Start: the checkpointed states, then the ingest log after the checkpoint, replayed.
//!
//! The writer checkpoints states now and then, not with every commit, so the log after
//! `checkpoint_seq` holds events the stored states do not include. Each is applied again
//! (unless the SKU's own state already includes it: a checkpoint that a crash interrupted
//! wrote some states and not others) exactly as the writer applied it (same channel, `manual` for [`MANUAL_CHANNEL`], the
//! logged receive time) but as this run's actors (the new term: a counter entry of the old
//! term is never written again) and with the current config's owners. Replaying from the
//! same checkpoint twice gives the same states; a checkpoint is written right after, so
//! the next start replays only what came later.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use omnistock_sdk::{ChannelId, Sku};

use super::{MANUAL_CHANNEL, actor_of};
use crate::config::Config;
use crate::state::{Actor, Input, SkuState};
use crate::store::{Store, StoreError};

/// How often a long replay reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// The states after a replay, and what it did.
pub(super) struct Replayed {
    pub states: HashMap<Sku, SkuState>,
    /// SKUs the replayed events touched.
    pub touched: HashSet<Sku>,
    /// The log's end: every state now includes the log up to it.
    pub through: u64,
    pub events: u64,
}

/// Every SKU's current state: the checkpoint, the log after it replayed as `term`, and a
/// new checkpoint of what the replay changed. Blocks on the store: call it off the runtime.
pub fn recover(
    store: &Store,
    config: &Config,
    term: u64,
) -> Result<Vec<(Sku, SkuState)>, StoreError> {
    let started = Instant::now();
    let replayed = replay(store, config, term)?;
    if replayed.through > store.checkpoint_seq()? {
        let states: Vec<(&Sku, &SkuState)> = replayed
            .touched
            .iter()
            .filter_map(|sku| replayed.states.get_key_value(sku))
            .collect();
        store.checkpoint(&states, replayed.through)?;
        let secs = started.elapsed().as_secs_f64();
        tracing::info!(
            replayed = replayed.events,
            skus = states.len(),
            through_seq = replayed.through,
            secs,
            per_sec = rate(replayed.events, secs),
            "Replayed the ingest log after the checkpoint; new checkpoint written."
        );
    }
    Ok(replayed.states.into_iter().collect())
}

/// The checkpointed states with the log after them applied; writes nothing.
pub(super) fn replay(store: &Store, config: &Config, term: u64) -> Result<Replayed, StoreError> {
    let mut states = HashMap::new();
    // Each state's own seq: a crash during a checkpoint leaves some states past `from`.
    let mut included = HashMap::new();
    for (sku, state, seq) in store.load_checkpoint()? {
        included.insert(sku.clone(), seq);
        states.insert(sku, state);
    }
    let from = store.checkpoint_seq()?;
    let last = store.last_seq()?;
    if last > from {
        tracing::info!(
            checkpoint_seq = from,
            last_seq = last,
            events = last - from,
            "Replaying the ingest log after the checkpoint."
        );
    }
    let started = Instant::now();
    let mut reported = started;
    let mut actors: HashMap<(ChannelId, bool), Actor> = HashMap::new();
    let mut touched = HashSet::new();
    let (mut through, mut events) = (from, 0u64);
    for logged in store.log_from(from.saturating_add(1)) {
        let logged = logged?;
        through = logged.seq;
        let sku = &logged.event.sku;
        if included.get(sku).is_some_and(|&seq| logged.seq <= seq) {
            continue;
        }
        let manual = logged.channel.as_str() == MANUAL_CHANNEL;
        let actor = actors
            .entry((logged.channel.clone(), manual))
            .or_insert_with(|| actor_of(config, &logged.channel, manual, term));
        let input = Input {
            channel: &logged.channel,
            actor,
            manual,
            received_at: logged.received_at,
            event: &logged.event,
        };
        let _ = states.entry(sku.clone()).or_default().apply(&input, config);
        if !touched.contains(sku) {
            touched.insert(sku.clone());
        }
        events += 1;
        if reported.elapsed() >= PROGRESS_EVERY {
            reported = Instant::now();
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(
                replayed = events,
                remaining = last.saturating_sub(through),
                per_sec = rate(events, secs),
                "Replaying the ingest log."
            );
        }
    }
    Ok(Replayed {
        states,
        touched,
        through,
        events,
    })
}

fn rate(events: u64, secs: f64) -> u64 {
    if secs > 0.0 {
        (events as f64 / secs) as u64
    } else {
        events
    }
}
