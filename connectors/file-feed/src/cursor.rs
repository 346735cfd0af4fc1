//! The poll cursor: the last snapshot applied in full, and the one being delivered.
//!
//! The daemon saves a cursor only after the events of the page that returned it are durable,
//! and hands it back on the next poll. So a cursor naming a file as applied proves its
//! events are durable: only then is the file moved to `processed/`. A crash before the save
//! repeats the page (same event ids: a no-op); a crash after it finds the file still there and
//! moves it on the next poll.

use omnistock_sdk::{ConnectorError, Timestamp};
use serde::{Deserialize, Serialize};

/// A snapshot file, by name and content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMark {
    pub name: String,
    /// SHA-256 of the content, hex: what makes the same snapshot the same.
    pub hash: String,
    /// The snapshot's time, in milliseconds.
    pub time: i64,
}

impl FileMark {
    pub fn time(&self) -> Timestamp {
        Timestamp::from_millis(self.time)
    }
}

/// Where polling stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The last snapshot whose rows were all delivered: newer ones only are applied after it.
    pub applied: Option<FileMark>,
    /// The snapshot being delivered, and its next row (an index into its good rows).
    pub current: Option<(FileMark, usize)>,
}

impl Cursor {
    /// Reads a cursor handed back by the daemon; `None` is a fresh start.
    pub fn parse(text: Option<&str>) -> Result<Self, ConnectorError> {
        match text {
            None => Ok(Self::default()),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                ConnectorError::Permanent(format!("reading the file-feed cursor {text:?}: {e}"))
            }),
        }
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| unreachable!("a cursor serializes: {e}"))
    }
}
