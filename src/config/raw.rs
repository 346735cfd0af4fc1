//! The file as written: the serde form of `omnistock.toml`, before any rule is checked.
//!
//! Unknown keys are refused everywhere (`deny_unknown_fields`). Everything a rule can judge is
//! optional or a plain string here, so that a missing field, an unsupported kind or a bad
//! address is reported by `validate` together with every other problem, instead of stopping
//! serde at the first one. These doc comments are the reference for each key; the commented
//! example is `config/omnistock.toml`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "the omnistock configuration table")]
pub(super) struct RawConfig {
    /// This node's name, letters, digits, `.`, `_` and `-` (`node-1`). Required.
    pub node_id: Option<String>,
    /// `IP:PORT` the HTTP API listens on. Default `127.0.0.1:8417`; port 0 picks a free port.
    pub listen: Option<String>,
    /// Where the store lives, relative to this file's directory unless absolute.
    /// Default `$STATE_DIRECTORY` (set by systemd's `StateDirectory=`), else `omnistock-state`
    /// beside this file.
    pub state_dir: Option<String>,
    /// `text` (default) or `json`.
    pub log_format: Option<String>,
    /// Where channels reach this daemon from outside (`https://omnistock.example.com`), for
    /// `omnistock connect` to register webhooks at `{public_url}/v1/webhooks/{channel}`.
    /// Optional; `https://`, or `http://` to this machine.
    pub public_url: Option<String>,
    /// The HTTP API. Required: it holds the admin token.
    pub api: Option<RawApi>,
    /// The physical places units sit, by name (`[locations.store-downtown]`). At least one.
    #[serde(default)]
    pub locations: BTreeMap<String, RawLocation>,
    /// The outside systems, by name (`[channels.pos-downtown]`). At least one.
    #[serde(default)]
    pub channels: BTreeMap<String, RawChannel>,
    /// Per-SKU overrides (`[skus.MUG]`): safety stock per location, buffer per channel.
    #[serde(default)]
    pub skus: BTreeMap<String, RawSkuOverrides>,
    /// SKUs sold as a set of other SKUs (`[kits.GIFTBOX]`), with no stock of their own.
    #[serde(default)]
    pub kits: BTreeMap<String, RawKit>,
}

/// `[kits.KIT]`.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a kit table, like [kits.GIFTBOX] with components = { MUG = 2, TEA = 1 }"
)]
pub(super) struct RawKit {
    /// The SKUs one kit is made of, with how many of each: `{ MUG = 2, TEA = 1 }`.
    pub components: Option<BTreeMap<String, i64>>,
}

/// `[skus.SKU]`.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a SKU table, like [skus.MUG] with safety = { store = 2 }"
)]
pub(super) struct RawSkuOverrides {
    /// Safety stock for this SKU by location, instead of the location's `safety`.
    #[serde(default)]
    pub safety: BTreeMap<String, i64>,
    /// Buffer for this SKU by channel, instead of the channel's `buffer`.
    #[serde(default)]
    pub buffer: BTreeMap<String, i64>,
}

/// `[api]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "the [api] table")]
pub(super) struct RawApi {
    /// Bearer token of the admin endpoints; a secret reference. Required.
    pub admin_token: Option<RawSecret>,
    /// Largest request body accepted, in bytes, 1024 (1 KiB) to 67108864 (64 MiB).
    /// Default 1048576 (1 MiB).
    pub max_body_bytes: Option<i64>,
}

/// `[locations.NAME]`.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a location table, like [locations.NAME] with owner = \"<channel>\""
)]
pub(super) struct RawLocation {
    /// The configured channel whose system counts this location's units. Required.
    pub owner: Option<String>,
    /// Units held back from every channel. Default 0, never negative.
    pub safety: Option<i64>,
}

