//! Our own versioned encoding of keys and values; nothing on disk is sled's or `crdts`' form.
//!
//! Every value starts with a format-version byte, so a future build can read old records and
//! an old build refuses new ones instead of misreading them. Bodies are serde_json of private
//! DTOs declared here: the public types can change shape without changing what is on disk.
//!
//! Keys that join several names use a length prefix per name (u16, big-endian), so no choice
//! of names can make two different pairs share a key, and prefix scans by channel stay exact.
//! Numbers in keys are big-endian so sled's byte order is numeric order.
//!
//! Decoding returns a short reason; the caller adds the store path, tree and key.

use omnistock_sdk::ids::MAX_ID_LEN;
use omnistock_sdk::{ChannelId, EventId, Sku, StockEvent, Timestamp};
use serde::{Deserialize, Serialize};

use super::{Attempt, DeadLetter, LoggedEvent, LostPush, NewEvent, OutboxEntry, Published};
use crate::state::SkuState;

/// The store's layout version, kept in meta and in the marker file.
///
/// 3: commits carry a number (`meta.commit_no`) and are made durable by the write-ahead log
/// (`wal/`) before sled; a build without the log would ignore commits only it holds.
/// 2: states are checkpoints (`meta.checkpoint_seq`), the log after them is replayed at
/// start. 1: every commit wrote the states; opened as 2 with its checkpoint at the log's end.
/// A build that reads only 1 refuses a 2 rather than take its states for current.
pub(super) const FORMAT_VERSION: u8 = 3;
/// The oldest layout this build opens (and upgrades).
pub(super) const OLDEST_FORMAT_VERSION: u8 = 1;

/// The encoding version of each value written by this build.
const V1: u8 = 1;
/// A state record with the seq it includes (see `encode_state`).
const STATE_V2: u8 = 2;

// Names fit a u16 length prefix; the newtypes guarantee it.
const _: () = assert!(MAX_ID_LEN <= u16::MAX as usize);

fn push_name(key: &mut Vec<u8>, name: &str) {
    // Cannot saturate: names are at most MAX_ID_LEN bytes (asserted above).
    let len = u16::try_from(name.len()).unwrap_or(u16::MAX);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(name.as_bytes());
}

/// Splits one length-prefixed name off the front of `key`.
fn take_name(key: &[u8]) -> Option<(&str, &[u8])> {
    let (len, rest) = key.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    let (name, rest) = rest.split_at_checked(len)?;
    Some((std::str::from_utf8(name).ok()?, rest))
}

pub(super) fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

pub(super) fn seq_from_key(key: &[u8]) -> Result<u64, String> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| format!("key is {} bytes, expected 8", key.len()))?;
    Ok(u64::from_be_bytes(bytes))
}

/// Key of the dedup tree: channel, then event id.
pub(super) fn event_id_key(channel: &ChannelId, id: &EventId) -> Vec<u8> {
    let mut key = channel_prefix(channel);
    push_name(&mut key, id.as_str());
    key
}

pub(super) fn sku_key(sku: &Sku) -> Vec<u8> {
    sku.as_str().as_bytes().to_vec()
}

pub(super) fn sku_from_key(key: &[u8]) -> Result<Sku, String> {
    let text = std::str::from_utf8(key).map_err(|e| format!("SKU is not UTF-8: {e}"))?;
    Sku::new(text).map_err(|e| e.to_string())
}

/// The prefix shared by every key of one channel in the dedup, published and outbox trees.
pub(super) fn channel_prefix(channel: &ChannelId) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + channel.as_str().len() + 10);
    push_name(&mut key, channel.as_str());
    key
}

pub(super) fn published_key(channel: &ChannelId, sku: &Sku) -> Vec<u8> {
    let mut key = channel_prefix(channel);
    push_name(&mut key, sku.as_str());
    key
}

pub(super) fn outbox_key(channel: &ChannelId, id: u64) -> Vec<u8> {
    let mut key = channel_prefix(channel);
    key.extend_from_slice(&id.to_be_bytes());
    key
}

pub(super) fn outbox_id_from_key(channel: &ChannelId, key: &[u8]) -> Result<u64, String> {
    let suffix = key
        .strip_prefix(channel_prefix(channel).as_slice())
        .ok_or("key does not start with its channel")?;
    seq_from_key(suffix)
}

/// The channel and id of an outbox or dead-letter key, for scans across channels.
pub(super) fn outbox_key_parts(key: &[u8]) -> Result<(ChannelId, u64), String> {
    let (name, rest) = take_name(key).ok_or("key does not start with a channel name")?;
    let channel = ChannelId::new(name).map_err(|e| e.to_string())?;
    Ok((channel, seq_from_key(rest)?))
}

