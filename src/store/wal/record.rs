//! A commit's record in the log: its writes, how they are encoded, and how a segment's bytes
//! are read back up to the first record that is absent, torn or left from a file's earlier
//! life (see `segment` for why files are reused).

/// The sled trees a commit writes to, as recorded in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::store) enum WalTree {
    Log = 0,
    Ids = 1,
    Meta = 2,
    Outbox = 3,
    Published = 4,
}

impl WalTree {
    fn from_byte(byte: u8) -> Option<WalTree> {
        [
            Self::Log,
            Self::Ids,
            Self::Meta,
            Self::Outbox,
            Self::Published,
        ]
        .into_iter()
        .find(|t| *t as u8 == byte)
    }
}

/// One commit's writes, encoded as a record's payload while the commit is made.
#[derive(Default)]
pub(in crate::store) struct Writes {
    count: u32,
    payload: Vec<u8>,
}

impl Writes {
    /// The writes in the order they were put, as (tree, key, value).
    pub(in crate::store) fn iter(&self) -> impl Iterator<Item = (WalTree, &[u8], &[u8])> {
        let mut at = 0;
        std::iter::from_fn(move || {
            let tree = WalTree::from_byte(*take(&self.payload, &mut at, 1)?.first()?)?;
            let key_len = take_u32(&self.payload, &mut at)? as usize;
            let key = take(&self.payload, &mut at, key_len)?;
            let value_len = take_u32(&self.payload, &mut at)? as usize;
            let value = take(&self.payload, &mut at, value_len)?;
            Some((tree, key, value))
        })
    }

    pub(in crate::store) fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub(in crate::store) fn put(&mut self, tree: WalTree, key: &[u8], value: &[u8]) {
        self.count += 1;
        self.payload.push(tree as u8);
        for part in [key, value] {
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            self.payload.extend_from_slice(&len.to_be_bytes());
            self.payload.extend_from_slice(part);
        }
    }
}

/// A commit read back from the log.
pub(in crate::store) struct Record {
    pub commit_no: u64,
    pub writes: Writes,
}

/// Bytes before a record's commit number: payload length (u32) and CRC-32 (u32).
const LEN_AND_CRC_BYTES: usize = 8;
/// A record's header: length, CRC and commit number.
const RECORD_HEADER_BYTES: usize = 16;

/// How a segment's records are checksummed, told by its header's magic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Checksum {
    /// `OMNIWAL1`: over commit number and payload. Read only: segments of this form were
    /// never reused, so nothing stale follows their records.
    Plain,
    /// `OMNIWAL2`: over the segment's number, then commit number and payload. A reused file
    /// still holds the records of its earlier life after the new ones; their checksums were
    /// made with the earlier number, so they do not pass and the segment ends where its own
    /// records end.
    Salted(u64),
}

impl Checksum {
    fn of(self, body: &[u8]) -> u32 {
        let mut hasher = crc32fast::Hasher::new();
        if let Checksum::Salted(segment) = self {
            hasher.update(&segment.to_be_bytes());
        }
        hasher.update(body);
        hasher.finalize()
    }
}

/// The size of the record of `writes`.
pub(super) fn record_len(writes: &Writes) -> u64 {
    (RECORD_HEADER_BYTES + 4 + writes.payload.len()) as u64
}

pub(super) fn encode_record(checksum: Checksum, commit_no: u64, writes: &Writes) -> Vec<u8> {
    let mut body = Vec::with_capacity(12 + writes.payload.len());
    body.extend_from_slice(&commit_no.to_be_bytes());
    body.extend_from_slice(&writes.count.to_be_bytes());
    body.extend_from_slice(&writes.payload);
    let payload_len = u32::try_from(body.len() - 8).unwrap_or(u32::MAX);
    let mut record = Vec::with_capacity(LEN_AND_CRC_BYTES + body.len());
    record.extend_from_slice(&payload_len.to_be_bytes());
    record.extend_from_slice(&checksum.of(&body).to_be_bytes());
    record.extend_from_slice(&body);
    record
}

/// Reads `len` bytes at `*at`, moving `at` past them.
fn take<'a>(bytes: &'a [u8], at: &mut usize, len: usize) -> Option<&'a [u8]> {
    let part = bytes.get(*at..at.checked_add(len)?)?;
    *at += len;
    Some(part)
}

fn take_u32(bytes: &[u8], at: &mut usize) -> Option<u32> {
    take(bytes, at, 4).and_then(|b| b.try_into().ok().map(u32::from_be_bytes))
}

fn decode_payload(commit_no: u64, payload: &[u8]) -> Option<Record> {
    let mut at = 0;
    let count = take_u32(payload, &mut at)?;
    let writes = Writes {
        count,
        payload: payload.get(at..)?.to_vec(),
    };
    // Whole: exactly `count` writes that use every byte.
    let (mut read, mut bytes) = (0, 0);
    for (_, key, value) in writes.iter() {
        read += 1;
        bytes += 9 + key.len() + value.len();
    }
    (read == count && bytes == writes.payload.len()).then_some(Record { commit_no, writes })
}

/// The records in `bytes` from `at` on, up to the first that is absent, torn, or does not
/// pass `checksum`.
pub(super) fn decode_records(bytes: &[u8], mut at: usize, checksum: Checksum) -> Vec<Record> {
    let mut records = Vec::new();
    while let Some(header) = bytes.get(at..at + RECORD_HEADER_BYTES) {
        let (len, rest) = header.split_at(4);
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let crc = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let Some(body) = bytes.get(at + LEN_AND_CRC_BYTES..at + RECORD_HEADER_BYTES + len) else {
            break;
        };
        if len == 0 || checksum.of(body) != crc {
            break;
        }
        let (commit_no, payload) = body.split_at(8);
        let commit_no = u64::from_be_bytes(commit_no.try_into().unwrap_or([0; 8]));
        let Some(record) = decode_payload(commit_no, payload) else {
            break;
        };
        records.push(record);
        at += RECORD_HEADER_BYTES + len;
    }
    records
}
