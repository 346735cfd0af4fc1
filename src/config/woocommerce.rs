//! The `woocommerce` kind's own keys: the shop's home URL (plain HTTP only to this machine
//! unless `allow_plain_http`), its REST keys and webhook secret, the location it stands for,
//! and the `inventory_delta` switch.

use std::collections::BTreeMap;

use super::super::WooChannel;
use super::super::lines::FieldPath;
use super::super::raw::{RawChannel, RawLocation, RawSecret};
use super::Checker;

impl Checker<'_, '_> {
    /// A `woocommerce` channel's own keys.
    pub(super) fn woocommerce(
        &mut self,
        path: &FieldPath,
        raw: &RawChannel,
        known_locations: &BTreeMap<String, RawLocation>,
    ) -> Option<WooChannel> {
        let mut missing = false;
        let mut required = |this: &mut Self, key: &str, present: bool, example: &str| {
            if !present {
                missing = true;
                this.report(
                    path.key(key),
                    format!("missing; a woocommerce channel needs it, like {example}"),
                );
            }
        };
        required(
            self,
            "shop_url",
            raw.shop_url.is_some(),
            "shop_url = \"https://shop.example.com\"",
        );
        required(
            self,
            "consumer_key",
            raw.consumer_key.is_some(),
            "consumer_key = { env = \"WOO_CONSUMER_KEY\" }",
        );
        required(
            self,
            "consumer_secret",
            raw.consumer_secret.is_some(),
            "consumer_secret = { env = \"WOO_CONSUMER_SECRET\" }",
        );
        required(
            self,
            "webhook_secret",
            raw.webhook_secret.is_some(),
            "webhook_secret = { env = \"WOO_WEBHOOK_SECRET\" }",
        );
        let allow_plain_http = raw.allow_plain_http.unwrap_or(false);
        let shop_url = raw.shop_url.as_deref().and_then(|url| {
            self.check(
                &path.key("shop_url"),
                omnistock_woocommerce::settings::check_shop_url(url, allow_plain_http)
                    .map(|()| url.to_owned()),
            )
        });
        let secret = |this: &mut Self, key: &str, raw: Option<&RawSecret>| {
            raw.and_then(|s| this.secret(&path.key(key), s))
        };
        let consumer_key = secret(self, "consumer_key", raw.consumer_key.as_ref());
        let consumer_secret = secret(self, "consumer_secret", raw.consumer_secret.as_ref());
        let webhook_secret = secret(self, "webhook_secret", raw.webhook_secret.as_ref());
        let location = self.default_location(path, raw, known_locations);
        if missing {
            return None;
        }
        Some(WooChannel {
            shop_url: shop_url?,
            consumer_key: consumer_key?,
            consumer_secret: consumer_secret?,
            webhook_secret: webhook_secret?,
            allow_plain_http,
            inventory_delta: raw.inventory_delta.unwrap_or(false),
            location: location?,
        })
    }
}
