//! A valid config in words (`check-config`), and what a reload cannot apply without a restart.

use std::fmt::Write as _;

use super::lines::FieldPath;
use super::{
    ApiLimits, ChannelConfig, ChannelKind, Config, FileFeedChannel, LogFormat, Policy, Secret,
    ShipHeroChannel, ShopifyChannel, SquareChannel, WooChannel,
};

impl Config {
    /// What `check-config` prints: node, listen, state dir, locations with owner and safety,
    /// channels with kind, sells_from, buffer and policy; secrets by origin only.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_description(&mut out);
        out
    }

    fn write_description(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out, "config: {}", self.source.display())?;
        writeln!(out, "node: {}", self.node_id)?;
        writeln!(out, "listen: {}", self.listen)?;
        writeln!(out, "state dir: {}", self.state_dir.display())?;
        writeln!(out, "log format: {}", self.log_format.name())?;
        writeln!(out, "api:")?;
        writeln!(out, "  admin_token: {}", from(&self.api.admin_token))?;
        writeln!(out, "  max_body_bytes: {}", self.api.max_body_bytes)?;
        writeln!(out, "locations ({}):", self.locations.len())?;
        for (id, location) in &self.locations {
            let sold_by: Vec<&str> = self
                .channels
                .iter()
                .filter(|(_, channel)| channel.sells_from.contains(id))
                .map(|(channel, _)| channel.as_str())
                .collect();
            writeln!(out, "  {id}:")?;
            writeln!(out, "    owner: {}", location.owner)?;
            writeln!(out, "    safety: {}", location.safety)?;
            writeln!(out, "    sold by: {}", list_or_none(&sold_by))?;
        }
        writeln!(out, "channels ({}):", self.channels.len())?;
        for (id, channel) in &self.channels {
            let sells_from: Vec<&str> = channel.sells_from.iter().map(|l| l.as_str()).collect();
            writeln!(out, "  {id}:")?;
            writeln!(out, "    kind: {}", channel.kind.name())?;
            writeln!(out, "    sells_from: {}", list_or_none(&sells_from))?;
            writeln!(out, "    buffer: {}", channel.buffer)?;
            writeln!(out, "    policy: {}", channel.policy.name())?;
            match &channel.kind {
                ChannelKind::Generic {
                    webhook_secret,
                    push_url,
                } => {
                    writeln!(out, "    webhook_secret: {}", from(webhook_secret))?;
                    match push_url {
                        Some(url) => {
                            writeln!(out, "    push_url: {url} (omnistock pushes its number)")?
                        }
                        None => writeln!(out, "    push_url: (none: events in only)")?,
                    }
                }
                ChannelKind::Shopify(shop) => {
                    writeln!(
                        out,
                        "    shop_url: {} (API {})",
                        shop.shop_url, shop.api_version
                    )?;
                    writeln!(out, "    access_token: {}", from(&shop.access_token))?;
                    writeln!(out, "    webhook_secret: {}", from(&shop.webhook_secret))?;
                    for (shopify, ours) in &shop.locations {
                        writeln!(out, "    shopify location {shopify} is {ours}")?;
                    }
                    writeln!(
                        out,
                        "    orders without a location reserve at: {}",
                        shop.default_location
                    )?;
                    writeln!(out, "    webhooks: POST /v1/webhooks/{id}")?;
                }
                ChannelKind::Square(square) => {
                    writeln!(
                        out,
                        "    base_url: {} (Square-Version {})",
                        square.base_url, square.square_version
                    )?;
                    writeln!(out, "    access_token: {}", from(&square.access_token))?;
                    writeln!(
                        out,
                        "    webhook_signature_key: {}",
                        from(&square.webhook_signature_key)
                    )?;
                    for (sq, ours) in &square.locations {
                        writeln!(out, "    square location {sq} is {ours}")?;
                    }
                    writeln!(out, "    holds move units to: {}", square.hold_state)?;
                    writeln!(out, "    webhooks: POST /v1/webhooks/{id}")?;
                }
                ChannelKind::WooCommerce(woo) => {
                    writeln!(out, "    shop_url: {}", woo.shop_url)?;
                    writeln!(out, "    consumer_key: {}", from(&woo.consumer_key))?;
                    writeln!(out, "    consumer_secret: {}", from(&woo.consumer_secret))?;
                    writeln!(out, "    webhook_secret: {}", from(&woo.webhook_secret))?;
                    let form = if woo.inventory_delta {
                        "inventory_delta"
                    } else {
                        "read, set, re-read"
                    };
                    writeln!(out, "    pushes with: {form}")?;
                    writeln!(out, "    stands for and reserves at: {}", woo.location)?;
                    writeln!(out, "    webhooks: POST /v1/webhooks/{id}")?;
                }
                ChannelKind::ShipHero(wms) => {
                    writeln!(out, "    api_url: {}", wms.api_url)?;
                    writeln!(out, "    access_token: {}", from(&wms.access_token))?;
                    writeln!(out, "    refresh_token: {}", from(&wms.refresh_token))?;
                    if let Some(secret) = &wms.webhook_secret {
                        writeln!(out, "    webhook_secret: {}", from(secret))?;
                    }
                    for (kind, secret) in &wms.webhook_secrets {
                        writeln!(out, "    {kind} webhook secret: {}", from(secret))?;
                    }
                    for (shiphero, ours) in &wms.warehouses {
                        writeln!(out, "    shiphero warehouse {shiphero} is {ours}")?;
                    }
                    for (shop, channel) in &wms.order_channels {
                        writeln!(out, "    orders of shop {shop:?} are {channel}'s")?;
                    }
                    if let Some(channel) = &wms.orders_from {
                        writeln!(out, "    other orders are {channel}'s")?;
                    }
                    writeln!(out, "    allow_adjustments: {}", wms.allow_adjustments)?;
                    writeln!(out, "    polls every {} s", wms.poll_interval.as_secs())?;
                    writeln!(out, "    webhooks: POST /v1/webhooks/{id}")?;
                }
                ChannelKind::FileFeed(feed) => {
                    writeln!(out, "    directory: {}", feed.directory.display())?;
                    for (code, ours) in &feed.locations {
                        writeln!(out, "    3PL location {code} is {ours}")?;
                    }
                    writeln!(out, "    polls every {} s", feed.poll_interval.as_secs())?;
                }
            }
            let limits = &channel.limits;
            writeln!(
                out,
                "    limits: {} calls/s, bursts of {}, {} quantities a push",
                limits.per_second, limits.burst, limits.max_batch
            )?;
        }
        if !self.skus.is_empty() {
            writeln!(out, "per-SKU overrides ({}):", self.skus.len())?;
            for (sku, o) in &self.skus {
                let safety: Vec<String> =
                    o.safety.iter().map(|(l, n)| format!("{l}={n}")).collect();
                let buffer: Vec<String> =
                    o.buffer.iter().map(|(c, n)| format!("{c}={n}")).collect();
                writeln!(
                    out,
                    "  {sku}: safety {}; buffer {}",
                    list_or_none_owned(&safety),
                    list_or_none_owned(&buffer)
                )?;
            }
        }
        Ok(())
    }

    /// The settings that differ between `self` and `new` and only take effect after a restart
    /// (`listen`, `state_dir`, `node_id`, a location's owner, …), as field paths.
    ///
    /// A location added or removed is `locations.NAME`; its owner changed is
    /// `locations.NAME.owner`. A channel's push side (`push_url`, `rate_limit`, `max_batch`,
    /// or a channel with a `push_url` added or removed) needs a restart too: its pusher is
    /// built at start; so does any setting of a `shiphero` or `file_feed` channel (its
    /// connector and poller are). Tokens, secrets, safety, buffers, `sells_from` and channels without a
    /// push side apply live.
    pub fn restart_required(&self, new: &Config) -> Vec<String> {
        let mut fields = Vec::new();
        if self.node_id != new.node_id {
            fields.push("node_id".to_owned());
        }
        if self.listen != new.listen {
            fields.push("listen".to_owned());
        }
        if self.state_dir != new.state_dir {
            fields.push("state_dir".to_owned());
        }
        if self.log_format != new.log_format {
            fields.push("log_format".to_owned());
        }
        let names = self.locations.keys().chain(new.locations.keys());
        let mut names: Vec<_> = names.collect();
        names.sort();
        names.dedup();
        for name in names {
            let path = FieldPath::root().key("locations").key(name.as_str());
            match (self.locations.get(name), new.locations.get(name)) {
                (Some(old), Some(new)) if old.owner != new.owner => {
                    fields.push(path.key("owner").to_string());
                }
                (Some(_), Some(_)) => {}
                _ => fields.push(path.to_string()),
            }
        }
        let names = self.channels.keys().chain(new.channels.keys());
        let mut names: Vec<_> = names.collect();
        names.sort();
        names.dedup();
        for name in names {
            let path = FieldPath::root().key("channels").key(name.as_str());
            let (old, new) = (self.channels.get(name), new.channels.get(name));
            if push_side(old) != push_side(new) {
                fields.push(path.to_string());
            }
        }
        fields
    }
}

