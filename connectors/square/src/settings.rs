//! What the daemon's config hands the connector: the account, the pinned API version,
//! resolved secrets, the location map and which of those locations Square owns. A plain
//! struct: the daemon owns parsing and file paths.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use omnistock_sdk::http::HttpSettings;
use omnistock_sdk::{LocationId, Sku, Timestamp};

/// Square's production host.
pub const DEFAULT_BASE_URL: &str = "https://connect.squareup.com";
/// The `Square-Version` of the OpenAPI specification our fake validates against
/// (`square/connect-api-specification`, release 2025-08-20).
pub const DEFAULT_SQUARE_VERSION: &str = "2025-08-20";
pub const DEFAULT_CALLS_PER_SECOND: f64 = 10.0;
pub const DEFAULT_BURST: u32 = 20;
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// Where a hold (an online order against a store Square owns) moves units out of `IN_STOCK`.
///
/// `RESERVED_FOR_SALE` would say it best, but Square's API documents it as read-only, as it
/// does `SOLD_ONLINE`. Of the states an API client may write, `NONE` ("not tracked in
/// Square") is the least harmful to the merchant's reports: a move to `SOLD` shows as a sale
/// in the item sales and inventory-sold reports (it is not one yet: the order is still
/// open), a move to `WASTE` shows as shrinkage. `NONE → IN_STOCK` is the documented way to
/// put units (back) into stock, which is how a hold is released. Square's spec marks neither
/// `NONE` nor `WASTE` read-only, but publishes no full matrix of accepted pairs: that it
/// accepts `IN_STOCK → NONE` is our reading, not yet seen against a live account. The state
/// is therefore a setting, so a merchant whose account refuses one pair can pick `WASTE`
/// (the documented shrinkage move) without a release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldState {
    None,
    Waste,
    Sold,
}

impl HoldState {
    /// The state's name in Square's API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Waste => "WASTE",
            Self::Sold => "SOLD",
        }
    }
}

impl FromStr for HoldState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "NONE" => Ok(Self::None),
            "WASTE" => Ok(Self::Waste),
            "SOLD" => Ok(Self::Sold),
            other => Err(format!(
                "hold state {other:?} is not one Square lets an API client write (NONE, WASTE or SOLD)"
            )),
        }
    }
}

impl fmt::Display for HoldState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Wall-clock time, injected so tests can pin it (`occurred_at` must lie within Square's
/// last 24 hours).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| Timestamp::from_millis(chrono::Utc::now().timestamp_millis()))
}

/// One Square account, as the daemon's config describes it. Secrets arrive resolved.
#[derive(Clone)]
pub struct SquareSettings {
    /// The channel's name, for messages (`square-downtown`).
    pub channel: String,
    /// `https://connect.squareup.com` (no trailing path); the fake's URI in tests.
    pub base_url: String,
    /// The pinned `Square-Version` header (`YYYY-MM-DD`).
    pub square_version: String,
    /// The access token, sent as `Authorization: Bearer …`.
    pub access_token: String,
    /// The webhook subscription's signature key.
    pub webhook_signature_key: String,
    /// The notification URL exactly as registered: Square signs it followed by the body.
    pub notification_url: String,
    /// Square location id → our location. A Square location not in this map is reported,
    /// never guessed.
    pub locations: BTreeMap<String, LocationId>,
    /// Our locations whose owner is this channel: there Square's counts are the truth, we
    /// read its changes and push holds as adjustments.
    pub owned: BTreeSet<LocationId>,
    /// Item variation id → SKU, overriding the variation's own `sku`.
    pub variations: BTreeMap<String, Sku>,
    /// Where holds move units out of `IN_STOCK`.
    pub hold_state: HoldState,
    pub http: HttpSettings,
    pub calls_per_second: f64,
    pub burst: u32,
    /// How often the changes feed of owned locations is polled.
    pub poll_interval: Duration,
    pub clock: Clock,
}

impl fmt::Debug for SquareSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets are left out on purpose.
        f.debug_struct("SquareSettings")
            .field("channel", &self.channel)
            .field("base_url", &self.base_url)
            .field("square_version", &self.square_version)
            .field("notification_url", &self.notification_url)
            .field("locations", &self.locations)
            .field("owned", &self.owned)
            .field("hold_state", &self.hold_state)
            .finish_non_exhaustive()
    }
}

