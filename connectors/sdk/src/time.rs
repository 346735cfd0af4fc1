//! [`Timestamp`]: milliseconds since the Unix epoch, RFC 3339 on the wire.
//!
//! Integer milliseconds keep state comparisons exact and encodings small; RFC 3339 keeps
//! payloads readable and accepts the offsets real APIs send (`2026-11-23T10:00:00-05:00`).

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Parses RFC 3339 (`2026-11-23T10:00:00Z`, with any offset).
    pub fn parse_rfc3339(text: &str) -> Result<Self, String> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| Self(t.timestamp_millis()))
            .map_err(|e| format!("not an RFC 3339 time ({e}): {text:?}"))
    }

    /// Formats as RFC 3339 in UTC with milliseconds.
    pub fn to_rfc3339(self) -> String {
        match DateTime::<Utc>::from_timestamp_millis(self.0) {
            Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
            None => format!("@{}ms", self.0),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_normalized_to_utc() {
        let a = Timestamp::parse_rfc3339("2026-11-23T10:00:00-05:00").expect("valid");
        let b = Timestamp::parse_rfc3339("2026-11-23T15:00:00Z").expect("valid");
        assert_eq!(a, b);
        assert_eq!(b.to_rfc3339(), "2026-11-23T15:00:00.000Z");
    }

    #[test]
    fn garbage_is_refused_with_the_text() {
        let err = Timestamp::parse_rfc3339("yesterday").expect_err("not a time");
        assert!(err.contains("yesterday"));
    }
}
