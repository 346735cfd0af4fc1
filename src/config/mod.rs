//! The TOML configuration: what the daemon runs, validated before anything starts.
//!
//! `load` reads the file, parses it (unknown keys are refused), validates every rule at once
//! and resolves secrets; each problem is reported with the file, the line, the field path and
//! what would be valid. `omnistock check-config` runs the same code.
//!
//! # Layout
//! - `raw`: the file as written (serde form); its doc comments document every key.
//! - `validate`: the rules, all checked in one walk, raw form in, [`Config`] out.
//! - `secrets`: secret references (`env`, `credential`, `file`) read into [`Secret`]s.
//! - `lines`: field paths and the lines they are on, for messages.
//! - `describe`: what `check-config` prints, and which changes need a restart.

mod describe;
mod kits;
mod lines;
mod raw;
mod secrets;
mod strict;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use omnistock_sdk::{ChannelId, LocationId, Sku};

use lines::{FieldPath, Lines};
use raw::RawConfig;
use secrets::SecretReader;
use validate::{Context, Found};

/// `listen` when the file does not say.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8417";
/// `state_dir` when the file does not say and systemd gave no `$STATE_DIRECTORY`; relative to
/// the config file's directory.
pub const DEFAULT_STATE_DIR: &str = "omnistock-state";
/// `api.max_body_bytes` when the file does not say: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// The smallest `api.max_body_bytes` accepted: 1 KiB.
pub const MIN_MAX_BODY_BYTES: usize = 1 << 10;
/// The largest `api.max_body_bytes` accepted: 64 MiB.
pub const MAX_MAX_BODY_BYTES: usize = 64 << 20;

/// The validated configuration, secrets resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file it was read from.
    pub source: PathBuf,
    /// This node's name; the actor of manual adjustments.
    pub node_id: String,
    /// Where the HTTP API listens. Default `127.0.0.1:8417`.
    pub listen: SocketAddr,
    /// Where channels reach us from outside, for webhook registration.
    pub public_url: Option<String>,
    /// Where the store lives. Default: `$STATE_DIRECTORY` (systemd), else `./omnistock-state`.
    pub state_dir: PathBuf,
    pub log_format: LogFormat,
    pub api: ApiConfig,
    pub locations: BTreeMap<LocationId, LocationConfig>,
    pub channels: BTreeMap<ChannelId, ChannelConfig>,
    /// Per-SKU safety and buffer overrides.
    pub skus: BTreeMap<Sku, SkuOverrides>,
    /// SKUs sold as sets of other SKUs, by kit SKU.
    pub kits: BTreeMap<Sku, Kit>,
}

/// One SKU's overrides of the locations' safety stock and the channels' buffers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SkuOverrides {
    pub safety: BTreeMap<LocationId, i64>,
    pub buffer: BTreeMap<ChannelId, i64>,
}

impl Config {
    /// The safety stock of `sku` at `location`: its override, else the location's.
    pub fn safety(&self, sku: &Sku, location: &LocationId) -> i64 {
        let overridden = self.skus.get(sku).and_then(|o| o.safety.get(location));
        overridden
            .copied()
            .unwrap_or_else(|| self.locations.get(location).map_or(0, |l| l.safety))
    }

    /// The buffer of `sku` on `channel`: its override, else the channel's.
    pub fn buffer(&self, sku: &Sku, channel: &ChannelId) -> i64 {
        let overridden = self.skus.get(sku).and_then(|o| o.buffer.get(channel));
        overridden
            .copied()
            .unwrap_or_else(|| self.channels.get(channel).map_or(0, |c| c.buffer))
    }
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
    /// How fast and in what batches omnistock may call the channel's API.
    pub limits: ApiLimits,
    /// How often its full listing is compared with our state after the one at start;
    /// `None`: only at start.
    pub reconcile_every: Option<Duration>,
    /// Holds back its expected sales during its sync lag on top of `buffer`.
    pub adaptive_buffer: bool,
}

/// A SKU sold as a set of other SKUs: it has no stock of its own, shows the least its
/// components allow, and a sale of it reserves its components.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kit {
    /// Each component SKU with how many one kit takes (at least 1), in SKU order.
    pub components: Vec<(Sku, u32)>,
}

/// How often a channel is reconciled when its config does not say.
pub const DEFAULT_RECONCILE_MINUTES: i64 = 60;

/// The shape of a channel's API limits, for its rate limiter and batching.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiLimits {
    pub per_second: f64,
    pub burst: u32,
    pub max_batch: usize,
}

/// Shopify: 10 calls per second, bursts of 20 (the GraphQL cost bucket is paced on top, from
/// each answer), 250 quantities a mutation.
pub const SHOPIFY_LIMITS: ApiLimits = ApiLimits {
    per_second: 10.0,
    burst: 20,
    max_batch: 250,
};

