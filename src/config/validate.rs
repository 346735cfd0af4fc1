//! The rules: the file as written ([`RawConfig`]) checked and turned into a [`Config`].
//!
//! Every rule runs, and every problem is kept with its field path, so one run of
//! `check-config` lists all that is wrong. Secrets are read through an injected reader during
//! the same walk, for the same reason: an unset variable is reported beside a typo.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use omnistock_sdk::{ChannelId, LocationId, Sku};

use super::WOOCOMMERCE_LIMITS;
use super::lines::FieldPath;
use super::raw::{RawApi, RawChannel, RawConfig, RawKit, RawLocation, RawSecret, RawSkuOverrides};
use super::secrets::SecretRef;
use super::{
    ApiConfig, ApiLimits, ChannelConfig, ChannelKind, Config, DEFAULT_LISTEN,
    DEFAULT_MAX_BODY_BYTES, DEFAULT_STATE_DIR, GENERIC_LIMITS, LocationConfig, LogFormat,
    MAX_MAX_BODY_BYTES, MIN_MAX_BODY_BYTES, Policy, Secret,
};
use super::{
    DEFAULT_RECONCILE_MINUTES, Kit, SHOPIFY_LIMITS, SQUARE_LIMITS, ShopifyChannel, SkuOverrides,
};

#[path = "square.rs"]
mod square;

/// The `woocommerce` kind's own rules, beside this file but inside this module so they use
/// the same [`Checker`].
#[path = "woocommerce.rs"]
mod woocommerce;

/// The `shiphero` and `file_feed` kinds' own keys.
#[path = "warehouse.rs"]
mod warehouse;

/// One problem before it is placed in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Found {
    pub path: FieldPath,
    pub message: String,
}

/// What the rules need besides the file.
pub(super) struct Context<'a> {
    /// The config file, recorded in [`Config::source`].
    pub source: &'a Path,
    /// Relative paths in the file are relative to this.
    pub config_dir: &'a Path,
    /// `$STATE_DIRECTORY`, systemd's choice of state directory, if set.
    pub state_directory: Option<String>,
    /// Reads one secret; the message of an error never holds a value.
    pub read_secret: &'a dyn Fn(&SecretRef) -> Result<Secret, String>,
}

/// The kinds this build runs.
const SUPPORTED_KINDS: &[&str] = &[
    "generic",
    "shopify",
    "square",
    "woocommerce",
    "shiphero",
    "file_feed",
];
/// Kinds the design names that this build does not run yet.
const PLANNED_KINDS: &[&str] = &["warehouse"];
/// The policies this build runs.
const SUPPORTED_POLICIES: &[&str] = &["pooled", "strict"];
const CLEAR_TEXT: &str = "secrets are never written in the config in clear; \
                          use { env = \"…\" } or { credential = \"…\" }";

/// Checks every rule; the config, or every problem found.
pub(super) fn validate(raw: RawConfig, ctx: &Context<'_>) -> Result<Config, Vec<Found>> {
    let mut c = Checker {
        found: Vec::new(),
        ctx,
    };
    let root = FieldPath::root();
    let node_id = c.check(&root.key("node_id"), node_id(raw.node_id.as_deref()));
    let listen = c.check(&root.key("listen"), listen(raw.listen.as_deref()));
    let state_dir = c.check(
        &root.key("state_dir"),
        state_dir(raw.state_dir.as_deref(), ctx),
    );
    let log_format = c.check(
        &root.key("log_format"),
        log_format(raw.log_format.as_deref()),
    );
    let public_url = match raw.public_url.as_deref() {
        Some(url) => c.check(&root.key("public_url"), push_url(url).map(Some)),
        None => Some(None),
    };
    let api = c.api(&root.key("api"), raw.api);
    let locations = c.locations(&root.key("locations"), &raw.locations, &raw.channels);
    let channels = c.channels(&root.key("channels"), &raw.channels, &raw.locations);
    let skus = c.skus(&root.key("skus"), &raw.skus, &raw.locations, &raw.channels);
    let kits = c.kits(&root.key("kits"), &raw.kits);
    if let (Some(channels), Some(locations)) = (&channels, &locations) {
        c.found.extend(super::strict::check(
            &root.key("channels"),
            channels,
            locations,
        ));
    }

    let Checker { found, .. } = c;
    match (
        node_id, listen, state_dir, log_format, api, locations, channels, public_url, skus, kits,
    ) {
        (
            Some(node_id),
            Some(listen),
            Some(state_dir),
            Some(log_format),
            Some(api),
            Some(locations),
            Some(channels),
            Some(public_url),
            Some(skus),
            Some(kits),
        ) if found.is_empty() => Ok(Config {
            skus,
            kits,
            source: ctx.source.to_path_buf(),
            node_id,
            listen,
            public_url,
            state_dir,
            log_format,
            api,
            locations,
            channels,
        }),
        _ if found.is_empty() => Err(vec![Found {
            path: root,
            message: "invalid configuration".to_owned(),
        }]),
        _ => Err(found),
    }
}

