//! What the daemon's config hands the connector: the shop, the pinned API version, resolved
//! secrets and the location map. A plain struct: the daemon owns parsing and file paths.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use omnistock_sdk::LocationId;
use omnistock_sdk::http::HttpSettings;

use crate::gid::{Gid, GidKind};

/// A dated Admin API version (`2026-04`). Shopify releases one a quarter; pin one in config
/// and move it forward on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub year: u16,
    pub month: u8,
}

impl ApiVersion {
    /// `2026-01`: `changeFromQuantity` and `@idempotent` appear.
    pub const CHANGE_FROM: ApiVersion = ApiVersion {
        year: 2026,
        month: 1,
    };
    /// `2026-04`: `changeFromQuantity` and `@idempotent` become mandatory; `compareQuantity` is gone.
    pub const MANDATORY_IDEMPOTENCY: ApiVersion = ApiVersion {
        year: 2026,
        month: 4,
    };
    /// The version this connector targets by default.
    pub const CURRENT: ApiVersion = Self::MANDATORY_IDEMPOTENCY;

    /// Whether pushes use `changeFromQuantity` and `@idempotent` (2026-01 and later) rather
    /// than `compareQuantity` (2025-10 and earlier).
    pub fn uses_change_from(self) -> bool {
        self >= Self::CHANGE_FROM
    }

    /// Whether `changeFromQuantity` must be sent on every quantity and `@idempotent` on every
    /// inventory mutation (2026-04 and later).
    pub fn requires_idempotency(self) -> bool {
        self >= Self::MANDATORY_IDEMPOTENCY
    }
}

impl FromStr for ApiVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("API version {text:?} is not of the form YYYY-MM (e.g. 2026-04)");
        let (year, month) = text.split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(bad());
        }
        let year: u16 = year.parse().map_err(|_| bad())?;
        let month: u8 = month.parse().map_err(|_| bad())?;
        if !(2019..=2100).contains(&year) || !matches!(month, 1 | 4 | 7 | 10) {
            return Err(format!(
                "API version {text:?} is not a Shopify release (January, April, July or October)"
            ));
        }
        Ok(Self { year, month })
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// One Shopify shop, as the daemon's config describes it. Secrets arrive resolved.
#[derive(Clone, Debug)]
pub struct ShopifySettings {
    /// The channel's name, for messages (`shopify-main`).
    pub channel: String,
    /// `https://acme.myshopify.com` (no trailing path); the fake's URI in tests.
    pub shop_url: String,
    /// The pinned Admin API version.
    pub api_version: ApiVersion,
    /// The Admin API access token (`shpat_…`), sent as `X-Shopify-Access-Token`.
    pub access_token: String,
    /// The app's client secret, the key of `X-Shopify-Hmac-Sha256`.
    pub webhook_secret: String,
    /// Shopify location (`gid://shopify/Location/123` or `123`) → our location. A Shopify
    /// location not in this map is reported, never guessed.
    pub locations: BTreeMap<String, LocationId>,
    /// Where an order line is reserved when the order names no location (online orders).
    pub default_location: Option<LocationId>,
    /// Timeouts and user agent.
    pub http: HttpSettings,
    /// The governor limiter's sustained calls per second and burst; the GraphQL cost bucket
    /// is tracked on top of it, from each response's `throttleStatus`.
    pub calls_per_second: f64,
    pub burst: u32,
    /// The longest the connector waits for the cost bucket to refill before a call; beyond
    /// it the call returns `RateLimited` and the engine reschedules.
    pub max_throttle_wait: Duration,
    /// Inventory levels asked per item in a listing page; items with more are paged on
    /// their own. The page size follows so a query costs at most 1,000 points.
    pub levels_per_item: u32,
}

