//! The ShipHero connector of omnistock: a WMS (GraphQL) that owns the stock of its
//! warehouses, behind the SDK's [`Connector`](omnistock_sdk::Connector) trait.
//!
//! ShipHero's counts are the truth at its warehouses (DESIGN.md rule 3): they come in as
//! `LevelObserved` with ShipHero's own `updated_at`, from listings and incremental polls; an
//! `Inventory Update` webhook asks for a poll at once. A `Shipment Update` webhook closes the
//! reservations of the online order it ships (`OrderLineFulfilled` naming the shop's channel),
//! so a reservation ends exactly when its units leave. Pushing is off unless the channel's
//! `allow_adjustments` is on: ShipHero owns its counts.
//!
//! # Layout
//! - [`settings`]: what the config hands us — API URL, tokens, warehouses, order channels.
//! - [`webhooks`]: `X-ShipHero-HMAC-SHA256` over the raw body, then each webhook type.
//! - [`graphql`]: out to ShipHero — bearer token and its refresh, credits throttling.
//! - [`connector`]: listing, re-reading, polling on-hand per warehouse; adjustments.
//! - [`registration`]: `omnistock connect` — `webhook_create` once per webhook type, each
//!   returning the secret its deliveries are signed with.
//! - `fake` (feature `fake`): a wiremock ShipHero that follows the contract notes.
#![forbid(unsafe_code)]

pub mod connector;
#[cfg(feature = "fake")]
pub mod fake;
pub mod graphql;
pub mod registration;
pub mod settings;
pub mod webhooks;

pub use connector::ShipHeroConnector;
pub use settings::ShipHeroSettings;