/// The channel and SKU of a published key.
pub(super) fn published_key_parts(key: &[u8]) -> Result<(ChannelId, Sku), String> {
    let (first, rest) = take_name(key).ok_or("key does not start with a channel name")?;
    let (second, rest) = take_name(rest).ok_or("key has no SKU after its channel")?;
    if !rest.is_empty() {
        return Err(format!("key has {} bytes after its SKU", rest.len()));
    }
    let channel = ChannelId::new(first).map_err(|e| e.to_string())?;
    let sku = Sku::new(second).map_err(|e| e.to_string())?;
    Ok((channel, sku))
}

/// Key of the channels tree: the channel's name, length-prefixed like every other key.
pub(super) fn channel_key(channel: &ChannelId) -> Vec<u8> {
    channel_prefix(channel)
}

pub(super) fn channel_from_key(key: &[u8]) -> Result<ChannelId, String> {
    match take_name(key) {
        Some((name, [])) => ChannelId::new(name).map_err(|e| e.to_string()),
        Some((_, rest)) => Err(format!("key has {} bytes after its channel", rest.len())),
        None => Err("key is not a length-prefixed channel name".to_owned()),
    }
}

/// A key of `tree` as a person can read it in an error message.
pub(super) fn describe_key(tree: &str, key: &[u8]) -> String {
    let readable = match tree {
        "log" => seq_from_key(key).ok().map(|n| format!("seq {n}")),
        "ids" | "published" => take_name(key).and_then(|(first, rest)| match take_name(rest) {
            Some((second, [])) => Some(format!("{first:?}/{second:?}")),
            _ => None,
        }),
        "channels" => match take_name(key) {
            Some((name, [])) => Some(format!("{name:?}")),
            _ => None,
        },
        "outbox" | "dead" => take_name(key)
            .and_then(|(first, rest)| seq_from_key(rest).ok().map(|n| format!("{first:?}/{n}"))),
        _ => std::str::from_utf8(key)
            .ok()
            .map(|text| format!("{text:?}")),
    };
    readable.unwrap_or_else(|| format!("0x{}", hex::encode(key)))
}

fn versioned<T: Serialize>(dto: &T) -> Result<Vec<u8>, String> {
    let mut out = vec![V1];
    serde_json::to_writer(&mut out, dto).map_err(|e| format!("cannot encode: {e}"))?;
    Ok(out)
}

/// The body of a value this build can read, or why not.
fn body(bytes: &[u8]) -> Result<&[u8], String> {
    match bytes.split_first() {
        Some((&V1, body)) => Ok(body),
        Some((v, _)) => Err(format!("unknown value version {v} (this build reads {V1})")),
        None => Err("empty value".to_owned()),
    }
}

fn from_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(body(bytes)?).map_err(|e| e.to_string())
}

/// A log entry on disk. `occurred_at` inside the event keeps the event's own serde form,
/// which is stable and ours; our own timestamps are stored as integer milliseconds.
///
/// Fields added to an event later are optional and left out when absent, within the same
/// version byte: `order_line_fulfilled`'s `quantity` (a partial shipment). A record without
/// it is a whole-line fulfilment, exactly as it was written before the field existed; a
/// build older than the field refuses a record that has it (unknown fields are refused)
/// rather than take a part for the whole line.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogRecordV1 {
    channel: ChannelId,
    received_at_ms: i64,
    event: StockEvent,
}

pub(super) fn encode_log(event: &NewEvent) -> Result<Vec<u8>, String> {
    versioned(&LogRecordV1 {
        channel: event.channel.clone(),
        received_at_ms: event.received_at.as_millis(),
        event: event.event.clone(),
    })
}

pub(super) fn decode_log(seq: u64, bytes: &[u8]) -> Result<LoggedEvent, String> {
    let record: LogRecordV1 = from_json(bytes)?;
    Ok(LoggedEvent {
        seq,
        channel: record.channel,
        received_at: Timestamp::from_millis(record.received_at_ms),
        event: record.event,
    })
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishedV1 {
    quantity: i64,
    at_ms: i64,
}

pub(super) fn encode_published(value: &Published) -> Result<Vec<u8>, String> {
    versioned(&PublishedV1 {
        quantity: value.quantity,
        at_ms: value.at.as_millis(),
    })
}

pub(super) fn decode_published(bytes: &[u8]) -> Result<Published, String> {
    let dto: PublishedV1 = from_json(bytes)?;
    Ok(Published {
        quantity: dto.quantity,
        at: Timestamp::from_millis(dto.at_ms),
    })
}

/// An outbox entry on disk; its channel and id are in the key.
///
/// `attempt` and `lost` came after the first version of this record, within the same
/// version byte: absent means none, and an entry without them is written exactly as before.
/// A build older than `lost` refuses a record that has it (unknown fields are refused)
/// rather than forget that the channel may show what a lost push asked for.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxV1 {
    sku: Sku,
    target: i64,
    created_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attempt: Option<AttemptV1>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lost: Option<LostPushV1>,
}

