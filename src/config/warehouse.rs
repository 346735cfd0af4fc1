//! The `shiphero` and `file_feed` kinds' own keys: a WMS and a 3PL's file drop, the two ways
//! a warehouse's own counts reach us. A child of `validate`, so it reports through the same
//! [`Checker`] walk.

use std::collections::BTreeMap;
use std::time::Duration;

use omnistock_sdk::{ChannelId, LocationId};

use super::super::Secret;
use super::super::raw::RawColumns;
use super::super::{FileFeedChannel, ShipHeroChannel};
use super::{Checker, FieldPath, RawChannel, RawLocation, RawSecret, known, push_url};

/// The default ShipHero API.
const SHIPHERO_API: &str = "https://public-api.shiphero.com";
const SHIPHERO_POLL_SECS: i64 = 60;
const FILE_FEED_POLL_SECS: i64 = 30;

impl Checker<'_, '_> {
    /// A `shiphero` channel's own keys.
    pub(super) fn shiphero(
        &mut self,
        path: &FieldPath,
        raw: &RawChannel,
        known_locations: &BTreeMap<String, RawLocation>,
    ) -> Option<ShipHeroChannel> {
        let secret =
            |this: &mut Self, key: &str, value: &Option<RawSecret>, example: &str| match value {
                Some(value) => this.secret(&path.key(key), value),
                None => {
                    this.report(
                        path.key(key),
                        format!("missing; a shiphero channel needs it, like {key} = {example}"),
                    );
                    None
                }
            };
        let access_token = secret(
            self,
            "access_token",
            &raw.access_token,
            "{ env = \"SHIPHERO_TOKEN\" }",
        );
        let refresh_token = secret(
            self,
            "refresh_token",
            &raw.refresh_token,
            "{ env = \"SHIPHERO_REFRESH_TOKEN\" }",
        );
        // Both optional: `omnistock connect` registers the webhooks and prints their
        // secrets, and it needs this config to load first. Until then deliveries are refused.
        let webhook_secret = match &raw.webhook_secret {
            Some(value) => self.secret(&path.key("webhook_secret"), value).map(Some),
            None => Some(None),
        };
        let webhook_secrets = self.shiphero_webhook_secrets(&path.key("webhook_secrets"), raw);
        let api_url = self.check(
            &path.key("api_url"),
            push_url(raw.api_url.as_deref().unwrap_or(SHIPHERO_API)),
        );
        let warehouses = match &raw.warehouses {
            Some(map) => self.location_map(&path.key("warehouses"), map, known_locations),
            None => {
                self.report(
                    path.key("warehouses"),
                    "missing; say which ShipHero warehouse is which location, like \
                     warehouses = { \"V2FyZWhvdXNlOjc2NzMz\" = \"wh-east\" }",
                );
                None
            }
        };
        let mut order_channels = Some(BTreeMap::new());
        for (shop, channel) in raw.order_channels.iter().flatten() {
            let id = self.check(&path.key("order_channels").key(shop), channel_id(channel));
            match (id, order_channels.as_mut()) {
                (Some(id), Some(map)) => {
                    map.insert(shop.clone(), id);
                }
                _ => order_channels = None,
            }
        }
        let orders_from = match &raw.orders_from {
            Some(channel) => Some(self.check(&path.key("orders_from"), channel_id(channel))?),
            None => None,
        };
        let poll_interval = self.poll_interval(path, raw, SHIPHERO_POLL_SECS);
        Some(ShipHeroChannel {
            api_url: api_url?,
            access_token: access_token?,
            refresh_token: refresh_token?,
            webhook_secret: webhook_secret?,
            webhook_secrets: webhook_secrets?,
            warehouses: warehouses?,
            order_channels: order_channels?,
            orders_from,
            allow_adjustments: raw.allow_adjustments.unwrap_or(false),
            poll_interval: poll_interval?,
        })
    }

    /// `webhook_secrets = { shipment_update = { env = "…" }, … }`: each key a webhook type
    /// the connector handles, each value a secret reference; keyed by ShipHero's type name.
    fn shiphero_webhook_secrets(
        &mut self,
        path: &FieldPath,
        raw: &RawChannel,
    ) -> Option<BTreeMap<String, Secret>> {
        let mut secrets = Some(BTreeMap::new());
        for (key, value) in raw.webhook_secrets.iter().flatten() {
            let at = path.key(key);
            let found = match omnistock_shiphero::webhooks::type_of_config_key(key) {
                Some(kind) => self.secret(&at, value).map(|s| (kind, s)),
                None => {
                    let known: Vec<String> = omnistock_shiphero::connector::WEBHOOK_TYPES
                        .iter()
                        .map(|k| omnistock_shiphero::webhooks::config_key(k))
                        .collect();
                    self.report(
                        at,
                        format!(
                            "not a webhook this connector uses (known: {})",
                            known.join(", ")
                        ),
                    );
                    None
                }
            };
            match (found, secrets.as_mut()) {
                (Some((kind, secret)), Some(map)) => {
                    map.insert(kind.to_owned(), secret);
                }
                _ => secrets = None,
            }
        }
        secrets
    }