/// Collects problems; every `None` it hands back has been reported.
struct Checker<'c, 'a> {
    found: Vec<Found>,
    ctx: &'c Context<'a>,
}

impl Checker<'_, '_> {
    fn report(&mut self, path: FieldPath, message: impl Into<String>) {
        self.found.push(Found {
            path,
            message: message.into(),
        });
    }

    fn check<T>(&mut self, path: &FieldPath, result: Result<T, String>) -> Option<T> {
        result
            .map_err(|message| self.report(path.clone(), message))
            .ok()
    }

    fn api(&mut self, path: &FieldPath, raw: Option<RawApi>) -> Option<ApiConfig> {
        let raw = raw.unwrap_or_default();
        let token_path = path.key("admin_token");
        let admin_token = match &raw.admin_token {
            Some(token) => self.secret(&token_path, token),
            None => {
                self.report(
                    token_path,
                    "missing; the admin API needs a token, like \
                     admin_token = { env = \"OMNISTOCK_ADMIN_TOKEN\" } under [api]",
                );
                None
            }
        };
        let max_body_bytes = self.check(
            &path.key("max_body_bytes"),
            max_body_bytes(raw.max_body_bytes),
        );
        Some(ApiConfig {
            admin_token: admin_token?,
            max_body_bytes: max_body_bytes?,
        })
    }

    fn secret(&mut self, path: &FieldPath, raw: &RawSecret) -> Option<Secret> {
        let reference = self.check(path, secret_ref(raw))?;
        let read = (self.ctx.read_secret)(&reference);
        self.check(&path.key(reference.key()), read)
    }

    /// `[kits.KIT]`: every problem reported at its field.
    fn kits(
        &mut self,
        path: &FieldPath,
        raw: &BTreeMap<String, RawKit>,
    ) -> Option<BTreeMap<Sku, Kit>> {
        match super::kits::validate(path, raw) {
            Ok(kits) => Some(kits),
            Err(problems) => {
                for (at, message) in problems {
                    self.check::<()>(&at, Err(message));
                }
                None
            }
        }
    }

    /// `[skus.SKU]` overrides: known locations and channels, amounts never negative.
    fn skus(
        &mut self,
        path: &FieldPath,
        raw: &BTreeMap<String, RawSkuOverrides>,
        locations: &BTreeMap<String, RawLocation>,
        channels: &BTreeMap<String, RawChannel>,
    ) -> Option<BTreeMap<Sku, SkuOverrides>> {
        let mut built = BTreeMap::new();
        let mut ok = true;
        for (name, overrides) in raw {
            let at = path.key(name);
            let Some(sku) = self.check(
                &at,
                Sku::new(name.as_str()).map_err(|e| format!("invalid SKU: {e}")),
            ) else {
                ok = false;
                continue;
            };
            let safety = self.amounts(
                &at.key("safety"),
                &overrides.safety,
                locations,
                "location",
                "a safety stock",
            );
            let buffer = self.amounts(
                &at.key("buffer"),
                &overrides.buffer,
                channels,
                "channel",
                "a buffer",
            );
            let (Some(safety), Some(buffer)) = (safety, buffer) else {
                ok = false;
                continue;
            };
            let entry = SkuOverrides { safety, buffer };
            built.insert(sku, entry);
        }
        ok.then_some(built)
    }

