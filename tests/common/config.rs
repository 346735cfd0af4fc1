//! One builder for the end-to-end tests' daemon configs: the header every test shares, the
//! locations, the channels pointed at their fakes, and the environment their secrets are read
//! from (a config names secrets, never holds them), so that starting a daemon is one call.

use std::fmt::Display;
use std::path::Path;

use super::{Api, Daemon, POS_SECRET, Site, WEB_SECRET, WMS_SECRET};

/// A daemon config under construction: `text()` is the TOML, `env()` the secrets it reads.
#[derive(Default)]
pub struct DaemonConfig {
    public_url: Option<String>,
    tables: Vec<String>,
    env: Vec<(String, String)>,
}

impl DaemonConfig {
    /// No locations, no channels: node `test-node` on an ephemeral loopback port.
    pub fn new() -> Self {
        Self::default()
    }

    /// The URL `omnistock connect` registers the channels' webhooks at.
    pub fn public_url(mut self, url: &str) -> Self {
        self.public_url = Some(url.to_owned());
        self
    }

    /// A location whose on hand `owner` counts.
    pub fn location(mut self, name: &str, owner: &str) -> Self {
        self.tables
            .push(format!("[locations.{name}]\nowner = {owner:?}\n"));
        self
    }

    /// The channel `name`; its secrets are read from `OMNISTOCK_TEST_<NAME>_<FIELD>`.
    pub fn channel(mut self, name: &str, channel: Channel) -> Self {
        let mut table = format!("[channels.{name}]\n");
        for line in channel.lines {
            table.push_str(&line);
            table.push('\n');
        }
        for (field, value) in channel.secrets {
            let variable = env_name(name, &field);
            table.push_str(&format!("{field} = {{ env = {variable:?} }}\n"));
            self.env.push((variable, value));
        }
        self.tables.push(table);
        self
    }

    /// Any other table, as TOML (`[kits.GIFTBOX]` and its fields).
    pub fn table(mut self, toml: &str) -> Self {
        self.tables.push(format!("{}\n", toml.trim_end()));
        self
    }

    /// The config file's text.
    pub fn text(&self) -> String {
        let public_url = self
            .public_url
            .as_ref()
            .map(|url| format!("public_url = {url:?}\n"))
            .unwrap_or_default();
        format!(
            "node_id = \"test-node\"\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n{public_url}\n\
             [api]\nadmin_token = {{ env = \"OMNISTOCK_TEST_ADMIN_TOKEN\" }}\n\n{}",
            self.tables.join("\n")
        )
    }

    /// The environment the channels' secrets are read from (the generic channels' shared
    /// secrets are always set: see `secrets_env`).
    pub fn env(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect()
    }

    /// A directory holding this config, the daemon not started yet.
    pub fn site(&self) -> Site {
        Site::with_config(&self.text())
    }

    /// Writes the config and starts the daemon on it.
    pub fn start(&self) -> Running {
        self.start_at(self.site())
    }

    /// Starts the daemon on `site` (written by `site()`, then prepared) with this config's
    /// secrets.
    pub fn start_at(&self, site: Site) -> Running {
        let daemon = site.start_with_env(&self.env());
        Running {
            api: Api::new(&daemon.url),
            daemon,
            site,
        }
    }

    /// Runs `omnistock connect channel` on the config at `config` with this config's secrets.
    pub async fn connect(&self, channel: &str, config: &Path) -> (bool, String, String) {
        super::connect(channel, config, &self.env()).await
    }
}

/// A running daemon, its API client and its directory (dropped in that order: the daemon is
/// killed before its directory goes).
pub struct Running {
    pub api: Api,
    pub daemon: Daemon,
    pub site: Site,
}

/// One `[channels.NAME]` table: plain fields, and secrets the daemon reads from the
/// environment.
pub struct Channel {
    lines: Vec<String>,
    secrets: Vec<(String, String)>,
}

impl Channel {
    /// A channel of `kind` with no other field yet.
    pub fn of_kind(kind: &str) -> Self {
        Self {
            lines: vec![format!("kind = {kind:?}")],
            secrets: Vec::new(),
        }
    }

    /// A generic channel signing with one of the harness's shared secrets (`POS_SECRET`,
    /// `WMS_SECRET`, `WEB_SECRET`), which every daemon the harness starts can read, restarts
    /// included.
    pub fn generic(secret: &str) -> Self {
        let variable = match secret {
            POS_SECRET => "OMNISTOCK_TEST_POS_SECRET",
            WMS_SECRET => "OMNISTOCK_TEST_WMS_SECRET",
            WEB_SECRET => "OMNISTOCK_TEST_WEB_SECRET",
            other => panic!("{other:?} is not one of the harness's shared secrets"),
        };
        Self::of_kind("generic").raw("webhook_secret", format!("{{ env = {variable:?} }}"))
    }

    /// A Shopify store at `shop_url` (a `FakeShopify`'s URI).
    pub fn shopify(shop_url: &str, access_token: &str, client_secret: &str) -> Self {
        Self::of_kind("shopify")
            .text("shop_url", shop_url)
            .secret("access_token", access_token)
            .secret("webhook_secret", client_secret)
    }

    /// A WooCommerce shop at `shop_url` (a `FakeWoo`'s URI).
    pub fn woocommerce(shop_url: &str, key: &str, secret: &str, webhook_secret: &str) -> Self {
        Self::of_kind("woocommerce")
            .text("shop_url", shop_url)
            .secret("consumer_key", key)
            .secret("consumer_secret", secret)
            .secret("webhook_secret", webhook_secret)
    }

    /// A Square account at `base_url` (a `FakeSquare`'s URI).
    pub fn square(base_url: &str, access_token: &str, signature_key: &str) -> Self {
        Self::of_kind("square")
            .text("base_url", base_url)
            .secret("access_token", access_token)
            .secret("webhook_signature_key", signature_key)
    }

    /// A ShipHero account at `api_url` (a `FakeShipHero`'s URI).
    pub fn shiphero(api_url: &str, access_token: &str, refresh_token: &str) -> Self {
        Self::of_kind("shiphero")
            .text("api_url", api_url)
            .secret("access_token", access_token)
            .secret("refresh_token", refresh_token)
    }

    pub fn sells_from(self, locations: &[&str]) -> Self {
        self.raw("sells_from", format!("{locations:?}"))
    }

    pub fn push_url(self, url: &str) -> Self {
        self.text("push_url", url)
    }

    /// `key = "value"`.
    pub fn text(self, key: &str, value: &str) -> Self {
        self.raw(key, format!("{value:?}"))
    }

    /// `key = value`, the value written as TOML (a number, a table, …).
    pub fn raw(mut self, key: &str, value: impl Display) -> Self {
        self.lines.push(format!("{key} = {value}"));
        self
    }

    /// A secret field (a dotted key for a table of them), read from the environment.
    pub fn secret(mut self, key: &str, value: &str) -> Self {
        self.secrets.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// `OMNISTOCK_TEST_<CHANNEL>_<FIELD>`, upper case, anything but letters and digits as `_`.
fn env_name(channel: &str, field: &str) -> String {
    format!("OMNISTOCK_TEST_{channel}_{field}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}