    /// A `file_feed` channel's own keys.
    pub(super) fn file_feed(
        &mut self,
        path: &FieldPath,
        raw: &RawChannel,
        known_locations: &BTreeMap<String, RawLocation>,
    ) -> Option<FileFeedChannel> {
        let directory = match raw.directory.as_deref() {
            Some(dir) if !dir.trim().is_empty() => Some(self.ctx.config_dir.join(dir)),
            _ => {
                self.report(
                    path.key("directory"),
                    "missing; the folder the 3PL drops its files into, like \
                     directory = \"/srv/sftp/3pl-east/inbox\"",
                );
                None
            }
        };
        let format = match raw.format.as_deref().unwrap_or("csv") {
            "csv" => {
                let columns = raw.columns.as_ref();
                let name =
                    |get: fn(&RawColumns) -> &Option<String>| columns.and_then(|c| get(c).clone());
                Some(omnistock_file_feed::Format::Csv(
                    omnistock_file_feed::Columns {
                        sku: name(|c| &c.sku).unwrap_or_else(|| "sku".into()),
                        quantity: name(|c| &c.quantity).unwrap_or_else(|| "quantity".into()),
                        location: name(|c| &c.location),
                        time: name(|c| &c.time),
                    },
                ))
            }
            "edi846" => Some(omnistock_file_feed::Format::Edi846 {
                quantity_qualifier: raw.quantity_qualifier.clone().unwrap_or_else(|| {
                    omnistock_file_feed::settings::DEFAULT_QUANTITY_QUALIFIER.to_owned()
                }),
            }),
            other => {
                self.report(
                    path.key("format"),
                    format!("unknown format {other:?} (supported: csv, edi846)"),
                );
                None
            }
        };
        let locations = match &raw.locations {
            Some(map) => self.location_map(&path.key("locations"), map, known_locations),
            None => Some(BTreeMap::new()),
        };
        let default_location = match &raw.default_location {
            Some(name) => Some(self.check(
                &path.key("default_location"),
                known_location(name, known_locations),
            )?),
            None => raw
                .sells_from
                .as_ref()
                .and_then(|l| l.first())
                .and_then(|n| LocationId::new(n.as_str()).ok()),
        };
        let poll_interval = self.poll_interval(path, raw, FILE_FEED_POLL_SECS);
        Some(FileFeedChannel {
            directory: directory?,
            format: format?,
            locations: locations?,
            default_location,
            poll_interval: poll_interval?,
        })
    }

    /// `{ "<their name>" = "<our location>" }`, every location known.
    fn location_map(
        &mut self,
        path: &FieldPath,
        raw: &BTreeMap<String, String>,
        known_locations: &BTreeMap<String, RawLocation>,
    ) -> Option<BTreeMap<String, LocationId>> {
        let mut map = Some(BTreeMap::new());
        for (theirs, ours) in raw {
            let id = self.check(&path.key(theirs), known_location(ours, known_locations));
            match (id, map.as_mut()) {
                (Some(id), Some(map)) => {
                    map.insert(theirs.clone(), id);
                }
                _ => map = None,
            }
        }
        map
    }

    fn poll_interval(
        &mut self,
        path: &FieldPath,
        raw: &RawChannel,
        default: i64,
    ) -> Option<Duration> {
        let secs = raw.poll_interval_secs.unwrap_or(default);
        self.check(
            &path.key("poll_interval_secs"),
            u64::try_from(secs)
                .ok()
                .filter(|s| (1..=86_400).contains(s))
                .map(Duration::from_secs)
                .ok_or_else(|| format!("{secs} is not 1 to 86400 seconds")),
        )
    }
}

fn known_location(
    name: &str,
    known_locations: &BTreeMap<String, RawLocation>,
) -> Result<LocationId, String> {
    match LocationId::new(name) {
        Ok(id) if known_locations.contains_key(name) => Ok(id),
        _ => Err(format!(
            "unknown location {name:?} (known: {})",
            known(known_locations.keys())
        )),
    }
}

fn channel_id(name: &str) -> Result<ChannelId, String> {
    ChannelId::new(name).map_err(|e| format!("invalid channel name: {e}"))
}
