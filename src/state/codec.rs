//! Our own versioned encoding of `SkuState`: a format byte, then a JSON body.
//!
//! Not the `crdts` types' serde form, which changes between releases: counters are stored as
//! each actor's (increments, decrements). A new format gets a new byte and a decoder beside
//! the old one; nothing is ever decoded by guess.

use std::collections::{BTreeMap, VecDeque};

use omnistock_sdk::{ChannelId, LineKey, LocationId, Timestamp};
use serde::{Deserialize, Serialize};

use super::counter::{Actor, OnHandCounter};
use super::reservation::Reservation;
use super::sku::{Change, Observation, Replica, SkuState};
use super::timeline::OwnerTimeline;

const FORMAT_V1: u8 = 1;

/// A record that could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode stock state: {0}")]
pub struct DecodeError(pub String);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordV1 {
    on_hand: BTreeMap<LocationId, BTreeMap<Actor, (u64, u64)>>,
    reservations: Vec<(LineKey, Reservation)>,
    counted_at: BTreeMap<LocationId, Timestamp>,
    observed: Vec<(ChannelId, LocationId, Observation)>,
    timelines: BTreeMap<LocationId, OwnerTimeline>,
    history: VecDeque<Change>,
    last_change: Option<Timestamp>,
}

impl SkuState {
    /// Encodes in the current format.
    pub fn encode(&self) -> Vec<u8> {
        let replica = &self.replica;
        let record = RecordV1 {
            on_hand: replica
                .on_hand
                .iter()
                .map(|(l, c)| (l.clone(), c.parts()))
                .collect(),
            reservations: replica
                .reservations
                .iter()
                .map(|(k, r)| (k.clone(), r.clone()))
                .collect(),
            counted_at: replica.counted_at.clone(),
            observed: replica
                .observed
                .iter()
                .map(|((c, l), o)| (c.clone(), l.clone(), o.clone()))
                .collect(),
            timelines: self.timelines.clone(),
            history: self.history.clone(),
            last_change: self.last_change,
        };
        let mut bytes = vec![FORMAT_V1];
        // Serializing plain data structures with string keys to a Vec cannot fail.
        serde_json::to_writer(&mut bytes, &record)
            .unwrap_or_else(|e| unreachable!("encoding stock state: {e}"));
        bytes
    }

    /// Decodes any format this build knows.
    pub fn decode(bytes: &[u8]) -> Result<SkuState, DecodeError> {
        match bytes.split_first() {
            Some((&FORMAT_V1, body)) => {
                let record: RecordV1 = serde_json::from_slice(body)
                    .map_err(|e| DecodeError(format!("format 1: {e}")))?;
                Ok(SkuState {
                    replica: Replica {
                        on_hand: record
                            .on_hand
                            .iter()
                            .map(|(l, parts)| (l.clone(), OnHandCounter::from_parts(parts)))
                            .collect(),
                        reservations: record.reservations.into_iter().collect(),
                        counted_at: record.counted_at,
                        observed: record
                            .observed
                            .into_iter()
                            .map(|(c, l, o)| ((c, l), o))
                            .collect(),
                    },
                    timelines: record.timelines,
                    history: record.history,
                    last_change: record.last_change,
                })
            }
            Some((version, _)) => Err(DecodeError(format!(
                "format {version} is not one this build reads (it reads {FORMAT_V1}); was the store written by a newer omnistock?"
            ))),
            None => Err(DecodeError("empty record".to_owned())),
        }
    }
}
