//! Checkpoints: the SKU states written down, so that a start replays only the log after
//! them.

use std::time::{Duration, Instant};

use omnistock_sdk::Sku;

use super::{META_CHECKPOINT_SEQ, Store, StoreError, codec};
use crate::state::SkuState;

/// How long a checkpoint writes before it pauses for `CHECKPOINT_PAUSE`.
const CHECKPOINT_SLICE: Duration = Duration::from_millis(1);
/// A checkpoint takes a seventh of a core at most (see `write_checkpoint_states`): written
/// at full speed, the ~100 ms of CPU and ~10 MB of sled writes that 1,000 states of a busy
/// store cost raised the acknowledgements' p99 on this 2-core machine. Paced, 1,000 states
/// take about half a second, which nobody waits for.
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(6);

/// Why a checkpoint through `through` may not follow one through `previous` with the log
/// ending at `last`; `None` if it may.
fn checkpoint_out_of_range(through: u64, previous: u64, last: u64) -> Option<String> {
    (through > last || through < previous).then(|| {
        format!(
            "a checkpoint through seq {through} is outside the range from the last \
             checkpoint's seq to the log's end, {previous}..={last}"
        )
    })
}

impl Store {
    /// Every SKU's state as of the last checkpoint (see [`Store::checkpoint_seq`]), each
    /// record checked as it is decoded. The log after `checkpoint_seq` is not in them.
    pub fn load_states(&self) -> Result<Vec<(Sku, SkuState)>, StoreError> {
        Ok(self
            .load_checkpoint()?
            .into_iter()
            .map(|(sku, state, _)| (sku, state))
            .collect())
    }

    /// Every SKU's checkpointed state with the last seq it includes: at least
    /// [`Store::checkpoint_seq`], more for a state written by a checkpoint that a crash
    /// interrupted. A replay applies to each state only the log entries after its own seq.
    pub fn load_checkpoint(&self) -> Result<Vec<(Sku, SkuState, u64)>, StoreError> {
        let checkpoint_seq = self.checkpoint_seq()?;
        self.states
            .iter()
            .map(|item| {
                let (key, value) = item.map_err(self.backend("reading the states"))?;
                let sku = codec::sku_from_key(&key).map_err(|d| self.bad("states", &key, d))?;
                let (seq, state) =
                    codec::decode_state(&value).map_err(|d| self.bad("states", &key, d))?;
                // A record without its own seq is format 1's, unchanged since the upgrade.
                Ok((
                    sku,
                    state,
                    seq.unwrap_or(checkpoint_seq).max(checkpoint_seq),
                ))
            })
            .collect()
    }

    /// The last seq the checkpointed states include: the log after it must be replayed onto
    /// [`Store::load_states`] to get the current states.
    pub fn checkpoint_seq(&self) -> Result<u64, StoreError> {
        self.meta_counter(META_CHECKPOINT_SEQ)
    }

    /// Writes `states`, each tagged with `through_seq`, then records `through_seq` as the
    /// checkpoint seq.
    ///
    /// The caller promises that the given states include exactly the log up to `through_seq`
    /// and that every SKU left out changed in no event after the previous checkpoint. It
    /// may not go back (`through_seq` below the current checkpoint) nor ahead of the log.
    ///
    /// Not one atomic write: the states go one by one, paced, so that the commits made
    /// meanwhile keep their share of the CPU. That is safe because
    /// each record carries its own seq (a crash midway leaves some states newer than the
    /// checkpoint seq, and the replay skips what they hold), and the checkpoint seq moves
    /// only after every state is written. Durable only after the next `sync`, and needs
    /// none: the log rebuilds it until then.
    pub fn checkpoint(
        &self,
        states: &[(&Sku, &SkuState)],
        through_seq: u64,
    ) -> Result<(), StoreError> {
        // sled must hold the log the states summarize before they are written: it keeps a
        // prefix of its writes in a crash, so states never survive without their events.
        self.applied("writing a checkpoint of the states")?;
        self.check_checkpoint_range(through_seq)?;
        self.write_checkpoint_states(states, through_seq)?;
        self.record_checkpoint_seq(through_seq)
    }

    /// A checkpoint's states, each tagged `through_seq`, written in slices of
    /// `CHECKPOINT_SLICE` with a `CHECKPOINT_PAUSE` after each.
    fn write_checkpoint_states(
        &self,
        states: &[(&Sku, &SkuState)],
        through_seq: u64,
    ) -> Result<(), StoreError> {
        let mut slice = Instant::now();
        for (sku, state) in states {
            // Plain inserts: each record stands alone (it carries its seq), and a batch would
            // make sled write two IO buffers with a `sync_file_range` each (see `commit`).
            self.states
                .insert(codec::sku_key(sku), codec::encode_state(state, through_seq))
                .map_err(self.backend("writing a checkpoint of the states"))?;
            if slice.elapsed() >= CHECKPOINT_SLICE {
                std::thread::sleep(CHECKPOINT_PAUSE);
                slice = Instant::now();
            }
        }
        Ok(())
    }

    /// A checkpoint that a crash interrupts after its states: they are written, the
    /// checkpoint seq is not (tests).
    #[cfg(test)]
    pub(crate) fn checkpoint_interrupted(
        &self,
        states: &[(&Sku, &SkuState)],
        through_seq: u64,
    ) -> Result<(), StoreError> {
        self.write_checkpoint_states(states, through_seq)
    }

    /// Recording the checkpoint seq, the last step of a checkpoint. A plain insert, not a
    /// sled transaction: a transaction takes sled's global write lock and writes two IO
    /// buffers under it, which held every commit up by tens of milliseconds at the end of
    /// each checkpoint (measured). Nothing can move the range meanwhile: the log's end only
    /// grows, and only the one running checkpoint writes the checkpoint seq.
    fn record_checkpoint_seq(&self, through_seq: u64) -> Result<(), StoreError> {
        self.check_checkpoint_range(through_seq)?;
        self.meta
            .insert(META_CHECKPOINT_SEQ, &codec::encode_u64(through_seq))
            .map_err(self.backend("recording the checkpoint seq"))?;
        Ok(())
    }

    fn check_checkpoint_range(&self, through_seq: u64) -> Result<(), StoreError> {
        let (previous, last) = (self.checkpoint_seq()?, self.last_seq()?);
        match checkpoint_out_of_range(through_seq, previous, last) {
            None => Ok(()),
            Some(detail) => Err(StoreError::Backend {
                path: self.path.clone(),
                action: "writing a checkpoint of the states".to_owned(),
                detail,
            }),
        }
    }
}