/// Square: 10 calls per second, bursts of 20 (Square publishes no limits: a 429 backs off),
/// 100 changes a `BatchChangeInventory`.
pub const SQUARE_LIMITS: ApiLimits = ApiLimits {
    per_second: 10.0,
    burst: 20,
    max_batch: 100,
};

/// WooCommerce: 5 calls per second, bursts of 10 (no documented limit; hosts add their own),
/// 100 objects a batch.
pub const WOOCOMMERCE_LIMITS: ApiLimits = ApiLimits {
    per_second: 5.0,
    burst: 10,
    max_batch: 100,
};

/// Generic channels: 10 calls per second, bursts of 20, 100 quantities a push.
pub const GENERIC_LIMITS: ApiLimits = ApiLimits {
    per_second: 10.0,
    burst: 20,
    max_batch: 100,
};

/// How a channel's number is computed from its locations' ATP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Policy {
    /// Sum of the locations' ATP minus the channel's buffer.
    #[default]
    Pooled,
    /// An escrow share of its location's ATP, so strict channels selling from one location
    /// never together show more than is there (see `allocation::strict`).
    Strict,
}

/// The kinds of channel this build can run; matched exhaustively in one place.
#[derive(Clone, Debug, PartialEq)]
pub enum ChannelKind {
    /// Any system posting normalized events to `POST /v1/events`, signed with `webhook_secret`;
    /// with a `push_url`, it also receives its numbers through the generic push protocol.
    Generic {
        webhook_secret: Secret,
        push_url: Option<String>,
    },
    /// A Shopify shop (online store and Shopify POS) through the Admin GraphQL API; its
    /// webhooks go to `POST /v1/webhooks/{channel}`. Always pushing.
    Shopify(Box<ShopifyChannel>),
    /// A Square account (store POS) through its Inventory, Catalog and Locations APIs; its
    /// webhooks go to `POST /v1/webhooks/{channel}`. At a location it owns it is read
    /// through its changes feed and pushed holds.
    Square(Box<SquareChannel>),
    /// A WooCommerce shop through the REST API v3; its webhooks go to
    /// `POST /v1/webhooks/{channel}`. Always pushing.
    WooCommerce(Box<WooChannel>),
    /// A ShipHero WMS (GraphQL): owner of its warehouses' counts; its shipments close the
    /// online orders they ship. Webhooks go to `POST /v1/webhooks/{channel}`.
    ShipHero(Box<ShipHeroChannel>),
    /// A 3PL's stock snapshots dropped as files (CSV or EDI 846) in a folder.
    FileFeed(Box<FileFeedChannel>),
}

/// A Square channel's settings, secrets resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct SquareChannel {
    pub base_url: String,
    pub square_version: String,
    pub access_token: Secret,
    pub webhook_signature_key: Secret,
    /// As registered; `None`: `{public_url}/v1/webhooks/{channel}`.
    pub notification_url: Option<String>,
    /// Square location id → ours.
    pub locations: BTreeMap<String, LocationId>,
    /// Item variation id → SKU overrides.
    pub variations: BTreeMap<String, Sku>,
    /// `NONE`, `WASTE` or `SOLD`.
    pub hold_state: String,
}

/// A WooCommerce channel's settings, secrets resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct WooChannel {
    pub shop_url: String,
    pub consumer_key: Secret,
    pub consumer_secret: Secret,
    /// The key of `X-WC-Webhook-Signature`, given to the webhooks `omnistock connect` creates.
    pub webhook_secret: Secret,
    pub allow_plain_http: bool,
    pub inventory_delta: bool,
    /// The location WooCommerce's numbers stand for and its orders reserve at.
    pub location: LocationId,
}

/// A ShipHero channel's settings, secrets resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ShipHeroChannel {
    pub api_url: String,
    pub access_token: Secret,
    pub refresh_token: Secret,
    /// The key of `X-ShipHero-HMAC-SHA256` for every webhook type without its own.
    pub webhook_secret: Option<Secret>,
    /// ShipHero webhook type (`Shipment Update`) → the key of its deliveries.
    pub webhook_secrets: BTreeMap<String, Secret>,
    /// ShipHero warehouse id → ours.
    pub warehouses: BTreeMap<String, LocationId>,
    /// ShipHero shop name → the channel that took its orders.
    pub order_channels: BTreeMap<String, ChannelId>,
    pub orders_from: Option<ChannelId>,
    pub allow_adjustments: bool,
    pub poll_interval: std::time::Duration,
}

