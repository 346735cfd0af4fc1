//! The file-feed connector of omnistock: a 3PL that sends its stock as a full snapshot file
//! dropped in a folder (over SFTP, every N minutes), rather than through an API.
//!
//! The channel owns its warehouse location: each row of a snapshot is the 3PL's count of a
//! SKU there, a `LevelObserved` at the snapshot's time. Snapshots are delivered through
//! [`Connector::poll`](omnistock_sdk::Connector::poll), each file once, in pages for large
//! files, with a cursor that says how far the daemon has durably applied; a file is moved to
//! `processed/` only once the cursor that covers all of it has come back, so a crash never
//! loses nor double-applies a snapshot.
//!
//! # Layout
//! - [`settings`]: what the config hands us — the folder, the format and its column mapping,
//!   the location map.
//! - [`folder`]: the drop folder — which files are complete, and moving them to
//!   `processed/` or `rejected/` with a reason file.
//! - [`snapshot`]: one parsed file — its time, its good rows, its bad rows with their reasons.
//! - [`csv_format`] and [`edi846`]: the two file formats into a snapshot.
//! - [`cursor`]: the poll cursor — the last applied snapshot and the one in progress.
//! - [`connector`]: the trait impl — polling pages of a snapshot; nothing to list.
//! - `fake` (feature `fake`): a writer of drop files, good, half-written and malformed.
#![forbid(unsafe_code)]

pub mod connector;
pub mod csv_format;
pub mod cursor;
pub mod edi846;
#[cfg(feature = "fake")]
pub mod fake;
pub mod folder;
pub mod settings;
pub mod snapshot;
pub mod watch;

pub use connector::FileFeedConnector;
pub use settings::{Columns, FileFeedSettings, Format};