/// `[channels.NAME]`.
///
/// One table for every kind, told apart by `kind`, rather than a serde-tagged enum: serde
/// buffers a tagged enum's table before choosing the variant, and the buffered form has no
/// spans, so its errors would lose their line. The kinds are still one closed enum,
/// [`super::ChannelKind`], built in one `match` in `validate`.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a channel table, like [channels.NAME] with kind = \"generic\""
)]
pub(super) struct RawChannel {
    /// Which system this is. Required: `generic`, `shopify`, `square`, `woocommerce`,
    /// `shiphero` or `file_feed`.
    pub kind: Option<String>,
    /// `generic`: the key that signs the events it posts; a secret reference. Required.
    pub webhook_secret: Option<RawSecret>,
    /// The locations this channel sells from, by name. At least one, each once.
    pub sells_from: Option<Vec<String>>,
    /// Units held back from this channel's number. Default 0, never negative.
    pub buffer: Option<i64>,
    /// How its number is computed from its locations: `pooled` (default, the sum of their
    /// available units minus `buffer`).
    pub policy: Option<String>,
    /// `generic`: the base URL of the generic push protocol, where omnistock reads and sets
    /// this channel's number. Optional: without it the channel only posts events. `https://`,
    /// or `http://` to a loopback address.
    pub push_url: Option<String>,
    /// How fast omnistock may call the channel's API: `{ per_second = 10, burst = 20 }`.
    /// Default for generic: 10 per second, bursts of 20.
    pub rate_limit: Option<RawRateLimit>,
    /// The most quantities one push carries, 1 to 250. Default for generic: 100; for
    /// shopify: 250.
    pub max_batch: Option<i64>,
    /// How often the channel's full listing is compared with our state, in minutes; 0: only
    /// at start. Default 60.
    pub reconcile_minutes: Option<i64>,
    /// Hold back, on top of `buffer`, the units the channel is expected to sell while a change
    /// is on its way to it: its recent sales velocity times its measured sync lag. Default
    /// false.
    pub adaptive_buffer: Option<bool>,
    /// `shopify`: the shop's base URL, `https://acme.myshopify.com`. Required.
    pub shop_url: Option<String>,
    /// `shopify`: the pinned Admin API version, `YYYY-MM`. Default `2026-04`.
    pub api_version: Option<String>,
    /// `shopify`: the Admin API access token; a secret reference. Required.
    pub access_token: Option<RawSecret>,
    /// `shopify`: which Shopify location is which of ours:
    /// `{ "gid://shopify/Location/123" = "wh-east" }`. Required; a Shopify location not in
    /// it is reported, never guessed.
    pub shopify_locations: Option<BTreeMap<String, String>>,
    /// `shopify`: where an online order's lines are reserved when the order names no
    /// location. Default: the first of `sells_from`.
    pub default_location: Option<String>,
    /// `square`: the API's base URL. Default `https://connect.squareup.com` (the sandbox is
    /// `https://connect.squareupsandbox.com`).
    pub base_url: Option<String>,
    /// `square`: the pinned `Square-Version`, `YYYY-MM-DD`. Default `2025-08-20`.
    pub square_version: Option<String>,
    /// `square`: the webhook subscription's signature key; a secret reference. Required.
    /// (`access_token`, also required, is the account's access token.)
    pub webhook_signature_key: Option<RawSecret>,
    /// `square`: the notification URL exactly as registered in the subscription (Square
    /// signs it with the body). Default `{public_url}/v1/webhooks/{channel}`.
    pub notification_url: Option<String>,
    /// `square`: which Square location is which of ours: `{ "L123" = "store-downtown" }`.
    /// Required; a Square location not in it is reported, never guessed. Where the channel
    /// is the location's `owner`, it is read through its changes and pushed holds.
    pub square_locations: Option<BTreeMap<String, String>>,
    /// `square`: item variation id → SKU, for variations whose own `sku` is missing or
    /// differs: `{ "W62UWFY35CWMYGVWK6TWJDNI" = "MUG-RED" }`. Optional.
    pub square_variations: Option<BTreeMap<String, String>>,
    /// `square`: the state holds move units to out of `IN_STOCK`: `NONE` (default: neither a
    /// sale nor a loss in the merchant's reports), `WASTE` or `SOLD`.
    pub hold_state: Option<String>,
    /// `woocommerce`: the REST API consumer key (`ck_…`); a secret reference. Required.
    /// A woocommerce channel also takes `shop_url` (the site's home URL, `https://`),
    /// `webhook_secret` (the secret its webhooks are signed with; `omnistock connect` sets it)
    /// and `default_location` (the location its number stands for and its orders reserve
    /// at; default the first of `sells_from`).
    pub consumer_key: Option<RawSecret>,
    /// `woocommerce`: the REST API consumer secret (`cs_…`); a secret reference. Required.
    pub consumer_secret: Option<RawSecret>,
    /// `woocommerce`: allow `http://` to a host that is not this machine. Default false:
    /// WooCommerce's keys would travel in the clear.
    pub allow_plain_http: Option<bool>,
    /// `woocommerce`: push with the server-side `inventory_delta` (a concurrent sale is never
    /// overwritten) instead of read, set, re-read. Default false; `omnistock connect` checks
    /// whether the shop honours it and says which to set.
    pub inventory_delta: Option<bool>,
    /// `shiphero`: the API's base URL (`/graphql` and `/auth/refresh` under it). Default
    /// `https://public-api.shiphero.com`.
    pub api_url: Option<String>,
    /// `shiphero`: renews `access_token` when ShipHero says it expired; a secret reference.
    /// Required.
    pub refresh_token: Option<RawSecret>,
    /// `shiphero`: which ShipHero warehouse (its id, `V2FyZWhvdXNlOjc2NzMz`) is which of our
    /// locations: `{ "V2FyZWhvdXNlOjc2NzMz" = "wh-east" }`. Required; a warehouse not in it
    /// is reported, never guessed.
    pub warehouses: Option<BTreeMap<String, String>>,
    /// `shiphero`: the channel that took the orders of each ShipHero shop (its `shop_name`):
    /// `{ "Shopify Store" = "shopify-main" }`. A shipment closes that channel's order lines.
    pub order_channels: Option<BTreeMap<String, String>>,
    /// `shiphero`: the channel of orders whose shop is not in `order_channels`. Without
    /// either, shipments are reported as unmapped.
    pub orders_from: Option<String>,
    /// `shiphero`: push cycle-count adjustments made in omnistock to ShipHero
    /// (`inventory_add` / `inventory_remove`). Default `false`: ShipHero owns its counts.
    pub allow_adjustments: Option<bool>,
    /// `shiphero`, `file_feed`: seconds between polls, 1 to 86400. Default 60 for shiphero,
    /// 30 for file_feed.
    pub poll_interval_secs: Option<i64>,
    /// `file_feed`: the folder the 3PL drops its snapshot files into (relative to this
    /// file's directory unless absolute). Required. `processed/` and `rejected/` are made
    /// inside it.
    pub directory: Option<String>,
    /// `file_feed`: `csv` (default) or `edi846`.
    pub format: Option<String>,
    /// `file_feed`, csv: which column holds what, by header name:
    /// `{ sku = "item", quantity = "on_hand", location = "warehouse", time = "as_of" }`.
    /// Default `sku` and `quantity`; without `location` rows are at `default_location`,
    /// without `time` at the file's modification time.
    pub columns: Option<RawColumns>,
    /// `file_feed`: the 3PL's location codes → ours: `{ "EAST" = "wh-east" }`. A code not in
    /// it makes its row rejected.
    pub locations: Option<BTreeMap<String, String>>,
    /// `file_feed`, edi846: the `QTY01` qualifier of the count (`33` available, `17` on
    /// hand). Default `33`.
    pub quantity_qualifier: Option<String>,
    /// `shiphero`: the secret of each webhook, by type, as `omnistock connect` prints them
    /// (ShipHero's `webhook_create` returns one per webhook): `{ shipment_update = { env =
    /// "…" }, inventory_update = { env = "…" } }`; secret references. A type without one
    /// falls back to `webhook_secret` (one secret for all, as older configs have it); a
    /// delivery of a type with neither is refused.
    pub webhook_secrets: Option<BTreeMap<String, RawSecret>>,
}