/// The defaults, named where they are used.
pub const DEFAULT_CALLS_PER_SECOND: f64 = 10.0;
pub const DEFAULT_BURST: u32 = 20;
pub const DEFAULT_MAX_THROTTLE_WAIT: Duration = Duration::from_secs(10);
pub const DEFAULT_LEVELS_PER_ITEM: u32 = 5;

impl ShopifySettings {
    /// Settings with the defaults for everything but the shop and its secrets.
    pub fn new(
        channel: impl Into<String>,
        shop_url: impl Into<String>,
        access_token: impl Into<String>,
        webhook_secret: impl Into<String>,
    ) -> Self {
        Self {
            channel: channel.into(),
            shop_url: shop_url.into(),
            api_version: ApiVersion::CURRENT,
            access_token: access_token.into(),
            webhook_secret: webhook_secret.into(),
            locations: BTreeMap::new(),
            default_location: None,
            http: HttpSettings::new(concat!("omnistock-shopify/", env!("CARGO_PKG_VERSION"))),
            calls_per_second: DEFAULT_CALLS_PER_SECOND,
            burst: DEFAULT_BURST,
            max_throttle_wait: DEFAULT_MAX_THROTTLE_WAIT,
            levels_per_item: DEFAULT_LEVELS_PER_ITEM,
        }
    }

    /// Maps a Shopify location (GID or number) to ours.
    pub fn location(mut self, shopify: impl Into<String>, ours: LocationId) -> Self {
        self.locations.insert(shopify.into(), ours);
        self
    }

    /// Every problem with the settings, each naming its field.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let url = self.shop_url.trim_end_matches('/');
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            problems.push(format!(
                "shop_url: {:?} is not an http(s) URL",
                self.shop_url
            ));
        }
        if self.access_token.is_empty() {
            problems.push("access_token: empty".to_owned());
        }
        if self.webhook_secret.is_empty() {
            problems.push("webhook_secret: empty".to_owned());
        }
        for key in self.locations.keys() {
            if let Err(e) = Gid::parse_or_number(key, GidKind::Location) {
                problems.push(format!("locations.{key:?}: {e}"));
            }
        }
        if !(self.calls_per_second.is_finite() && self.calls_per_second > 0.0) {
            problems.push(format!(
                "calls_per_second: {} is not a positive number",
                self.calls_per_second
            ));
        }
        if !(1..=250).contains(&self.levels_per_item) {
            problems.push(format!(
                "levels_per_item: {} is not within 1..=250",
                self.levels_per_item
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The GraphQL endpoint of the pinned version.
    pub fn endpoint(&self) -> String {
        format!(
            "{}/admin/api/{}/graphql.json",
            self.shop_url.trim_end_matches('/'),
            self.api_version
        )
    }

    /// The location map by Shopify location number (validated first).
    pub(crate) fn location_map(&self) -> BTreeMap<u64, LocationId> {
        self.locations
            .iter()
            .filter_map(|(k, v)| {
                Gid::parse_or_number(k, GidKind::Location)
                    .ok()
                    .map(|g| (g.id, v.clone()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        let v: ApiVersion = "2025-10".parse().expect("valid");
        assert!(!v.uses_change_from());
        assert!(
            "2026-01"
                .parse::<ApiVersion>()
                .expect("valid")
                .uses_change_from()
        );
        assert!(ApiVersion::CURRENT.requires_idempotency());
        assert_eq!(v.to_string(), "2025-10");
        assert!("2026-13".parse::<ApiVersion>().is_err());
        assert!("2026-02".parse::<ApiVersion>().is_err());
        assert!("latest".parse::<ApiVersion>().is_err());
    }

    #[test]
    fn validation_reports_every_problem() {
        let mut s = ShopifySettings::new("shopify-main", "ftp://x", "", "");
        s.locations.insert(
            "gid://shopify/Product/1".into(),
            LocationId::new("wh").expect("id"),
        );
        let problems = s.validate().expect_err("four problems");
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[3].starts_with("locations."), "{problems:?}");
    }
}