    /// A table of amounts by the name of a configured location or channel (`kind`), each
    /// never negative.
    fn amounts<Id: Ord + for<'s> TryFrom<&'s str>, T>(
        &mut self,
        path: &FieldPath,
        raw: &BTreeMap<String, i64>,
        known_names: &BTreeMap<String, T>,
        kind: &str,
        what: &str,
    ) -> Option<BTreeMap<Id, i64>> {
        let mut built = Some(BTreeMap::new());
        for (name, amount) in raw {
            let field = path.key(name);
            let id = match (known_names.contains_key(name), Id::try_from(name.as_str())) {
                (true, Ok(id)) => Some(id),
                _ => {
                    self.report(
                        field.clone(),
                        format!(
                            "unknown {kind} {name:?} (known: {})",
                            known(known_names.keys())
                        ),
                    );
                    None
                }
            };
            let amount = self.check(&field, not_negative(Some(*amount), what));
            match (id, amount, built.as_mut()) {
                (Some(id), Some(amount), Some(map)) => {
                    map.insert(id, amount);
                }
                _ => built = None,
            }
        }
        built
    }

    fn locations(
        &mut self,
        path: &FieldPath,
        raw: &BTreeMap<String, RawLocation>,
        channels: &BTreeMap<String, RawChannel>,
    ) -> Option<BTreeMap<LocationId, LocationConfig>> {
        if raw.is_empty() {
            self.report(
                path.clone(),
                "no locations configured; add at least one, like \
                 [locations.store-1] with owner = \"<channel>\"",
            );
            return None;
        }
        let mut built = Some(BTreeMap::new());
        for (name, location) in raw {
            let entry = self.location(&path.key(name), name, location, channels);
            match (entry, built.as_mut()) {
                (Some((id, config)), Some(map)) => {
                    map.insert(id, config);
                }
                _ => built = None,
            }
        }
        built
    }

    fn location(
        &mut self,
        path: &FieldPath,
        name: &str,
        raw: &RawLocation,
        channels: &BTreeMap<String, RawChannel>,
    ) -> Option<(LocationId, LocationConfig)> {
        let id = self.check(
            path,
            LocationId::new(name).map_err(|e| format!("invalid location name: {e}")),
        );
        let owner_path = path.key("owner");
        let owner = match &raw.owner {
            None => {
                self.report(
                    owner_path,
                    format!(
                        "missing; name the channel that counts this location's units \
                         (configured channels: {})",
                        known(channels.keys())
                    ),
                );
                None
            }
            Some(owner) if !channels.contains_key(owner) => {
                self.report(
                    owner_path,
                    format!(
                        "unknown channel {owner:?} (configured channels: {})",
                        known(channels.keys())
                    ),
                );
                None
            }
            // A configured channel whose own name is invalid is reported at its table.
            Some(owner) => ChannelId::new(owner.as_str()).ok(),
        };
        let safety = self.check(
            &path.key("safety"),
            not_negative(raw.safety, "safety stock"),
        );
        Some((
            id?,
            LocationConfig {
                owner: owner?,
                safety: safety?,
            },
        ))
    }

    fn channels(
        &mut self,
        path: &FieldPath,
        raw: &BTreeMap<String, RawChannel>,
        locations: &BTreeMap<String, RawLocation>,
    ) -> Option<BTreeMap<ChannelId, ChannelConfig>> {
        if raw.is_empty() {
            self.report(
                path.clone(),
                "no channels configured; add at least one, like \
                 [channels.pos-1] with kind = \"generic\"",
            );
            return None;
        }
        let mut built = Some(BTreeMap::new());
        for (name, channel) in raw {
            let entry = self.channel(&path.key(name), name, channel, locations);
            match (entry, built.as_mut()) {
                (Some((id, config)), Some(map)) => {
                    map.insert(id, config);
                }
                _ => built = None,
            }
        }
        built
    }

