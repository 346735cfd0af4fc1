//! Builds each channel's connector from its configuration: the one place channel kinds are
//! matched to connector crates. One instance per channel serves both its pusher and its
//! webhooks, so what one learns (a Shopify catalog) the other uses.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, RateLimiter};
use omnistock_generic::{GenericConnector, GenericSettings};
use omnistock_sdk::{ChannelId, Connector, ConnectorError, LocationId, PushForm};
use omnistock_shopify::{ShopifyConnector, ShopifySettings};
use omnistock_square::{SquareConnector, SquareSettings};
use omnistock_woocommerce::{WooConnector, WooSettings};

use super::EngineError;
use super::plan::Shown;
use super::reconcile::{PushedAt, Reconciled};
use crate::config::{ApiLimits, ChannelConfig, ChannelKind, Config};

#[path = "warehouse_connectors.rs"]
mod warehouse;

/// How long one call to a channel may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The one rate limiter of a channel, shaped like its API's limits: its pusher, poller and
/// reconciliation all call through it.
pub type Limiter = Arc<DefaultDirectRateLimiter>;

/// A limiter for `limits`.
pub fn limiter(limits: &ApiLimits) -> Limiter {
    Arc::new(RateLimiter::direct(super::pusher::quota(limits)))
}

/// A pushing channel's connector and the location its number is reported at.
pub struct PushSide {
    pub connector: Arc<dyn Connector>,
    pub limiter: Limiter,
    pub location: LocationId,
    /// What it is made to show: its allocation, or at a location it owns, holds or our
    /// adjustments ([`Shown`]).
    pub shown: Shown,
    /// Told when the channel's first listing is done: its connector then knows the
    /// channel's item ids, and the pusher starts. `None`: start at once.
    pub listed: Option<tokio::sync::watch::Receiver<bool>>,
}

/// Every channel's connector: those that receive pushes, and those whose webhooks arrive at
/// `POST /v1/webhooks/{channel}`.
#[derive(Default)]
pub struct Connectors {
    pub push: BTreeMap<ChannelId, PushSide>,
    pub webhooks: BTreeMap<ChannelId, Arc<dyn Connector>>,
    /// Every channel's limiter, for whatever calls its API.
    pub limiters: BTreeMap<ChannelId, Limiter>,
}

impl Connectors {
    /// Every channel with a connector, to reconcile; each pusher then waits for its
    /// channel's first listing.
    pub fn reconciled(&mut self) -> BTreeMap<ChannelId, Reconciled> {
        let mut reconciled = BTreeMap::new();
        for (id, side) in &mut self.push {
            let (listed, wait) = tokio::sync::watch::channel(false);
            side.listed = Some(wait);
            reconciled.insert(
                id.clone(),
                Reconciled {
                    connector: side.connector.clone(),
                    limiter: side.limiter.clone(),
                    pushed_at: Some(PushedAt {
                        location: side.location.clone(),
                        holds: matches!(side.shown, Shown::Holds(_)),
                    }),
                    listed: Some(listed),
                },
            );
        }
        for (id, connector) in &self.webhooks {
            let Some(limiter) = self.limiters.get(id) else {
                continue;
            };
            reconciled.entry(id.clone()).or_insert_with(|| Reconciled {
                connector: connector.clone(),
                limiter: limiter.clone(),
                pushed_at: None,
                listed: None,
            });
        }
        reconciled
    }
}

/// One channel's connector as its kind builds it.
struct Built {
    connector: Arc<dyn Connector>,
    /// Where its number is pushed, if it is pushed at all.
    push_at: Option<LocationId>,
    /// Its webhooks arrive at `/v1/webhooks/{channel}` (a generic channel posts to
    /// `/v1/events` instead).
    webhooks: bool,
}

/// Builds the connectors of every channel in `config`; none of them calls out yet.
///
/// A channel is never *set* to a number at a location it owns: its counts are the truth
/// there, and setting it to our availability would overwrite them (reservations and safety
/// stock would then come back as a lower count and be subtracted twice). A connector that
/// takes holds ([`Connector::takes_holds`]) is pushed holds there instead
/// ([`super::plan::Shown::Holds`]); any other owner is not pushed, and still sends its
/// webhooks.
pub fn build_all(config: &Config) -> Result<Connectors, EngineError> {
    let mut built = Connectors::default();
    for (id, channel) in &config.channels {
        let fail = |e: ConnectorError| EngineError::Connector {
            channel: id.clone(),
            message: e.to_string(),
        };
        let Some(Built {
            connector,
            push_at,
            webhooks,
        }) = build(id, channel, config).map_err(fail)?
        else {
            continue;
        };
        let limiter = limiter(&channel.limits);
        built.limiters.insert(id.clone(), limiter.clone());
        if webhooks {
            built.webhooks.insert(id.clone(), connector.clone());
        }
        let Some(location) = push_at else {
            continue;
        };
        let owns = config
            .locations
            .get(&location)
            .is_some_and(|l| &l.owner == id);
        let takes_deltas = connector
            .capabilities()
            .push_forms
            .contains(&PushForm::Delta);
        let shown_at_owned = match (connector.takes_holds(), connector.takes_adjustments()) {
            _ if !takes_deltas => None,
            (true, _) => Some(Shown::Holds(location.clone())),
            (false, true) => Some(Shown::Mirror(location.clone())),
            (false, false) => None,
        };
        let shown = match (owns, shown_at_owned) {
            (false, _) => Shown::Allocation,
            (true, Some(shown)) => shown,
            (true, None) => {
                not_pushing(id, &location);
                continue;
            }
        };
        built.push.insert(
            id.clone(),
            PushSide {
                connector,
                limiter,
                location,
                shown,
                listed: None,
            },
        );
    }
    Ok(built)
}

