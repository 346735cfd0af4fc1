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

#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
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

/// `RecordV1` as written: the same fields, borrowed from the state instead of cloned into
/// it, so encoding copies nothing but the counters' parts. Writes the same bytes.
#[derive(Serialize)]
struct RecordV1Out<'a> {
    on_hand: BTreeMap<&'a LocationId, BTreeMap<Actor, (u64, u64)>>,
    reservations: Pairs<'a, LineKey, Reservation>,
    counted_at: &'a BTreeMap<LocationId, Timestamp>,
    observed: Observed<'a>,
    timelines: &'a BTreeMap<LocationId, OwnerTimeline>,
    history: &'a VecDeque<Change>,
    last_change: Option<Timestamp>,
}

/// A map written as a list of `[key, value]` pairs, as `Vec<(K, V)>` would be.
struct Pairs<'a, K, V>(&'a BTreeMap<K, V>);

impl<K: Serialize, V: Serialize> Serialize for Pairs<'_, K, V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

/// Observations written as `[channel, location, observation]` triples.
struct Observed<'a>(&'a BTreeMap<(ChannelId, LocationId), Observation>);

impl Serialize for Observed<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|((c, l), o)| (c, l, o)))
    }
}

impl SkuState {
    /// Encodes in the current format.
    pub fn encode(&self) -> Vec<u8> {
        let replica = &self.replica;
        let record = RecordV1Out {
            on_hand: replica
                .on_hand
                .iter()
                .map(|(l, c)| (l, c.parts()))
                .collect(),
            reservations: Pairs(&replica.reservations),
            counted_at: &replica.counted_at,
            observed: Observed(&replica.observed),
            timelines: &self.timelines,
            history: &self.history,
            last_change: self.last_change,
        };
        let mut bytes = Vec::with_capacity(4096);
        bytes.push(FORMAT_V1);
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

#[cfg(test)]
mod tests {
    use omnistock_sdk::{EventId, OrderId, Sku, StockChange, StockEvent};

    use super::*;
    use crate::state::Input;

    fn busy_state() -> SkuState {
        let owners: BTreeMap<LocationId, ChannelId> = [(
            LocationId::new("store").expect("id"),
            ChannelId::new("pos").expect("id"),
        )]
        .into_iter()
        .collect();
        let pos = ChannelId::new("pos").expect("id");
        let web = ChannelId::new("web").expect("id");
        let actor = Actor::new("pos", 1);
        let store = LocationId::new("store").expect("id");
        let mut state = SkuState::default();
        let changes = [
            (
                &pos,
                StockChange::LevelObserved {
                    location: store.clone(),
                    quantity: 9,
                },
            ),
            (
                &pos,
                StockChange::Adjusted {
                    location: store.clone(),
                    by: -2,
                    reason: String::new(),
                },
            ),
            (
                &web,
                StockChange::LevelObserved {
                    location: store.clone(),
                    quantity: 4,
                },
            ),
            (
                &web,
                StockChange::OrderLineOpened {
                    order: OrderId::new("o-1").expect("id"),
                    line: "1".to_owned(),
                    location: store.clone(),
                    quantity: 2,
                },
            ),
        ];
        for (i, (channel, change)) in changes.into_iter().enumerate() {
            let event = StockEvent {
                id: EventId::new(format!("e-{i}")).expect("id"),
                occurred_at: Timestamp::from_millis(1_000 + i as i64),
                sku: Sku::new("SKU-1").expect("sku"),
                change,
            };
            let input = Input {
                channel,
                actor: &actor,
                manual: false,
                received_at: Timestamp::from_millis(2_000 + i as i64),
                event: &event,
            };
            let _ = state.apply(&input, &owners);
        }
        state
    }

    #[test]
    fn borrowed_encoding_writes_the_same_bytes_as_the_owned_record() {
        let state = busy_state();
        let replica = &state.replica;
        let owned = RecordV1 {
            on_hand: replica
                .on_hand
                .iter()
                .map(|(l, c)| (l.clone(), c.parts()))
                .collect(),
            reservations: replica.reservations.clone().into_iter().collect(),
            counted_at: replica.counted_at.clone(),
            observed: replica
                .observed
                .iter()
                .map(|((c, l), o)| (c.clone(), l.clone(), o.clone()))
                .collect(),
            timelines: state.timelines.clone(),
            history: state.history.clone(),
            last_change: state.last_change,
        };
        let mut expected = vec![FORMAT_V1];
        serde_json::to_writer(&mut expected, &owned).expect("encode");
        assert_eq!(state.encode(), expected);
        assert_eq!(SkuState::decode(&expected).expect("decode"), state);
    }
}
