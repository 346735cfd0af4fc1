//! The only module that speaks sled: ingest log, derived state, published values, outbox.
//!
//! Everything is written in a versioned encoding of our own (see `codec`), never in the
//! `crdts` types' serde form. `commit` is atomic but not yet durable; `sync` makes everything
//! committed so far power-loss durable (sled flush, then fsync of the store's files), and the
//! ingest acknowledges events only after a `sync` that covers them.

use std::path::Path;

use omnistock_sdk::{ChannelId, EventId, Sku, StockEvent, Timestamp};

use crate::state::SkuState;

/// Why the store could not do what was asked; every message names the store's path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store error: {0}")]
    Other(String),
}

/// An event to append to the ingest log.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub channel: ChannelId,
    pub received_at: Timestamp,
    pub event: StockEvent,
}

/// An event as kept in the ingest log, with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedEvent {
    pub seq: u64,
    pub channel: ChannelId,
    pub received_at: Timestamp,
    pub event: StockEvent,
}

/// The quantity we last made a channel show for a SKU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub quantity: i64,
    pub at: Timestamp,
}

/// A push to be made, kept until the channel confirms it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    pub channel: ChannelId,
    pub sku: Sku,
    pub target: i64,
    pub created_at: Timestamp,
}

/// What one `sync` cost, for metrics and the benchmark.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SyncStats {
    pub flush_micros: u64,
    pub fsync_micros: u64,
}

/// The open store.
pub struct Store {}

impl Store {
    /// Opens (or creates) the store in `dir`. A store that is corrupt, of an unknown format
    /// version, or in use by another process is an error naming the path; never reset.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let _ = dir;
        todo!()
    }

    /// Starts a new term for this node (the previous term + 1), durably, and returns it.
    pub fn begin_term(&self) -> Result<u64, StoreError> {
        todo!()
    }

    /// Every SKU's state, each record checked as it is decoded.
    pub fn load_states(&self) -> Result<Vec<(Sku, SkuState)>, StoreError> {
        todo!()
    }

    /// Whether an event with this id from this channel is already in the log.
    pub fn contains_event(&self, channel: &ChannelId, id: &EventId) -> Result<bool, StoreError> {
        let _ = (channel, id);
        todo!()
    }

    /// Atomically appends `events` to the log (returning their sequence numbers), records
    /// their ids for dedup, and writes `states`. Durable only after the next `sync`.
    pub fn commit(
        &self,
        events: &[NewEvent],
        states: &[(&Sku, &SkuState)],
    ) -> Result<Vec<u64>, StoreError> {
        let _ = (events, states);
        todo!()
    }

    /// Makes everything committed so far power-loss durable.
    pub async fn sync(&self) -> Result<SyncStats, StoreError> {
        todo!()
    }

    /// The ingest log from `from_seq` on, in order.
    pub fn log_from(
        &self,
        from_seq: u64,
    ) -> impl Iterator<Item = Result<LoggedEvent, StoreError>> + '_ {
        let _ = from_seq;
        std::iter::empty()
    }

    pub fn published(
        &self,
        channel: &ChannelId,
        sku: &Sku,
    ) -> Result<Option<Published>, StoreError> {
        let _ = (channel, sku);
        todo!()
    }

    pub fn set_published(
        &self,
        channel: &ChannelId,
        sku: &Sku,
        value: &Published,
    ) -> Result<(), StoreError> {
        let _ = (channel, sku, value);
        todo!()
    }

    /// Adds pushes to the outbox, returning their ids. Durable only after the next `sync`.
    pub fn enqueue(&self, entries: &[OutboxEntry]) -> Result<Vec<u64>, StoreError> {
        let _ = entries;
        todo!()
    }

    /// Up to `limit` pending pushes for `channel`, oldest first.
    pub fn pending(
        &self,
        channel: &ChannelId,
        limit: usize,
    ) -> Result<Vec<(u64, OutboxEntry)>, StoreError> {
        let _ = (channel, limit);
        todo!()
    }

    /// Removes pushes the channel confirmed.
    pub fn confirm(&self, channel: &ChannelId, ids: &[u64]) -> Result<(), StoreError> {
        let _ = (channel, ids);
        todo!()
    }

    pub fn outbox_len(&self, channel: &ChannelId) -> Result<usize, StoreError> {
        let _ = channel;
        todo!()
    }
}