/// The connector of one channel, by its kind; `None` for a channel with no connector (a
/// generic channel that only posts events).
fn build(
    id: &ChannelId,
    channel: &ChannelConfig,
    config: &Config,
) -> Result<Option<Built>, ConnectorError> {
    Ok(match &channel.kind {
        ChannelKind::Generic { push_url: None, .. } => None,
        ChannelKind::Generic {
            push_url: Some(url),
            webhook_secret,
        } => {
            let Some(location) = channel.sells_from.first().cloned() else {
                return Ok(None);
            };
            let connector = GenericConnector::new(GenericSettings {
                channel: id.clone(),
                push_url: url.clone(),
                secret: webhook_secret.expose().to_owned(),
                location: location.clone(),
                max_batch: channel.limits.max_batch,
                calls_per_second: channel.limits.per_second,
                burst: channel.limits.burst,
                timeout: CALL_TIMEOUT,
            })?;
            Some(Built {
                connector: Arc::new(connector),
                push_at: Some(location),
                webhooks: false,
            })
        }
        ChannelKind::Shopify(shop) => Some(Built {
            connector: Arc::new(shopify(id, channel, shop)?),
            push_at: Some(shop.default_location.clone()),
            webhooks: true,
        }),
        ChannelKind::Square(square) => {
            let owned = owned_by(id, config);
            // The store it owns if it sells from one (it is pushed holds there), else the
            // first location it sells from.
            let push_at = channel
                .sells_from
                .iter()
                .find(|l| owned.contains(*l))
                .or(channel.sells_from.first())
                .cloned();
            Some(Built {
                connector: Arc::new(self::square(id, channel, square, config)?),
                push_at,
                webhooks: true,
            })
        }
        ChannelKind::WooCommerce(woo) => Some(Built {
            connector: Arc::new(woocommerce(id, channel, woo)?),
            push_at: Some(woo.location.clone()),
            webhooks: true,
        }),
        // Owners of their warehouses' counts: never pushed. They go with the webhook
        // connectors, where the pollers are started from (a file feed's webhook route only
        // ever answers 400: it has none).
        // With `allow_adjustments`, ShipHero is pushed operators' adjustments at the
        // warehouse it owns (`Shown::Mirror`; one location per channel: the first it owns).
        ChannelKind::ShipHero(wms) => Some(Built {
            connector: {
                let connector = warehouse::shiphero(id, channel, wms)?;
                warehouse::warn_unsigned(id, &connector);
                Arc::new(connector)
            },
            push_at: owned_by(id, config)
                .into_iter()
                .find(|l| wms.allow_adjustments && wms.warehouses.values().any(|w| w == l)),
            webhooks: true,
        }),
        ChannelKind::FileFeed(feed) => Some(Built {
            connector: Arc::new(warehouse::file_feed(id, feed)?),
            push_at: None,
            webhooks: true,
        }),
    })
}

/// The locations `id` is the owner of.
fn owned_by(id: &ChannelId, config: &Config) -> BTreeSet<LocationId> {
    config
        .locations
        .iter()
        .filter(|(_, l)| &l.owner == id)
        .map(|(name, _)| name.clone())
        .collect()
}

