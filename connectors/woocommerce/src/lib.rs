//! The WooCommerce connector of omnistock: the REST API v3 for stock, WooCommerce's webhooks
//! for orders, behind the SDK's [`Connector`](omnistock_sdk::Connector) trait.
//!
//! WooCommerce keeps one stock number per product or variation and offers only a blind set,
//! so this connector is where "pushes never destroy a concurrent sale" is hardest: it pushes
//! with the server-side `inventory_delta` where the shop honours it (checked by
//! `omnistock connect`, switched on in config), and otherwise reads, sets (read value + our
//! change) and re-reads. Its orders are reservations; its own level changes are echoes.
//!
//! # Layout
//! - [`settings`]: what the config hands us — shop URL, keys, location, the delta switch;
//!   plain HTTP refused except to loopback.
//! - [`item`]: item refs — `123` for a product, `45/678` for variation 678 of product 45.
//! - [`api`]: out to WooCommerce — basic auth, paging headers, batch answers, errors to
//!   their class.
//! - [`webhooks`]: webhooks in — `X-WC-Webhook-Signature` over the raw body, the creation
//!   ping, then an order or product to events.
//! - [`orders`]: an order's state to reservation events, with ids shared by webhooks and polls.
//! - [`catalog`]: listing and re-reading stock, the SKU ↔ item cache.
//! - [`push`]: `inventory_delta` pushes and read-set-re-read pushes, idempotent by key.
//! - [`poll`]: orders modified since a cursor, the safety net for webhooks WooCommerce never
//!   retries.
//! - [`registration`]: webhooks created, re-pointed or re-enabled; the `inventory_delta` probe.
//! - [`connector`]: the trait impl.
//! - `fake` (feature `fake`): a wiremock WooCommerce that follows the contract notes,
//!   misbehaviour included.
#![forbid(unsafe_code)]

pub mod api;
pub mod catalog;
pub mod connector;
#[cfg(feature = "fake")]
pub mod fake;
pub mod item;
pub mod orders;
pub mod poll;
pub mod push;
pub mod registration;
pub mod settings;
pub mod webhooks;

pub use connector::{MAX_BATCH, WEBHOOK_TOPICS, WooConnector};
pub use item::WooItem;
pub use registration::WebhookAction;
pub use settings::WooSettings;
