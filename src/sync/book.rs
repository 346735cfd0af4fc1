//! What the engine shares between the ingest writer and the pushers: the published values
//! (one lock, so a channel's own order and a confirmed push never overwrite each other) and
//! each channel's health, for the API, `/readyz` and metrics.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use omnistock_sdk::{ChannelId, Sku, Timestamp};
use serde::Serialize;

use super::escrow::Escrow;
use crate::store::Published;

/// Published values per channel and SKU. Changes are made under the lock *and* written to the
/// store before it is released. It carries the strict channels' escrow ledger, which the
/// writer and the pushers share the same way (lock order: this book, then the escrow).
#[derive(Clone, Default)]
pub struct PublishedBook(Arc<Mutex<HashMap<(ChannelId, Sku), Published>>>, Escrow);

impl PublishedBook {
    pub fn from_store(values: Vec<(ChannelId, Sku, Published)>) -> Self {
        Self(
            Arc::new(Mutex::new(
                values.into_iter().map(|(c, s, p)| ((c, s), p)).collect(),
            )),
            Escrow::default(),
        )
    }

    /// The book with `escrow` as its ledger.
    pub fn with_escrow(self, escrow: Escrow) -> Self {
        Self(self.0, escrow)
    }

    pub fn escrow(&self) -> &Escrow {
        &self.1
    }

    pub fn lock(&self) -> MutexGuard<'_, HashMap<(ChannelId, Sku), Published>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One channel's push side as operators see it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ChannelHealth {
    pub paused: bool,
    /// False after `unhealthy_after` consecutive failures, until a call succeeds.
    pub healthy: bool,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_success: Option<Timestamp>,
    pub pushed: u64,
    pub rate_limited: u64,
    pub stale_compares: u64,
    /// Sync lag (change planned → channel confirmed), a moving average in seconds: what an
    /// adaptive buffer multiplies its sales velocity by.
    pub lag_seconds: f64,
    /// The channel's reconciliation: under way or last done.
    pub reconciliation: super::reconcile::ReconcileStatus,
}

/// Every pushing channel's health.
#[derive(Clone, Debug, Default)]
pub struct StatusBoard(Arc<Mutex<BTreeMap<ChannelId, ChannelHealth>>>);

impl StatusBoard {
    pub fn update(&self, channel: &ChannelId, change: impl FnOnce(&mut ChannelHealth)) {
        let mut board = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(
            board
                .entry(channel.clone())
                .or_insert_with(|| ChannelHealth {
                    healthy: true,
                    ..ChannelHealth::default()
                }),
        );
    }

    /// Each channel's measured sync lag, in seconds.
    pub fn lags(&self) -> BTreeMap<ChannelId, f64> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(id, h)| (id.clone(), h.lag_seconds))
            .collect()
    }

    pub fn snapshot(&self) -> BTreeMap<ChannelId, ChannelHealth> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// How many pushes per channel and SKU the audit trail keeps.
pub const PUSH_LOG_LEN: usize = 10;

/// One push, as `explain` shows it: what the channel showed, what we asked, what it said.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PushRecord {
    pub at: Timestamp,
    /// What the channel showed when read.
    pub read: i64,
    /// Our published value then (`None` before the first push).
    pub published: Option<i64>,
    pub target: i64,
    /// What we set (target + the channel's unseen sales).
    pub value: i64,
    /// applied, already showing, stale compare, rejected: …, sent again: …
    pub outcome: String,
}

/// The last pushes per channel and SKU, for the audit trail. Kept in memory: it explains the
/// running daemon's recent work; the store holds the durable facts (log, published, outbox).
#[derive(Clone, Default)]
pub struct PushLog(Arc<Mutex<HashMap<(ChannelId, Sku), PushHistory>>>);

/// One channel's and SKU's last pushes, oldest first.
type PushHistory = std::collections::VecDeque<PushRecord>;

impl PushLog {
    pub fn record(&self, channel: &ChannelId, sku: &Sku, record: PushRecord) {
        let mut log = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entries = log.entry((channel.clone(), sku.clone())).or_default();
        entries.push_back(record);
        while entries.len() > PUSH_LOG_LEN {
            entries.pop_front();
        }
    }

    /// The recorded pushes of `sku` to `channel`, oldest first.
    pub fn of(&self, channel: &ChannelId, sku: &Sku) -> Vec<PushRecord> {
        let log = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        log.get(&(channel.clone(), sku.clone()))
            .map(|e| e.iter().cloned().collect())
            .unwrap_or_default()
    }
}
