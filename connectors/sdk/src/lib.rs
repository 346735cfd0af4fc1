//! The connector SDK of omnistock: everything a connector needs to speak to the core.
//!
//! A connector turns its system's payloads into normalized [`StockEvent`]s and turns the
//! engine's push requests into its system's calls. It holds no stock state of its own: state
//! lives in the daemon's core. This crate is what connectors depend on, and nothing else of
//! the daemon.
//!
//! # Layout
//! - [`ids`]: the newtypes every layer speaks (`Sku`, `ChannelId`, `LocationId`, …).
//! - [`time`]: [`Timestamp`], the one time type on the wire and in state.
//! - [`event`]: normalized stock events, the input of the core.
//! - [`error`]: errors classified by what the caller does next.
//! - [`signature`]: HMAC-SHA256 webhook signatures, verified in constant time.
//! - [`connector`]: the [`Connector`] trait and its capabilities.
#![forbid(unsafe_code)]

pub mod connector;
pub mod error;
pub mod event;
pub mod ids;
pub mod signature;
pub mod time;

pub use connector::{
    Capabilities, Connector, ItemLevel, ListPage, PushForm, PushOutcome, PushRequest,
};
pub use error::{ConnectorError, InvalidId};
pub use event::{StockChange, StockEvent};
pub use ids::{ChannelId, EventId, ItemRef, LineKey, LocationId, OrderId, Sku};
pub use time::Timestamp;