/// A push given up on after its answer was lost: what it asked for, and `published` then.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LostPushV1 {
    asked: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    published: Option<i64>,
}

impl LostPushV1 {
    fn new(lost: &LostPush) -> LostPushV1 {
        LostPushV1 {
            asked: lost.asked,
            published: lost.published,
        }
    }

    fn public(self) -> LostPush {
        LostPush {
            asked: self.asked,
            published: self.published,
        }
    }
}

/// A push recorded just before it was sent.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttemptV1 {
    expected: i64,
    value: i64,
    at_ms: i64,
}

impl AttemptV1 {
    fn new(attempt: &Attempt) -> AttemptV1 {
        AttemptV1 {
            expected: attempt.expected,
            value: attempt.value,
            at_ms: attempt.at.as_millis(),
        }
    }

    fn public(self) -> Attempt {
        Attempt {
            expected: self.expected,
            value: self.value,
            at: Timestamp::from_millis(self.at_ms),
        }
    }
}

impl OutboxV1 {
    fn new(entry: &OutboxEntry) -> OutboxV1 {
        OutboxV1 {
            sku: entry.sku.clone(),
            target: entry.target,
            created_at_ms: entry.created_at.as_millis(),
            attempt: entry.attempt.as_ref().map(AttemptV1::new),
            lost: entry.lost.as_ref().map(LostPushV1::new),
        }
    }

    fn public(self, channel: &ChannelId) -> OutboxEntry {
        OutboxEntry {
            channel: channel.clone(),
            sku: self.sku,
            target: self.target,
            created_at: Timestamp::from_millis(self.created_at_ms),
            attempt: self.attempt.map(AttemptV1::public),
            lost: self.lost.map(LostPushV1::public),
        }
    }
}

pub(super) fn encode_outbox(entry: &OutboxEntry) -> Result<Vec<u8>, String> {
    versioned(&OutboxV1::new(entry))
}

pub(super) fn decode_outbox(channel: &ChannelId, bytes: &[u8]) -> Result<OutboxEntry, String> {
    let dto: OutboxV1 = from_json(bytes)?;
    Ok(dto.public(channel))
}

/// An outbox value with its attempt replaced; the rest of the record is kept as it was.
pub(super) fn outbox_with_attempt(bytes: &[u8], attempt: &Attempt) -> Result<Vec<u8>, String> {
    let mut dto: OutboxV1 = from_json(bytes)?;
    dto.attempt = Some(AttemptV1::new(attempt));
    versioned(&dto)
}

/// A dead letter on disk: the outbox record it was, why, and when. Channel and id are in
/// the key (the id is the one it had in the outbox).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeadV1 {
    entry: OutboxV1,
    reason: String,
    at_ms: i64,
}

/// The dead letter made of an outbox value; `lost`: the push given up on after its answer
/// was lost, added to one the entry already carried (a retried dead letter).
pub(super) fn outbox_to_dead(
    outbox: &[u8],
    reason: &str,
    at: Timestamp,
    lost: Option<&LostPush>,
) -> Result<Vec<u8>, String> {
    let mut entry: OutboxV1 = from_json(outbox)?;
    if let Some(later) = lost {
        let merged = match entry.lost {
            Some(earlier) => earlier.public().merged(*later),
            None => *later,
        };
        entry.lost = Some(LostPushV1::new(&merged));
    }
    versioned(&DeadV1 {
        entry,
        reason: reason.to_owned(),
        at_ms: at.as_millis(),
    })
}

/// The outbox value a dead letter goes back as: the same push, never attempted, still
/// carrying a lost push it may have left on the channel (cleared only by a confirmation).
pub(super) fn dead_to_outbox(dead: &[u8]) -> Result<Vec<u8>, String> {
    let mut dto: DeadV1 = from_json(dead)?;
    dto.entry.attempt = None;
    versioned(&dto.entry)
}

pub(super) fn decode_dead(
    channel: &ChannelId,
    id: u64,
    bytes: &[u8],
) -> Result<DeadLetter, String> {
    let dto: DeadV1 = from_json(bytes)?;
    Ok(DeadLetter {
        id,
        entry: dto.entry.public(channel),
        reason: dto.reason,
        at: Timestamp::from_millis(dto.at_ms),
    })
}

/// A channel's control record; absent means the defaults (not paused).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelV1 {
    paused: bool,
}

pub(super) fn encode_channel(paused: bool) -> Result<Vec<u8>, String> {
    versioned(&ChannelV1 { paused })
}

/// Whether a channel's control record says it is paused.
pub(super) fn decode_channel_paused(bytes: &[u8]) -> Result<bool, String> {
    let dto: ChannelV1 = from_json(bytes)?;
    Ok(dto.paused)
}

