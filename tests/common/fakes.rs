//! The fakes several end-to-end tests start the same way: a generic channel that knows the
//! MUG, and a Shopify store selling it from its warehouse location.

use omnistock_generic::fake::FakeReceiver;
use omnistock_shopify::fake::FakeShopify;

/// The Shopify store's Admin API token.
pub const SHOPIFY_TOKEN: &str = "shpat_test_token";
/// The Shopify app's client secret, which signs its webhooks.
pub const SHOPIFY_CLIENT_SECRET: &str = "shopify-client-secret";
/// The MUG's inventory item at Shopify.
pub const MUG_ITEM: u64 = 808_950_810;
/// Shopify's location for the warehouse.
pub const SHOPIFY_WH: u64 = 655_441_491;

/// A generic channel `name` signing with `secret` that lists the MUG at 0.
pub async fn receiver_with_mug(name: &str, secret: &str) -> FakeReceiver {
    FakeReceiver::builder(name, secret)
        .level("MUG", 0)
        .start()
        .await
}

/// A Shopify store with `available` MUGs at its warehouse location.
pub async fn shopify_with_mug(available: i64) -> FakeShopify {
    FakeShopify::builder()
        .access_token(SHOPIFY_TOKEN)
        .webhook_secret(SHOPIFY_CLIENT_SECRET)
        .variant("MUG", MUG_ITEM, &[(SHOPIFY_WH, available)])
        .start()
        .await
}

/// `shopify_locations`: Shopify's warehouse location is our `wh`.
pub fn shopify_locations() -> String {
    format!(r#"{{ "gid://shopify/Location/{SHOPIFY_WH}" = "wh" }}"#)
}