/// What a channel's pusher and connector are built from, if it pushes.
#[derive(PartialEq)]
enum PushSide<'a> {
    /// The URL, and the secret that signs the pushes.
    Generic(&'a str, &'a Secret),
    Shopify(&'a ShopifyChannel),
    Square(&'a SquareChannel),
    WooCommerce(&'a WooChannel),
    /// Never pushed, but their connectors (and pollers) are built at start all the same.
    ShipHero(&'a ShipHeroChannel),
    FileFeed(&'a FileFeedChannel),
}

fn push_side(channel: Option<&ChannelConfig>) -> Option<(PushSide<'_>, &ApiLimits)> {
    let channel = channel?;
    let side = match &channel.kind {
        ChannelKind::Generic {
            push_url,
            webhook_secret,
        } => PushSide::Generic(push_url.as_deref()?, webhook_secret),
        ChannelKind::Shopify(shop) => PushSide::Shopify(shop),
        ChannelKind::Square(square) => PushSide::Square(square),
        ChannelKind::WooCommerce(woo) => PushSide::WooCommerce(woo),
        ChannelKind::ShipHero(wms) => PushSide::ShipHero(wms),
        ChannelKind::FileFeed(feed) => PushSide::FileFeed(feed),
    };
    Some((side, &channel.limits))
}

/// A secret as it may be shown: where it comes from.
fn from(secret: &Secret) -> String {
    format!("from {}", secret.origin)
}

fn list_or_none_owned(names: &[String]) -> String {
    list_or_none(&names.iter().map(String::as_str).collect::<Vec<_>>())
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

impl LogFormat {
    /// The name written in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

impl Policy {
    /// The name written in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pooled => "pooled",
            Self::Strict => "strict",
        }
    }
}
