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
//! - [`http`] (feature `http`): the HTTP client a connector speaks through — timeouts, rustls,
//!   a rate limiter shaped by [`Capabilities`], HTTP failures mapped to [`ConnectorError`].
//! - [`conformance`] (feature `conformance`, tests only): the suite every connector runs
//!   against its own fake.
//!
//! # A complete connector
//!
//! A shop system that keeps its counts in memory, signs its webhooks with a hex HMAC over
//! the body, and offers compare-and-set. A real connector replaces the map with API calls
//! through [`http::HttpClient`]; everything else keeps this shape. See also
//! `docs/writing-a-connector.md`.
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::Mutex;
//!
//! use async_trait::async_trait;
//! use omnistock_sdk::signature::{sign_hex, verify_hex};
//! use omnistock_sdk::{
//!     Capabilities, Connector, ConnectorError, EventId, ItemLevel, ItemRef, ListPage,
//!     LocationId, PushForm, PushOutcome, PushRequest, Sku, StockChange, StockEvent, Timestamp,
//! };
//!
//! /// The outside system: counts by (item, location), and the SKU of each item.
//! struct Shelf {
//!     counts: Mutex<BTreeMap<(String, String), i64>>,
//!     skus: BTreeMap<String, String>,
//! }
//!
//! struct ShelfConnector {
//!     shelf: Shelf,
//!     secret: Vec<u8>,
//! }
//!
//! /// The system's webhook body: one count, with the system's own event id.
//! #[derive(serde::Deserialize)]
//! struct CountHook {
//!     event: String,
//!     item: String,
//!     location: String,
//!     count: i64,
//!     at: String,
//! }
//!
//! fn bad(what: impl std::fmt::Display) -> ConnectorError {
//!     ConnectorError::BadInput(format!("shelf webhook: {what}"))
//! }
//!
//! #[async_trait]
//! impl Connector for ShelfConnector {
//!     fn capabilities(&self) -> Capabilities {
//!         Capabilities {
//!             push_forms: vec![PushForm::CompareAndSet],
//!             max_batch: 50,
//!             calls_per_second: 10.0,
//!             burst: 20,
//!             webhook_topics: vec!["count".into()],
//!         }
//!     }
//!
//!     async fn list(&self, _cursor: Option<String>) -> Result<ListPage, ConnectorError> {
//!         let counts = self.shelf.counts.lock().expect("shelf lock");
//!         let mut levels = Vec::new();
//!         for ((item, location), available) in counts.iter() {
//!             levels.push(ItemLevel {
//!                 item: ItemRef::new(item.as_str()).map_err(|e| ConnectorError::Permanent(e.to_string()))?,
//!                 // No SKU is not an error: the level is listed with `sku: None`.
//!                 sku: self.shelf.skus.get(item).and_then(|s| Sku::new(s.as_str()).ok()),
//!                 location: LocationId::new(location.as_str())
//!                     .map_err(|e| ConnectorError::Permanent(e.to_string()))?,
//!                 available: *available,
//!             });
//!         }
//!         // One page; a paged API returns its cursor in `next`.
//!         Ok(ListPage { levels, next: None })
//!     }
//!
//!     async fn read(&self, items: &[ItemRef]) -> Result<Vec<ItemLevel>, ConnectorError> {
//!         let all = self.list(None).await?;
//!         Ok(all.levels.into_iter().filter(|l| items.contains(&l.item)).collect())
//!     }
//!
//!     fn parse_webhook(
//!         &self,
//!         headers: &[(String, String)],
//!         body: &[u8],
//!     ) -> Result<Vec<StockEvent>, ConnectorError> {
//!         // 1. Authenticate the raw bytes, before parsing anything.
//!         let signature = headers
//!             .iter()
//!             .find(|(name, _)| name.eq_ignore_ascii_case("x-shelf-signature"))
//!             .map(|(_, value)| value.as_str());
//!         verify_hex(&self.secret, &[body], signature).map_err(bad)?;
//!         // 2. Parse; a malformed body is BadInput too.
//!         let hook: CountHook = serde_json::from_slice(body).map_err(bad)?;
//!         let Some(sku) = self.shelf.skus.get(&hook.item) else {
//!             return Ok(vec![]); // unknown item: nothing to say (report it in parse_webhook_report)
//!         };
//!         // 3. Normalize, with an id that is the same on every redelivery.
//!         Ok(vec![StockEvent {
//!             id: EventId::new(format!("shelf/{}", hook.event)).map_err(bad)?,
//!             occurred_at: Timestamp::parse_rfc3339(&hook.at).map_err(bad)?,
//!             sku: Sku::new(sku.as_str()).map_err(bad)?,
//!             change: StockChange::LevelObserved {
//!                 location: LocationId::new(hook.location).map_err(bad)?,
//!                 quantity: hook.count,
//!             },
//!         }])
//!     }
//!
//!     async fn push(&self, batch: &[PushRequest]) -> Result<Vec<PushOutcome>, ConnectorError> {
//!         let mut counts = self.shelf.counts.lock().expect("shelf lock");
//!         Ok(batch
//!             .iter()
//!             .map(|request| {
//!                 let key = (request.item.to_string(), request.location.to_string());
//!                 match counts.get_mut(&key) {
//!                     None => PushOutcome::Rejected("not stocked there".into()),
//!                     // Compare-and-set: never overwrite a number we did not expect.
//!                     Some(now) if *now != request.expected => {
//!                         PushOutcome::StaleCompare { actual: Some(*now) }
//!                     }
//!                     Some(now) => {
//!                         *now = request.target;
//!                         PushOutcome::Applied
//!                     }
//!                 }
//!             })
//!             .collect())
//!     }
//! }
//!
//! # fn main() {
//! let connector = ShelfConnector {
//!     shelf: Shelf {
//!         counts: Mutex::new(BTreeMap::from([(("42".into(), "store-1".into()), 5)])),
//!         skus: BTreeMap::from([("42".into(), "MUG".into())]),
//!     },
//!     secret: b"s3cret".to_vec(),
//! };
//! let body = br#"{"event":"e-9","item":"42","location":"store-1","count":4,"at":"2026-11-23T10:00:00Z"}"#;
//! let headers = vec![("X-Shelf-Signature".to_owned(), sign_hex(b"s3cret", &[body]))];
//! let events = connector.parse_webhook(&headers, body).expect("signed and well-formed");
//! assert_eq!(events[0].sku.as_str(), "MUG");
//! assert!(matches!(
//!     connector.parse_webhook(&headers, b"{}"),
//!     Err(ConnectorError::BadInput(_))
//! ));
//! # }
//! ```
#![forbid(unsafe_code)]

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod connector;
pub mod error;
pub mod event;
#[cfg(feature = "http")]
pub mod http;
pub mod ids;
pub mod signature;
pub mod time;

pub use connector::{
    Capabilities, Connector, DeltaRequest, ItemLevel, ListPage, ListReport, PollNow, PollPage,
    PushForm, PushOutcome, PushRequest, Unmapped, WebhookReport,
};
pub use error::{ConnectorError, InvalidId};
pub use event::{StockChange, StockEvent};
pub use ids::{ChannelId, EventId, ItemRef, LineKey, LocationId, OrderId, Sku};
pub use time::Timestamp;
