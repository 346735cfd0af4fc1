//! The Square POS connector of omnistock: Square's Inventory, Catalog and Locations APIs and
//! its webhooks, behind the SDK's [`Connector`](omnistock_sdk::Connector) trait.
//!
//! A Square location is usually a store whose stock Square owns: its counts are the store's
//! truth and its sales arrive as its count going down. There the connector reads Square's
//! *changes* (sales, receipts, physical counts, each with its own id) rather than its totals,
//! and pushes *holds* for other channels' open orders as `ADJUSTMENT`s, never as a
//! `PHYSICAL_COUNT` that would overwrite a sale rung up a second earlier.
//!
//! # Layout
//! - [`settings`]: what the config hands us — account, pinned `Square-Version`, secrets,
//!   location map, owned locations, the hold state (and why it is `NONE`).
//! - [`wire`]: Square's JSON and its decimal-string quantities.
//! - [`api`]: out to Square — headers, `{errors:[…]}` to error classes.
//! - [`mapping`]: variations to SKUs, Square locations to ours.
//! - [`webhooks`]: webhooks in — HMAC over URL + raw body, then counts to events.
//! - [`changes`]: the changes feed of owned locations as deltas with their own ids, our own
//!   changes skipped as echoes, and the poll cursor.
//! - [`connector`]: listing and re-reading counts, polling, the trait impl.
//! - [`push`]: holds as `ADJUSTMENT`s, counts as re-read `PHYSICAL_COUNT`s, idempotency.
//! - `fake` (feature `fake`): a wiremock Square that follows the contract notes and checks
//!   every request body against Square's OpenAPI schemas, misbehaviour included.
//!
//! # Square's contract, as this crate reads it
//! Confirmed against Square's OpenAPI specification (`square/connect-api-specification`,
//! `api.json`, release 2025-08-20, the `Square-Version` pinned by default) and its docs; the
//! fake reproduces it:
//! - `RESERVED_FOR_SALE`, `SOLD_ONLINE`, `CUSTOM`, `RETURNED_BY_CUSTOMER`, the vendor states,
//!   `IN_TRANSIT(_TO)` and the composition states are read-only: an adjustment to or from
//!   them is refused. Holds therefore use `NONE` ([`HoldState`] says why).
//! - `occurred_at` orders changes (an offline sale sent late slots in by it) and must lie
//!   within the last 24 hours and not in the future; `updated_after` filters by when Square
//!   *received* a change, which is why the poll finds late offline sales.
//! - The same `idempotency_key` with the same body replays the first answer; with another
//!   body it is `IDEMPOTENCY_KEY_REUSED`. A batch is applied all or nothing.
//! - 429 `RATE_LIMITED` carries no `Retry-After` (limits are not published).
//! - Not read: `TRANSFER`s between locations (the changes endpoint's `types` filter takes
//!   only `PHYSICAL_COUNT` and `ADJUSTMENT`); a store's next physical count takes them in.
//! - Our best reading where Square documents no code: a read-only state or an unknown
//!   variation is an `INVALID_REQUEST_ERROR` naming the change (`field: changes[i]…`).
#![forbid(unsafe_code)]

pub mod api;
pub mod changes;
pub mod connector;
#[cfg(feature = "fake")]
pub mod fake;
pub mod mapping;
pub mod push;
pub mod settings;
pub mod webhooks;
pub mod wire;

pub use connector::{MAX_BATCH, SquareConnector, WEBHOOK_TOPICS};
pub use settings::{HoldState, SquareSettings};
