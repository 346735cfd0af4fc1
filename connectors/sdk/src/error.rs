//! Errors, classified by what the caller does next.

use std::time::Duration;

/// A name that cannot be used as an id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {value:?} {reason}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub value: String,
    pub reason: &'static str,
}

/// What went wrong talking to a channel, sorted by what to do about it.
///
/// Messages name the action and its object: "pushing 250 quantities to shopify-main: HTTP 429".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// Try again later with backoff: a 5xx, a timeout, a refused connection.
    #[error("{0} (will retry)")]
    Retryable(String),
    /// The channel asked us to slow down; wait at least `retry_after`.
    #[error("{message}, retry after {:.1} s", retry_after.as_secs_f64())]
    RateLimited {
        message: String,
        retry_after: Duration,
    },
    /// Retrying will not help (unknown item, revoked credentials): dead-letter it and tell ops.
    #[error("{0} (permanent)")]
    Permanent(String),
    /// The input we were given (a webhook, a payload) is malformed or not authentic.
    #[error("{0}")]
    BadInput(String),
}

impl ConnectorError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable(_) | Self::RateLimited { .. })
    }
}
