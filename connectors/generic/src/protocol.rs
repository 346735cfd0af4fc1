//! The generic push protocol, as JSON types: what omnistock sends a system that receives its
//! numbers, and what that system answers.
//!
//! Every request is a `POST` with a JSON body, signed like the events the system posts to
//! omnistock: `x-omnistock-signature: sha256=<hex HMAC-SHA256 of the body with the channel's
//! webhook_secret>`, and named by `x-omnistock-channel`.
//!
//! - `POST {push_url}/levels` `{"skus": ["MUG", …]}` (or `{"skus": null, "cursor": …}` to list
//!   everything, page by page) → `{"levels": [{"sku": "MUG", "available": 9}], "next": null}`.
//!   SKUs the system does not know are left out.
//! - `POST {push_url}/set` `{"changes": [{"key", "sku", "expected", "value"}]}` → one result
//!   per change, in order: `{"key", "status": "applied"}`, `{"key", "status": "stale",
//!   "actual": 8}` (the system no longer showed `expected`; nothing changed) or `{"key",
//!   "status": "rejected", "reason": "…"}` (never will apply, e.g. an unknown SKU). A change
//!   whose `key` was applied before is answered `applied` again and changes nothing.
//! - Slow down with `429` and `Retry-After: <seconds>`; `5xx` is retried with backoff;
//!   `401`/`403`/other `4xx` are permanent.

use serde::{Deserialize, Serialize};

pub const SIGNATURE_HEADER: &str = "x-omnistock-signature";
pub const CHANNEL_HEADER: &str = "x-omnistock-channel";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelsRequest {
    /// The SKUs to read, or `None` to list everything.
    pub skus: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    pub sku: String,
    pub available: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelsAnswer {
    pub levels: Vec<Level>,
    #[serde(default)]
    pub next: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// Idempotency key: the same key is applied once.
    pub key: String,
    pub sku: String,
    /// What omnistock read just before: set only if the system still shows it.
    pub expected: i64,
    pub value: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetRequest {
    pub changes: Vec<Change>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ChangeStatus {
    Applied,
    Stale { actual: Option<i64> },
    Rejected { reason: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeResult {
    pub key: String,
    #[serde(flatten)]
    pub status: ChangeStatus,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAnswer {
    pub results: Vec<ChangeResult>,
}