/// What `omnistock connect CHANNEL` does: creates or updates the channel's webhook
/// subscriptions so they deliver to `{public_url}/v1/webhooks/{channel}`, and says what it
/// did, one line per subscription.
pub async fn register_webhooks(
    config: &Config,
    id: &ChannelId,
) -> Result<Vec<String>, EngineError> {
    let fail = |message: String| EngineError::Connector {
        channel: id.clone(),
        message,
    };
    let channel = config
        .channels
        .get(id)
        .ok_or_else(|| fail(format!("no such channel in {}", config.source.display())))?;
    match &channel.kind {
        ChannelKind::Generic { .. } => Err(fail(
            "a generic channel posts its events to /v1/events itself: there is nothing to register"
                .to_owned(),
        )),
        ChannelKind::ShipHero(wms) => {
            let uri = webhook_uri(config, id).map_err(fail)?;
            warehouse::register_shiphero(id, channel, wms, &uri)
                .await
                .map_err(|e| fail(e.to_string()))
        }
        ChannelKind::FileFeed(_) => Err(fail(
            "a file feed reads its folder: there is nothing to register".to_owned(),
        )),
        ChannelKind::Shopify(shop) => {
            let uri = webhook_uri(config, id).map_err(fail)?;
            let connector = shopify(id, channel, shop).map_err(|e| fail(e.to_string()))?;
            let actions = connector
                .register_webhooks(&uri)
                .await
                .map_err(|e| fail(e.to_string()))?;
            Ok(actions.iter().map(ToString::to_string).collect())
        }
        ChannelKind::Square(square) => {
            let connector =
                self::square(id, channel, square, config).map_err(|e| fail(e.to_string()))?;
            Err(fail(format!(
                "this build does not create Square subscriptions: in Square's Developer Console, \
                 subscribe {} to {} and catalog.version.updated, then set \
                 webhook_signature_key to the subscription's signature key",
                connector.settings().notification_url,
                omnistock_square::WEBHOOK_TOPICS.join(", ")
            )))
        }
        ChannelKind::WooCommerce(woo) => {
            let uri = webhook_uri(config, id).map_err(fail)?;
            let connector = woocommerce(id, channel, woo).map_err(|e| fail(e.to_string()))?;
            let actions = connector
                .register_webhooks(&uri)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let probe = connector
                .probe_inventory_delta()
                .await
                .map_err(|e| fail(e.to_string()))?;
            let mut lines: Vec<String> = actions.iter().map(ToString::to_string).collect();
            lines.push(probe.to_string());
            Ok(lines)
        }
    }
}

/// Where the channel's system delivers its webhooks: `{public_url}/v1/webhooks/{channel}`.
fn webhook_uri(config: &Config, id: &ChannelId) -> Result<String, String> {
    let public = config.public_url.as_deref().ok_or_else(|| {
        format!(
            "set public_url in {} (where the channel's system reaches this daemon, like \"https://omnistock.example.com\")",
            config.source.display()
        )
    })?;
    Ok(format!("{}/v1/webhooks/{id}", public.trim_end_matches('/')))
}

fn not_pushing(channel: &ChannelId, location: &LocationId) {
    tracing::warn!(channel = %channel, location = %location, "Not pushing to this channel: it owns the location its number is for.");
}

fn shopify(
    id: &ChannelId,
    channel: &ChannelConfig,
    shop: &crate::config::ShopifyChannel,
) -> Result<ShopifyConnector, ConnectorError> {
    let mut settings = ShopifySettings::new(
        id.as_str(),
        shop.shop_url.clone(),
        shop.access_token.expose(),
        shop.webhook_secret.expose(),
    );
    settings.api_version = shop.api_version.parse().map_err(|e| {
        ConnectorError::Permanent(format!("api_version {:?}: {e}", shop.api_version))
    })?;
    settings.locations = shop.locations.clone();
    settings.default_location = Some(shop.default_location.clone());
    settings.calls_per_second = channel.limits.per_second;
    settings.burst = channel.limits.burst;
    settings
        .validate()
        .map_err(|problems| ConnectorError::Permanent(problems.join("; ")))?;
    ShopifyConnector::new(settings)
}

fn square(
    id: &ChannelId,
    channel: &ChannelConfig,
    square: &crate::config::SquareChannel,
    config: &Config,
) -> Result<SquareConnector, ConnectorError> {
    let notification_url = match (&square.notification_url, &config.public_url) {
        (Some(url), _) => url.clone(),
        (None, Some(public)) => format!("{}/v1/webhooks/{id}", public.trim_end_matches('/')),
        (None, None) => {
            return Err(ConnectorError::Permanent(format!(
                "set notification_url (the URL registered in the Square webhook subscription) \
                 or public_url in {}",
                config.source.display()
            )));
        }
    };
    let mut settings = SquareSettings::new(
        id.as_str(),
        square.access_token.expose(),
        square.webhook_signature_key.expose(),
        notification_url,
    );
    settings.base_url = square.base_url.clone();
    settings.square_version = square.square_version.clone();
    settings.locations = square.locations.clone();
    settings.owned = owned_by(id, config)
        .into_iter()
        .filter(|l| square.locations.values().any(|ours| ours == l))
        .collect();
    settings.variations = square.variations.clone();
    settings.hold_state = square
        .hold_state
        .parse()
        .map_err(|e| ConnectorError::Permanent(format!("hold_state: {e}")))?;
    settings.calls_per_second = channel.limits.per_second;
    settings.burst = channel.limits.burst;
    SquareConnector::new(settings)
}

fn woocommerce(
    id: &ChannelId,
    channel: &ChannelConfig,
    woo: &crate::config::WooChannel,
) -> Result<WooConnector, ConnectorError> {
    let mut settings = WooSettings::new(
        id.as_str(),
        woo.shop_url.clone(),
        woo.consumer_key.expose(),
        woo.consumer_secret.expose(),
        woo.webhook_secret.expose(),
        woo.location.clone(),
    );
    settings.allow_plain_http = woo.allow_plain_http;
    settings.inventory_delta = woo.inventory_delta;
    settings.calls_per_second = channel.limits.per_second;
    settings.burst = channel.limits.burst;
    settings.http.timeout = CALL_TIMEOUT;
    WooConnector::new(settings)
}