/// Key of a channel's poll cursor in the meta tree.
pub(super) fn cursor_key(channel: &ChannelId) -> Vec<u8> {
    let mut key = b"poll_cursor/".to_vec();
    key.extend(channel_prefix(channel));
    key
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorV1 {
    cursor: String,
}

pub(super) fn encode_cursor(cursor: &str) -> Result<Vec<u8>, String> {
    versioned(&CursorV1 {
        cursor: cursor.to_owned(),
    })
}

pub(super) fn decode_cursor(bytes: &[u8]) -> Result<String, String> {
    let dto: CursorV1 = from_json(bytes)?;
    Ok(dto.cursor)
}

/// A SKU state: our version byte framing the state module's own encoding, so the store can
/// change its framing without asking `state` and vice versa.
///
/// Version 2 adds the last log seq the state includes (8 bytes, big-endian), so the states
/// of one checkpoint need not be written in one atomic write: the replay skips, per SKU, what
/// its state already holds. A version-1 record (every commit wrote it) has no seq of its own.
pub(super) fn encode_state(state: &SkuState, through_seq: u64) -> Vec<u8> {
    let body = state.encode();
    let mut out = Vec::with_capacity(9 + body.len());
    out.push(STATE_V2);
    out.extend_from_slice(&through_seq.to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// A state, and the seq it includes if its record says (version 2).
pub(super) fn decode_state(bytes: &[u8]) -> Result<(Option<u64>, SkuState), String> {
    let (seq, body) = match bytes.split_first() {
        Some((&STATE_V2, rest)) => {
            let (seq, body) = rest
                .split_first_chunk::<8>()
                .ok_or("state record too short for its seq")?;
            (Some(u64::from_be_bytes(*seq)), body)
        }
        Some((&V1, body)) => (None, body),
        Some((v, _)) => {
            return Err(format!(
                "unknown value version {v} (this build reads {V1} and {STATE_V2})"
            ));
        }
        None => return Err("empty value".to_owned()),
    };
    let state = SkuState::decode(body).map_err(|e| e.to_string())?;
    Ok((seq, state))
}

/// A counter in meta, or a seq in the dedup tree.
pub(super) fn encode_u64(value: u64) -> [u8; 9] {
    let mut out = [V1; 9];
    out[1..].copy_from_slice(&value.to_be_bytes());
    out
}

pub(super) fn decode_u64(bytes: &[u8]) -> Result<u64, String> {
    let body = body(bytes)?;
    seq_from_key(body).map_err(|_| format!("counter is {} bytes, expected 8", body.len()))
}

#[cfg(test)]
mod event_tests {
    use omnistock_sdk::{OrderId, StockChange};

    use super::*;

    /// A whole-line shipment as the build before partial shipments wrote it.
    const OLD_FULFILMENT: &str = r#"{"channel":"wms","received_at_ms":1763892000000,"event":{"id":"shipment/5/7","occurred_at":"2026-11-23T10:00:00.000Z","sku":"MUG","change":{"type":"order_line_fulfilled","order":"1001","line":"7","channel":"web"}}}"#;

    fn old_record() -> Vec<u8> {
        let mut bytes = vec![V1];
        bytes.extend_from_slice(OLD_FULFILMENT.as_bytes());
        bytes
    }

    fn fulfilled(quantity: Option<u32>) -> StockChange {
        StockChange::OrderLineFulfilled {
            order: OrderId::new("1001").expect("id"),
            line: "7".to_owned(),
            channel: Some(ChannelId::new("web").expect("id")),
            quantity,
        }
    }

    #[test]
    fn a_fulfilment_logged_before_partial_shipments_reads_as_the_whole_line() {
        let logged = decode_log(3, &old_record()).expect("old records still decode");
        assert_eq!(logged.seq, 3);
        assert_eq!(logged.channel.as_str(), "wms");
        assert_eq!(logged.event.change, fulfilled(None));
        // Written again, it is the same bytes: the new field costs old records nothing.
        let again = encode_log(&NewEvent {
            channel: logged.channel,
            received_at: logged.received_at,
            event: logged.event,
        })
        .expect("encodes");
        assert_eq!(again, old_record());
    }

    #[test]
    fn a_partial_shipment_round_trips_with_its_units() {
        let mut event = decode_log(0, &old_record()).expect("decodes").event;
        event.change = fulfilled(Some(2));
        let bytes = encode_log(&NewEvent {
            channel: ChannelId::new("wms").expect("id"),
            received_at: Timestamp::from_millis(1_763_892_000_000),
            event: event.clone(),
        })
        .expect("encodes");
        assert!(
            String::from_utf8_lossy(&bytes).contains(r#""quantity":2"#),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        assert_eq!(decode_log(0, &bytes).expect("decodes").event, event);
    }
}
