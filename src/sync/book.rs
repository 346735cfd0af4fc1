//! What the engine shares between the ingest writer and the pushers: the published values
//! (one lock, so a channel's own order and a confirmed push never overwrite each other) and
//! each channel's health, for the API, `/readyz` and metrics.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use omnistock_sdk::{ChannelId, Sku, Timestamp};
use serde::Serialize;

use crate::store::Published;

/// Published values per channel and SKU. Changes are made under the lock *and* written to the
/// store before it is released.
#[derive(Clone, Default)]
pub struct PublishedBook(Arc<Mutex<HashMap<(ChannelId, Sku), Published>>>);

impl PublishedBook {
    pub fn from_store(values: Vec<(ChannelId, Sku, Published)>) -> Self {
        Self(Arc::new(Mutex::new(
            values.into_iter().map(|(c, s, p)| ((c, s), p)).collect(),
        )))
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
}

/// Every pushing channel's health.
#[derive(Clone, Default)]
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

    pub fn snapshot(&self) -> BTreeMap<ChannelId, ChannelHealth> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}