    fn channel(
        &mut self,
        path: &FieldPath,
        name: &str,
        raw: &RawChannel,
        locations: &BTreeMap<String, RawLocation>,
    ) -> Option<(ChannelId, ChannelConfig)> {
        let id = self.check(
            path,
            ChannelId::new(name)
                .map_err(|e| format!("invalid channel name: {e}"))
                .and_then(|id| match name.starts_with('@') {
                    // `@manual` logs operators' adjustments; no channel may pose as it.
                    true => Err(format!(
                        "{name:?}: names starting with '@' are reserved for omnistock's own sources"
                    )),
                    false => Ok(id),
                }),
        );
        let kind = self.kind(path, raw, locations);
        let sells_from = self.sells_from(&path.key("sells_from"), raw, locations);
        let buffer = self.check(&path.key("buffer"), not_negative(raw.buffer, "a buffer"));
        let policy = self.check(&path.key("policy"), policy(raw.policy.as_deref()));
        let limits = self.limits(path, raw);
        let reconcile = self.check(
            &path.key("reconcile_minutes"),
            not_negative(
                Some(raw.reconcile_minutes.unwrap_or(DEFAULT_RECONCILE_MINUTES)),
                "a reconciliation interval",
            ),
        );
        Some((
            id?,
            ChannelConfig {
                sells_from: sells_from?,
                buffer: buffer?,
                policy: policy?,
                kind: kind?,
                limits: limits?,
                adaptive_buffer: raw.adaptive_buffer.unwrap_or(false),
                reconcile_every: reconcile.map(|minutes| {
                    (minutes > 0).then(|| Duration::from_secs(60 * minutes as u64))
                })?,
            },
        ))
    }

    /// A `shopify` channel's own keys.
    fn shopify(
        &mut self,
        path: &FieldPath,
        raw: &RawChannel,
        known_locations: &BTreeMap<String, RawLocation>,
    ) -> Option<ShopifyChannel> {
        let required = |this: &mut Self, key: &str, present: bool, example: &str| {
            if !present {
                this.report(
                    path.key(key),
                    format!("missing; a shopify channel needs it, like {example}"),
                );
            }
            present
        };
        let has_url = required(
            self,
            "shop_url",
            raw.shop_url.is_some(),
            "shop_url = \"https://acme.myshopify.com\"",
        );
        let has_token = required(
            self,
            "access_token",
            raw.access_token.is_some(),
            "access_token = { env = \"SHOPIFY_TOKEN\" }",
        );
        let has_secret = required(
            self,
            "webhook_secret",
            raw.webhook_secret.is_some(),
            "webhook_secret = { env = \"SHOPIFY_SECRET\" }",
        );
        let has_locations = required(
            self,
            "shopify_locations",
            raw.shopify_locations.is_some(),
            "shopify_locations = { \"gid://shopify/Location/123\" = \"wh-east\" }",
        );
        let shop_url = raw
            .shop_url
            .as_deref()
            .and_then(|url| self.check(&path.key("shop_url"), push_url(url)));
        let api_version = raw
            .api_version
            .clone()
            .unwrap_or_else(|| omnistock_shopify::ApiVersion::CURRENT.to_string());
        let version_ok = self
            .check(
                &path.key("api_version"),
                api_version
                    .parse::<omnistock_shopify::ApiVersion>()
                    .map(drop)
                    .map_err(|e| format!("{api_version:?}: {e} (like \"2026-04\")")),
            )
            .is_some();
        let access_token = raw
            .access_token
            .as_ref()
            .and_then(|s| self.secret(&path.key("access_token"), s));
        let webhook_secret = raw
            .webhook_secret
            .as_ref()
            .and_then(|s| self.secret(&path.key("webhook_secret"), s));
        let mut locations = BTreeMap::new();
        let mut locations_ok = true;
        for (shopify, ours) in raw.shopify_locations.iter().flatten() {
            let at = path.key("shopify_locations").key(shopify);
            let numeric = shopify
                .rsplit('/')
                .next()
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !numeric {
                self.report(at.clone(), format!("{shopify:?} is not a Shopify location id (gid://shopify/Location/123 or 123)"));
                locations_ok = false;
            }
            match (
                known_locations.contains_key(ours),
                LocationId::new(ours.as_str()),
            ) {
                (true, Ok(id)) => {
                    locations.insert(shopify.clone(), id);
                }
                _ => {
                    self.report(
                        at,
                        format!(
                            "unknown location {ours:?} (known: {})",
                            known(known_locations.keys())
                        ),
                    );
                    locations_ok = false;
                }
            }
        }
        let default_location = self.default_location(path, raw, known_locations);
        if !(has_url && has_token && has_secret && has_locations && version_ok && locations_ok) {
            return None;
        }
        Some(ShopifyChannel {
            shop_url: shop_url?,
            api_version,
            access_token: access_token?,
            webhook_secret: webhook_secret?,
            locations,
            default_location: default_location?,
        })
    }