/// `columns = { sku = "item", quantity = "on_hand", location = "warehouse", time = "as_of" }`.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table like { sku = \"item\", quantity = \"on_hand\" }"
)]
pub(super) struct RawColumns {
    pub sku: Option<String>,
    pub quantity: Option<String>,
    pub location: Option<String>,
    pub time: Option<String>,
}

/// `rate_limit = { per_second = 10, burst = 20 }`.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table like { per_second = 10, burst = 20 }"
)]
pub(super) struct RawRateLimit {
    /// Sustained calls per second, more than 0.
    pub per_second: Option<f64>,
    /// Calls allowed at once after a quiet spell, at least 1.
    pub burst: Option<i64>,
}

/// A secret field as written: `{ env = "NAME" }`, `{ credential = "name" }` or
/// `{ file = "/path" }`. A plain string is kept only as the fact that one was written: its
/// value is dropped on the spot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct RawSecret {
    pub clear_text: bool,
    pub env: Option<String>,
    pub credential: Option<String>,
    pub file: Option<String>,
}

const SECRET_KEYS: &[&str] = &["env", "credential", "file"];

impl<'de> Deserialize<'de> for RawSecret {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretVisitor)
    }
}

struct SecretVisitor;

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = RawSecret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a secret reference, like { env = "NAME" } or { credential = "name" }"#)
    }

    fn visit_str<E: de::Error>(self, _clear_text: &str) -> Result<RawSecret, E> {
        Ok(RawSecret {
            clear_text: true,
            ..RawSecret::default()
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSecret, A::Error> {
        let mut secret = RawSecret::default();
        while let Some(key) = map.next_key::<String>()? {
            let slot = match key.as_str() {
                "env" => &mut secret.env,
                "credential" => &mut secret.credential,
                "file" => &mut secret.file,
                _ => return Err(de::Error::unknown_field(&key, SECRET_KEYS)),
            };
            *slot = Some(map.next_value()?);
        }
        Ok(secret)
    }
}