/// A file-feed channel's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct FileFeedChannel {
    pub directory: PathBuf,
    pub format: omnistock_file_feed::Format,
    /// The 3PL's location code → ours.
    pub locations: BTreeMap<String, LocationId>,
    pub default_location: Option<LocationId>,
    pub poll_interval: std::time::Duration,
}

/// A Shopify channel's settings, secrets resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ShopifyChannel {
    pub shop_url: String,
    pub api_version: String,
    pub access_token: Secret,
    /// The app's client secret: the key of `X-Shopify-Hmac-Sha256`.
    pub webhook_secret: Secret,
    /// Shopify location (GID or number) → ours.
    pub locations: BTreeMap<String, LocationId>,
    pub default_location: LocationId,
}

impl ChannelKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Generic { .. } => "generic",
            Self::Shopify(_) => "shopify",
            Self::Square(_) => "square",
            Self::WooCommerce(_) => "woocommerce",
            Self::ShipHero(_) => "shiphero",
            Self::FileFeed(_) => "file_feed",
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

/// Reads, validates and resolves the configuration at `path`, with the process environment.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with(path, &|name| std::env::var(name).ok())
}

/// [`load`] with the environment looked up through `env` (`$STATE_DIRECTORY`,
/// `$CREDENTIALS_DIRECTORY` and `{ env = "…" }` secrets), so tests pass a map.
pub fn load_with(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let source = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
        problems: vec![ConfigProblem {
            file: path.to_path_buf(),
            line: None,
            path: String::new(),
            message: format!("cannot read the configuration: {e}"),
        }],
    })?;
    parse_with(path, &source, env)
}

/// Parses a config written inline in a test, every secret resolving to `"secret"`.
#[cfg(test)]
pub(crate) fn for_tests(source: &str) -> Config {
    parse_with(Path::new("test.toml"), source, &|_| {
        Some("secret".to_owned())
    })
    .expect("a valid test config")
}

/// A unit test's config: location `location` owned by channel `owner`, which sells from it
/// with every channel in `sellers`, all generic; `extra` (TOML) is appended.
#[cfg(test)]
pub(crate) fn for_tests_owned(
    location: &str,
    owner: &str,
    sellers: &[&str],
    extra: &str,
) -> Config {
    let mut source = format!(
        "node_id = \"node\"\n[api]\nadmin_token = {{ env = \"TOKEN\" }}\n\
         [locations.{location}]\nowner = \"{owner}\"\n"
    );
    for channel in std::iter::once(owner).chain(sellers.iter().copied()) {
        source.push_str(&format!(
            "[channels.{channel}]\nkind = \"generic\"\nwebhook_secret = {{ env = \"TOKEN\" }}\n\
             sells_from = [\"{location}\"]\n"
        ));
    }
    source.push_str(extra);
    for_tests(&source)
}

/// [`load_with`] on text already read; `path` names the file in messages and anchors the
/// relative paths in it.
pub fn parse_with(
    path: &Path,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let lines = Lines::new(source);
    let problem = |line: Option<usize>, field: &FieldPath, message: String| ConfigProblem {
        file: path.to_path_buf(),
        line: line.or_else(|| lines.line_of(field)),
        path: field.to_string(),
        message,
    };
    let fail = |p: ConfigProblem| ConfigErrors { problems: vec![p] };

    // TOML syntax first, from the same parser that places the other problems.
    if let Err(e) = toml_edit::Document::parse(source) {
        let line = e.span().map(|span| lines.line_of_offset(span.start));
        return Err(fail(problem(line, &FieldPath::root(), syntax_message(&e))));
    }
    let serde_failure = |field: &FieldPath, e: &toml::de::Error| {
        let line = e.span().map(|span| lines.line_of_offset(span.start));
        fail(problem(line, field, e.message().to_owned()))
    };
    let deserializer =
        toml::Deserializer::parse(source).map_err(|e| serde_failure(&FieldPath::root(), &e))?;
    let raw: RawConfig = serde_path_to_error::deserialize(deserializer)
        .map_err(|e| serde_failure(&FieldPath::from_serde(e.path()), e.inner()))?;

    let config_dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let reader = SecretReader { env, config_dir };
    let ctx = Context {
        source: path,
        config_dir,
        state_directory: env("STATE_DIRECTORY"),
        read_secret: &|reference| reader.read(reference),
    };
    validate::validate(raw, &ctx).map_err(|found| {
        let mut problems: Vec<ConfigProblem> = found
            .into_iter()
            .map(|Found { path, message }| problem(None, &path, message))
            .collect();
        // In file order; problems with no line (nothing written to point at) last.
        problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        ConfigErrors { problems }
    })
}

/// A TOML syntax error's message, on one line like every problem.
fn syntax_message(error: &toml_edit::TomlError) -> String {
    let message = error.message().trim();
    format!("invalid TOML: {}", message.replace('\n', "; "))
}