impl SquareSettings {
    /// Settings with the defaults for everything but the account and its secrets.
    pub fn new(
        channel: impl Into<String>,
        access_token: impl Into<String>,
        webhook_signature_key: impl Into<String>,
        notification_url: impl Into<String>,
    ) -> Self {
        Self {
            channel: channel.into(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            square_version: DEFAULT_SQUARE_VERSION.to_owned(),
            access_token: access_token.into(),
            webhook_signature_key: webhook_signature_key.into(),
            notification_url: notification_url.into(),
            locations: BTreeMap::new(),
            owned: BTreeSet::new(),
            variations: BTreeMap::new(),
            hold_state: HoldState::None,
            http: HttpSettings::new(concat!("omnistock-square/", env!("CARGO_PKG_VERSION"))),
            calls_per_second: DEFAULT_CALLS_PER_SECOND,
            burst: DEFAULT_BURST,
            poll_interval: DEFAULT_POLL_INTERVAL,
            clock: system_clock(),
        }
    }

    /// Maps a Square location to ours.
    pub fn location(mut self, square: impl Into<String>, ours: LocationId) -> Self {
        self.locations.insert(square.into(), ours);
        self
    }

    /// Maps a Square location to ours, and says Square owns it.
    pub fn owned_location(mut self, square: impl Into<String>, ours: LocationId) -> Self {
        self.owned.insert(ours.clone());
        self.location(square, ours)
    }

    /// Every problem with the settings, each naming its field.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        for (field, url) in [
            ("base_url", &self.base_url),
            ("notification_url", &self.notification_url),
        ] {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                problems.push(format!("{field}: {url:?} is not an http(s) URL"));
            }
        }
        if !is_square_version(&self.square_version) {
            problems.push(format!(
                "square_version: {:?} is not a date of the form YYYY-MM-DD",
                self.square_version
            ));
        }
        if self.access_token.is_empty() {
            problems.push("access_token: empty".to_owned());
        }
        if self.webhook_signature_key.is_empty() {
            problems.push("webhook_signature_key: empty".to_owned());
        }
        for ours in &self.owned {
            if !self.locations.values().any(|l| l == ours) {
                problems.push(format!(
                    "owned: location {ours} is not mapped from any Square location"
                ));
            }
        }
        if !(self.calls_per_second.is_finite() && self.calls_per_second > 0.0) {
            problems.push(format!(
                "calls_per_second: {} is not a positive number",
                self.calls_per_second
            ));
        }
        if self.poll_interval.is_zero() {
            problems.push("poll_interval: zero".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// An endpoint of the API (`/v2/locations`).
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.base_url.trim_end_matches('/'))
    }
}

/// Whether `text` has the form of a `Square-Version` (`YYYY-MM-DD`).
pub fn is_square_version(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(name: &str) -> LocationId {
        LocationId::new(name).expect("valid id")
    }

    #[test]
    fn validation_reports_every_problem() {
        let mut s = SquareSettings::new("square-downtown", "", "", "ftp://x");
        s.square_version = "2025-8-20".into();
        s.owned.insert(loc("store-9"));
        let problems = s.validate().expect_err("five problems");
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems[0].starts_with("notification_url"), "{problems:?}");
        assert!(problems[4].contains("store-9"), "{problems:?}");
    }

    #[test]
    fn valid_settings_pass() {
        let s = SquareSettings::new("sq", "t", "k", "https://omni.example/v1/webhooks/sq")
            .owned_location("L1", loc("store-1"));
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(
            s.endpoint("/v2/locations"),
            "https://connect.squareup.com/v2/locations"
        );
    }

    #[test]
    fn hold_states_are_the_writable_ones() {
        assert_eq!("NONE".parse::<HoldState>(), Ok(HoldState::None));
        assert!("RESERVED_FOR_SALE".parse::<HoldState>().is_err());
        assert_eq!(HoldState::Waste.to_string(), "WASTE");
    }
}