    /// `default_location`: a known location, by default the first of `sells_from`.
    fn default_location(
        &mut self,
        path: &FieldPath,
        raw: &RawChannel,
        known_locations: &BTreeMap<String, RawLocation>,
    ) -> Option<LocationId> {
        match &raw.default_location {
            Some(name) => match LocationId::new(name.as_str()) {
                Ok(id) if known_locations.contains_key(name) => Some(id),
                _ => {
                    self.report(
                        path.key("default_location"),
                        format!(
                            "unknown location {name:?} (known: {})",
                            known(known_locations.keys())
                        ),
                    );
                    None
                }
            },
            None => raw
                .sells_from
                .as_ref()
                .and_then(|l| l.first())
                .and_then(|n| LocationId::new(n.as_str()).ok()),
        }
    }

    /// `rate_limit` and `max_batch`, over the kind's defaults.
    fn limits(&mut self, path: &FieldPath, raw: &RawChannel) -> Option<ApiLimits> {
        let defaults = match raw.kind.as_deref() {
            Some("shopify") => SHOPIFY_LIMITS,
            Some("square") => SQUARE_LIMITS,
            Some("woocommerce") => WOOCOMMERCE_LIMITS,
            _ => GENERIC_LIMITS,
        };
        let rate = raw.rate_limit.as_ref();
        let per_second = match rate.and_then(|r| r.per_second) {
            Some(v) if !(v.is_finite() && v > 0.0 && v <= 10_000.0) => {
                self.report(
                    path.key("rate_limit").key("per_second"),
                    format!(
                        "{v} is not a rate; give calls per second, more than 0 and at most 10000"
                    ),
                );
                None
            }
            v => Some(v.unwrap_or(defaults.per_second)),
        };
        let burst = match rate.and_then(|r| r.burst) {
            Some(v) => match u32::try_from(v) {
                Ok(b) if (1..=10_000).contains(&b) => Some(b),
                _ => {
                    self.report(
                        path.key("rate_limit").key("burst"),
                        format!("{v} is not a burst; give 1 to 10000 calls"),
                    );
                    None
                }
            },
            None => Some(defaults.burst),
        };
        let max_batch = match raw.max_batch {
            Some(v) => match usize::try_from(v) {
                Ok(b) if (1..=250).contains(&b) => Some(b),
                _ => {
                    self.report(
                        path.key("max_batch"),
                        format!("{v} is not a batch size; give 1 to 250 quantities"),
                    );
                    None
                }
            },
            None => Some(defaults.max_batch),
        };
        Some(ApiLimits {
            per_second: per_second?,
            burst: burst?,
            max_batch: max_batch?,
        })
    }

