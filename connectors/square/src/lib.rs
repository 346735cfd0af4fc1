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
