//! The Shopify connector of omnistock: the Admin GraphQL API for inventory, and Shopify's
//! webhooks, behind the SDK's [`Connector`](omnistock_sdk::Connector) trait.
//!
//! Serves the online store and Shopify POS alike (they share the Admin API). Build a
//! [`ShopifyConnector`] from [`ShopifySettings`] (the daemon's config fills them, secrets
//! resolved), then use it as a `dyn Connector`; registration of webhook subscriptions is
//! [`ShopifyConnector::register_webhooks`].
//!
//! # Layout
//! - [`settings`]: what the config hands us — shop, pinned [`ApiVersion`], secrets, location map.
//! - [`gid`]: global ids to 64-bit integers (never floats).
//! - [`webhooks`]: webhooks in — HMAC over the raw body, then one topic's payload to events.
//! - [`connector`]: listing and re-reading levels, the item → SKU cache, the trait impl.
//! - [`push`]: compare-and-set and delta mutations, idempotency keys, user errors per quantity.
//! - [`queries`]: the GraphQL documents, their response shapes and costs.
//! - [`graphql`]: out to Shopify — the cost bucket, `THROTTLED`, errors to their class.
//! - [`registration`]: webhook subscriptions created or updated to point at us.
//! - `fake` (feature `fake`): a wiremock Shopify that follows the contract notes, misbehaviour
//!   included, for our tests, the daemon's and demos.
#![forbid(unsafe_code)]

pub mod connector;
#[cfg(feature = "fake")]
pub mod fake;
pub mod gid;
pub mod graphql;
pub mod push;
pub mod queries;
pub mod registration;
pub mod settings;
pub mod webhooks;

pub use connector::{LevelsPage, MAX_BATCH, ShopifyConnector, ShopifyLevel, WEBHOOK_TOPICS};
pub use registration::WebhookAction;
pub use settings::{ApiVersion, ShopifySettings};