    /// The one place a channel's kind is chosen.
    fn kind(
        &mut self,
        path: &FieldPath,
        raw: &RawChannel,
        locations: &BTreeMap<String, RawLocation>,
    ) -> Option<ChannelKind> {
        let supported = SUPPORTED_KINDS.join(", ");
        match raw.kind.as_deref() {
            Some("generic") => {
                let secret_path = path.key("webhook_secret");
                let Some(secret) = &raw.webhook_secret else {
                    self.report(
                        secret_path,
                        "missing; a generic channel signs the events it posts with it, like \
                         webhook_secret = { env = \"OMNISTOCK_POS_SECRET\" }",
                    );
                    return None;
                };
                let push_url = match &raw.push_url {
                    Some(url) => Some(self.check(&path.key("push_url"), push_url(url))?),
                    None => None,
                };
                let webhook_secret = self.secret(&secret_path, secret)?;
                Some(ChannelKind::Generic {
                    webhook_secret,
                    push_url,
                })
            }
            Some("shopify") => self
                .shopify(path, raw, locations)
                .map(|c| ChannelKind::Shopify(Box::new(c))),
            Some("square") => self
                .square(path, raw, locations)
                .map(|c| ChannelKind::Square(Box::new(c))),
            Some("woocommerce") => self
                .woocommerce(path, raw, locations)
                .map(|c| ChannelKind::WooCommerce(Box::new(c))),
            Some("shiphero") => self
                .shiphero(path, raw, locations)
                .map(|c| ChannelKind::ShipHero(Box::new(c))),
            Some("file_feed") => self
                .file_feed(path, raw, locations)
                .map(|c| ChannelKind::FileFeed(Box::new(c))),
            Some(kind) if PLANNED_KINDS.contains(&kind) => {
                self.report(
                    path.key("kind"),
                    format!(
                        "kind {kind:?} is not supported by this build yet (supported: {supported})"
                    ),
                );
                None
            }
            Some(kind) => {
                self.report(
                    path.key("kind"),
                    format!("unknown kind {kind:?} (supported: {supported})"),
                );
                None
            }
            None => {
                self.report(
                    path.key("kind"),
                    format!("missing; say which system this is (supported: {supported})"),
                );
                None
            }
        }
    }

    fn sells_from(
        &mut self,
        path: &FieldPath,
        raw: &RawChannel,
        locations: &BTreeMap<String, RawLocation>,
    ) -> Option<Vec<LocationId>> {
        let names = raw.sells_from.as_deref().unwrap_or_default();
        if names.is_empty() {
            self.report(
                path.clone(),
                format!(
                    "empty; name the locations this channel sells from (known: {})",
                    known(locations.keys())
                ),
            );
            return None;
        }
        let mut seen = BTreeSet::new();
        let mut built = Some(Vec::new());
        for (i, name) in names.iter().enumerate() {
            let id = if !locations.contains_key(name) {
                self.report(
                    path.index(i),
                    format!(
                        "unknown location {name:?} (known: {})",
                        known(locations.keys())
                    ),
                );
                None
            } else if !seen.insert(name) {
                // Pooled sums its locations: a location listed twice would be sold twice.
                self.report(
                    path.index(i),
                    format!("{name:?} is listed twice; list each location once"),
                );
                None
            } else {
                // A known location whose own name is invalid is reported at its table.
                LocationId::new(name.as_str()).ok()
            };
            match (id, built.as_mut()) {
                (Some(id), Some(list)) => list.push(id),
                _ => built = None,
            }
        }
        built
    }
}

/// `a, b, c`, or a word for none.
fn known<'n>(names: impl Iterator<Item = &'n String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "none configured".to_owned()
    } else {
        names.join(", ")
    }
}

/// A push URL: `https://` anywhere, `http://` only to this machine (credentials and stock
/// numbers do not cross a network in clear).
fn push_url(raw: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL ({e})"))?;
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(raw.to_owned()),
        "http" if loopback => Ok(raw.to_owned()),
        "http" => Err(format!(
            "{raw:?} is plain http to another machine; use https://"
        )),
        other => Err(format!("{raw:?}: scheme {other:?} is not http or https")),
    }
}

