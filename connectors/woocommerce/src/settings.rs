//! What the daemon's config hands the connector: the shop, its REST keys and webhook
//! secret (resolved), the location its number stands for, and whether the shop honours
//! `inventory_delta`. A plain struct: the daemon owns parsing and file paths.

use std::time::Duration;

use omnistock_sdk::LocationId;
use omnistock_sdk::http::HttpSettings;

/// One WooCommerce shop, as the daemon's config describes it. Secrets arrive resolved.
#[derive(Clone, Debug)]
pub struct WooSettings {
    /// The channel's name, for messages (`woo-eu`).
    pub channel: String,
    /// The site's home URL, `https://shop.example.com` (the REST API is under
    /// `/wp-json/wc/v3`); the fake's URI in tests.
    pub shop_url: String,
    /// The REST consumer key (`ck_…`) and secret (`cs_…`), sent as HTTP basic auth.
    pub consumer_key: String,
    pub consumer_secret: String,
    /// The secret of our webhooks: the key of `X-WC-Webhook-Signature`.
    pub webhook_secret: String,
    /// WooCommerce over plain HTTP wants OAuth 1.0a; basic auth would send the keys in the
    /// clear. Refused unless the host is loopback (tests) or this is set on purpose.
    pub allow_plain_http: bool,
    /// The one location WooCommerce's numbers stand for, and where its orders reserve units.
    pub location: LocationId,
    /// Push with `inventory_delta` (the shop honours it; `omnistock connect` checks) rather
    /// than read-set-re-read.
    pub inventory_delta: bool,
    /// Timeouts and user agent.
    pub http: HttpSettings,
    /// The limiter's sustained calls per second and burst. WooCommerce documents no limit;
    /// hosts add their own, so stay modest.
    pub calls_per_second: f64,
    pub burst: u32,
    /// How often recent orders are polled, the safety net for lost webhooks.
    pub poll_interval: Duration,
}

/// The defaults, named where they are used.
pub const DEFAULT_CALLS_PER_SECOND: f64 = 5.0;
pub const DEFAULT_BURST: u32 = 10;
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(60);

impl WooSettings {
    /// Settings with the defaults for everything but the shop, its secrets and location.
    pub fn new(
        channel: impl Into<String>,
        shop_url: impl Into<String>,
        consumer_key: impl Into<String>,
        consumer_secret: impl Into<String>,
        webhook_secret: impl Into<String>,
        location: LocationId,
    ) -> Self {
        Self {
            channel: channel.into(),
            shop_url: shop_url.into(),
            consumer_key: consumer_key.into(),
            consumer_secret: consumer_secret.into(),
            webhook_secret: webhook_secret.into(),
            allow_plain_http: false,
            location,
            inventory_delta: false,
            http: HttpSettings::new(concat!("omnistock-woocommerce/", env!("CARGO_PKG_VERSION"))),
            calls_per_second: DEFAULT_CALLS_PER_SECOND,
            burst: DEFAULT_BURST,
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }

    /// Every problem with the settings, each naming its field.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if let Err(e) = check_shop_url(&self.shop_url, self.allow_plain_http) {
            problems.push(format!("shop_url: {e}"));
        }
        if self.consumer_key.is_empty() {
            problems.push("consumer_key: empty".to_owned());
        }
        if self.consumer_secret.is_empty() {
            problems.push("consumer_secret: empty".to_owned());
        }
        if self.webhook_secret.is_empty() {
            problems.push("webhook_secret: empty".to_owned());
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

    /// The REST API's base, `https://shop.example.com/wp-json/wc/v3`.
    pub fn api_base(&self) -> String {
        format!("{}/wp-json/wc/v3", self.shop_url.trim_end_matches('/'))
    }
}

/// An `https` URL, or `http` to a loopback host (or anywhere when `allow_plain_http`).
/// Shared with the daemon's config validation so both say the same.
pub fn check_shop_url(text: &str, allow_plain_http: bool) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL ({e})"))?;
    if url.query().is_some() {
        return Err(format!("{text:?} has a query; give the site's home URL"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_plain_http || is_loopback(&url) => Ok(()),
        "http" => Err(format!(
            "{text:?} is plain HTTP: WooCommerce's keys would travel in the clear (use https, or set allow_plain_http = true on a trusted network)"
        )),
        other => Err(format!("{text:?}: scheme {other:?} is not http(s)")),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> WooSettings {
        WooSettings::new(
            "woo-eu",
            url,
            "ck_1",
            "cs_1",
            "hook",
            LocationId::new("wh-eu").expect("id"),
        )
    }

    #[test]
    fn plain_http_is_refused_except_to_loopback_or_on_purpose() {
        assert!(settings("https://shop.example.com").validate().is_ok());
        assert!(settings("http://127.0.0.1:8080").validate().is_ok());
        assert!(settings("http://[::1]:8080").validate().is_ok());
        assert!(settings("http://localhost").validate().is_ok());
        let problems = settings("http://shop.example.com")
            .validate()
            .expect_err("plain HTTP to a remote host");
        assert!(problems[0].contains("in the clear"), "{problems:?}");
        let mut allowed = settings("http://shop.example.com");
        allowed.allow_plain_http = true;
        assert!(allowed.validate().is_ok());
    }

    #[test]
    fn validation_reports_every_problem() {
        let mut s = settings("ftp://shop.example.com");
        s.consumer_key.clear();
        s.webhook_secret.clear();
        s.calls_per_second = 0.0;
        let problems = s.validate().expect_err("four problems");
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("shop_url:"), "{problems:?}");
    }

    #[test]
    fn the_api_lives_under_wp_json() {
        assert_eq!(
            settings("https://shop.example.com/").api_base(),
            "https://shop.example.com/wp-json/wc/v3"
        );
    }
}
