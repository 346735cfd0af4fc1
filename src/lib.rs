//! omnistock: one stock truth across store POS systems, online shops and warehouses.
//!
//! Connectors normalize each channel's webhooks and polls into stock events; the core merges
//! them into CRDT state kept in an embedded sled store; the sync engine pushes corrected
//! availability back to every channel. `../shared/DESIGN.md` is the picture; this crate follows
//! it in data-flow order.
//!
//! # Layout
//! - [`config`]: the TOML configuration, validated with file/line/field errors, secrets resolved.
//! - [`clock`]: the one place that reads the wall clock.
//! - [`state`]: stock semantics — on-hand counters, reservations, ATP. Pure and property-tested.
//! - [`allocation`]: what each channel should show. Pure.
//! - [`kits`]: SKUs sold as sets of other SKUs: expanded at ingest, numbered from parts.
//! - [`store`]: the only module that speaks sled: ingest log, state, published values, outbox.
//! - [`ingest`]: events in: verify → normalize → dedup → durable append (group commit) → merge.
//! - [`feed`]: changes out: each committed group broadcast live (SSE, the dashboard).
//! - [`metrics`]: the Prometheus registry.
//! - [`background`]: lower CPU priority for threads whose work nobody waits for.
//! - [`sync`]: the sync engine: outbox planning, pushers, rule 6.
//! - [`api`]: the axum routers: generic events, read API, admin, health and metrics.
//! - [`dashboard`]: the operations page served at `/`, and the series behind its charts.
//! - [`daemon`]: wiring, signals, systemd notify, timed drain.
//! - `demo`: `omnistock demo`, the daemon syncing simulated channels (feature `demo`).
//! - [`client`]: the CLI's side of the HTTP API (`omnistock stock`, `omnistock adjust`).
#![forbid(unsafe_code)]

pub mod allocation;
pub mod api;
pub mod background;
pub mod client;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod dashboard;
#[cfg(feature = "demo")]
pub mod demo;
pub mod feed;
pub mod ingest;
pub mod kits;
pub mod metrics;
pub mod state;
pub mod store;
pub mod sync;
pub mod telemetry;