fn node_id(raw: Option<&str>) -> Result<String, String> {
    let hint = "a plain name of letters, digits, '.', '_' or '-', like \"node-1\"";
    match raw {
        None => Err(format!("missing; give this node {hint}")),
        Some("") => Err(format!("empty; give this node {hint}")),
        Some(id)
            if id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) =>
        {
            Ok(id.to_owned())
        }
        Some(id) => Err(format!("{id:?} is not {hint}")),
    }
}

fn listen(raw: Option<&str>) -> Result<SocketAddr, String> {
    let text = raw.unwrap_or(DEFAULT_LISTEN);
    text.parse().map_err(|_| {
        format!(
            "{text:?} is not a socket address; use IP:PORT, like \"127.0.0.1:8417\", \
             \"0.0.0.0:8417\" or \"[::1]:8417\" (port 0 picks a free port)"
        )
    })
}

fn state_dir(raw: Option<&str>, ctx: &Context<'_>) -> Result<PathBuf, String> {
    match raw {
        Some("") => Err("empty; give a directory, or leave state_dir out for the default".into()),
        Some(dir) => Ok(ctx.config_dir.join(dir)),
        None => {
            // systemd lists one directory per `StateDirectory=` entry, separated by ':'.
            let systemd = ctx
                .state_directory
                .as_deref()
                .and_then(|dirs| dirs.split(':').next())
                .filter(|dir| !dir.is_empty());
            Ok(match systemd {
                Some(dir) => PathBuf::from(dir),
                None => ctx.config_dir.join(DEFAULT_STATE_DIR),
            })
        }
    }
}

fn log_format(raw: Option<&str>) -> Result<LogFormat, String> {
    match raw {
        None | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(format!("unknown log format {other:?} (valid: text, json)")),
    }
}

fn max_body_bytes(raw: Option<i64>) -> Result<usize, String> {
    let Some(bytes) = raw else {
        return Ok(DEFAULT_MAX_BODY_BYTES);
    };
    usize::try_from(bytes)
        .ok()
        .filter(|b| (MIN_MAX_BODY_BYTES..=MAX_MAX_BODY_BYTES).contains(b))
        .ok_or_else(|| {
            format!(
                "{bytes} is out of range; use {MIN_MAX_BODY_BYTES} (1 KiB) to \
                 {MAX_MAX_BODY_BYTES} (64 MiB)"
            )
        })
}

fn not_negative(raw: Option<i64>, what: &str) -> Result<i64, String> {
    match raw.unwrap_or(0) {
        n if n < 0 => Err(format!("{n}: {what} cannot be negative; use 0 or more")),
        n => Ok(n),
    }
}

fn policy(raw: Option<&str>) -> Result<Policy, String> {
    let supported = SUPPORTED_POLICIES.join(", ");
    match raw {
        None | Some("pooled") => Ok(Policy::Pooled),
        Some("strict") => Ok(Policy::Strict),
        Some(p) => Err(format!("unknown policy {p:?} (available: {supported})")),
    }
}

fn secret_ref(raw: &RawSecret) -> Result<SecretRef, String> {
    if raw.clear_text {
        return Err(CLEAR_TEXT.to_owned());
    }
    let given: Vec<SecretRef> = [
        raw.env.clone().map(SecretRef::Env),
        raw.credential.clone().map(SecretRef::Credential),
        raw.file.clone().map(SecretRef::File),
    ]
    .into_iter()
    .flatten()
    .collect();
    match <[SecretRef; 1]>::try_from(given) {
        Ok([reference]) => Ok(reference),
        Err(given) if given.is_empty() => Err(
            "empty secret reference; give one of env = \"NAME\", credential = \"name\" \
             or file = \"/path\""
                .to_owned(),
        ),
        Err(given) => Err(format!(
            "give only one of env, credential or file (found {})",
            given
                .iter()
                .map(SecretRef::key)
                .collect::<Vec<_>>()
                .join(" and ")
        )),
    }
}
