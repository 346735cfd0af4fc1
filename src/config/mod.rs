//! The TOML configuration: what the daemon runs, validated before anything starts.
//!
//! `load` reads the file, parses it (unknown keys are refused), validates every rule at once
//! and resolves secrets; each problem is reported with the file, the line, the field path and
//! what would be valid. `omnistock check-config` runs the same code.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use omnistock_sdk::{ChannelId, LocationId};

/// The validated configuration, secrets resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file it was read from.
    pub source: PathBuf,
    /// This node's name; the actor of manual adjustments.
    pub node_id: String,
    /// Where the HTTP API listens. Default `127.0.0.1:8417`.
    pub listen: SocketAddr,
    /// Where the store lives. Default: `$STATE_DIRECTORY` (systemd), else `./omnistock-state`.
    pub state_dir: PathBuf,
    pub log_format: LogFormat,
    pub api: ApiConfig,
    pub locations: BTreeMap<LocationId, LocationConfig>,
    pub channels: BTreeMap<ChannelId, ChannelConfig>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApiConfig {
    /// Bearer token for the admin endpoints (`POST /v1/adjustments`).
    pub admin_token: Secret,
    /// Largest request body accepted; larger ones get 413. Default 1 MiB.
    pub max_body_bytes: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LocationConfig {
    /// The channel whose system counts this location's units.
    pub owner: ChannelId,
    /// Units held back from every channel. Default 0.
    pub safety: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChannelConfig {
    /// The locations this channel sells from.
    pub sells_from: Vec<LocationId>,
    /// Units held back from this channel's number. Default 0.
    pub buffer: i64,
    pub policy: Policy,
    pub kind: ChannelKind,
}

/// How a channel's number is computed from its locations' ATP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Policy {
    /// Sum of the locations' ATP minus the channel's buffer.
    #[default]
    Pooled,
}

/// The kinds of channel this build can run; matched exhaustively in one place.
#[derive(Clone, Debug, PartialEq)]
pub enum ChannelKind {
    /// Any system posting normalized events to `POST /v1/events`, signed with `webhook_secret`.
    Generic { webhook_secret: Secret },
}

impl ChannelKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Generic { .. } => "generic",
        }
    }
}

/// A secret value; never printed, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    /// Where it came from, for messages: `env OMNISTOCK_ADMIN_TOKEN`.
    pub origin: String,
}

impl Secret {
    pub fn new(value: String, origin: String) -> Self {
        Self { value, origin }
    }

    pub fn expose(&self) -> &str {
        &self.value
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(from {}, redacted)", self.origin)
    }
}

/// Every problem found in a configuration file, each with its place.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors {
    pub problems: Vec<ConfigProblem>,
}

/// One problem: `omnistock.toml:12: channels.pos.sells_from[1]: unknown location "wh-9" (known: store-1, wh-east)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// The field's path, `channels.pos.sells_from[1]`; empty for the whole file.
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Reads, validates and resolves the configuration at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let _ = path;
    todo!("helper: config loading")
}

impl Config {
    /// What `check-config` prints: channels, locations, owners, allocation; secrets by origin only.
    pub fn describe(&self) -> String {
        todo!("helper: config description")
    }

    /// The settings that differ between `self` and `new` and only take effect after a restart
    /// (`listen`, `state_dir`, `node_id`, a location's owner, …), as field paths.
    pub fn restart_required(&self, new: &Config) -> Vec<String> {
        let _ = new;
        todo!("helper: reload diff")
    }
}
