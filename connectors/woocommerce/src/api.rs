//! Out to WooCommerce: the REST API v3 under basic auth, its paging headers (`X-WP-Total`,
//! `X-WP-TotalPages`), its batch answers (per-item errors inside an HTTP 200), and the wire
//! shapes we read. HTTP failures become the SDK's error classes (401 → permanent, 429 → rate
//! limited, 5xx, timeouts and garbage → retryable); the engine owns retries.

use omnistock_sdk::ConnectorError;
use omnistock_sdk::http::HttpClient;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::settings::WooSettings;

/// The largest page WordPress serves.
pub const PAGE_SIZE: usize = 100;

/// The meta_data key that carries the idempotency key of the last push applied to a product.
pub const PUSH_KEY_META: &str = "omnistock_push_key";

/// A product or a variation, with the fields we use. Unknown fields are ignored: WooCommerce
/// sends dozens.
#[derive(Clone, Debug, Deserialize)]
pub struct Product {
    pub id: u64,
    /// The variable product of a variation (0 for a product); set in `product.updated`
    /// bodies of variations and in products listed by id.
    #[serde(default)]
    pub parent_id: u64,
    #[serde(default)]
    pub sku: Option<String>,
    /// `simple`, `variable`, `grouped`, `external`, `variation`; absent on variation listings.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub manage_stock: ManageStock,
    #[serde(default)]
    pub stock_quantity: Option<i64>,
    #[serde(default)]
    pub variations: Vec<u64>,
    #[serde(default)]
    pub date_modified_gmt: Option<String>,
    #[serde(default)]
    pub meta_data: Vec<Meta>,
}

impl Product {
    /// The SKU, if it is a usable one.
    pub fn usable_sku(&self) -> Option<omnistock_sdk::Sku> {
        self.sku
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .and_then(|s| omnistock_sdk::Sku::new(s).ok())
    }

    /// The idempotency key of the last push we applied to it, from its meta_data.
    pub fn last_push_key(&self) -> Option<&str> {
        self.meta_data
            .iter()
            .find(|m| m.key == PUSH_KEY_META)
            .and_then(|m| m.value.as_str())
    }
}

/// `manage_stock`: a boolean, or on variations the string `"parent"` when the parent
/// product holds the stock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ManageStock {
    On,
    #[default]
    Off,
    Parent,
}

impl<'de> Deserialize<'de> for ManageStock {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Bool(true) => Self::On,
            Value::String(s) if s == "parent" => Self::Parent,
            _ => Self::Off,
        })
    }
}

/// One meta_data entry.
#[derive(Clone, Debug, Deserialize)]
pub struct Meta {
    pub key: String,
    #[serde(default)]
    pub value: Value,
}

/// An order, with the fields that move stock.
#[derive(Clone, Debug, Deserialize)]
pub struct Order {
    pub id: u64,
    pub status: String,
    pub date_created_gmt: Option<String>,
    pub date_modified_gmt: Option<String>,
    pub line_items: Vec<LineItem>,
}

/// One line of an order.
#[derive(Clone, Debug, Deserialize)]
pub struct LineItem {
    pub id: u64,
    #[serde(default)]
    pub product_id: u64,
    #[serde(default)]
    pub variation_id: u64,
    pub quantity: i64,
    #[serde(default)]
    pub sku: Option<String>,
}

impl LineItem {
    /// The product or variation the line sold, if it names one.
    pub fn item(&self) -> Option<crate::item::WooItem> {
        match (self.product_id, self.variation_id) {
            (0, _) => None,
            (product, 0) => Some(crate::item::WooItem::Product(product)),
            (parent, id) => Some(crate::item::WooItem::Variation { parent, id }),
        }
    }

    /// The SKU, if it is a usable one.
    pub fn usable_sku(&self) -> Option<omnistock_sdk::Sku> {
        self.sku
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .and_then(|s| omnistock_sdk::Sku::new(s).ok())
    }
}

/// A webhook as `/webhooks` lists it.
#[derive(Clone, Debug, Deserialize)]
pub struct Webhook {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    pub status: String,
    pub topic: String,
    pub delivery_url: String,
}

/// What the paging headers said about a list call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paging {
    pub total: Option<u64>,
    pub total_pages: Option<u64>,
}

impl Paging {
    /// Whether a page after `page` exists.
    pub fn has_after(self, page: u64) -> bool {
        self.total_pages.is_some_and(|n| n > page)
    }
}

/// One item of a batch answer: the resource as saved, or WooCommerce's error for it.
#[derive(Clone, Debug)]
pub enum BatchItem {
    Saved(Product),
    Failed { id: u64, error: String },
}

/// The REST API of one shop.
#[derive(Clone, Debug)]
pub struct Rest {
    http: HttpClient,
    base: String,
    key: String,
    secret: String,
    channel: String,
}

impl Rest {
    pub fn new(http: HttpClient, settings: &WooSettings) -> Self {
        Self {
            http,
            base: settings.api_base(),
            key: settings.consumer_key.clone(),
            secret: settings.consumer_secret.clone(),
            channel: settings.channel.clone(),
        }
    }

    /// The channel's name, for messages.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Result<url::Url, ConnectorError> {
        let mut url = url::Url::parse(&format!("{}{path}", self.base)).map_err(|e| {
            ConnectorError::Permanent(format!("{}: bad API URL {path}: {e}", self.channel))
        })?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                pairs.append_pair(name, value);
            }
        }
        Ok(url)
    }

    /// `GET path?query`, decoded, with the paging headers.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        action: &str,
    ) -> Result<(T, Paging), ConnectorError> {
        let request = self
            .http
            .client()
            .get(self.url(path, query)?)
            .basic_auth(&self.key, Some(&self.secret));
        let reply = self.http.send(request, action).await?;
        let number = |name: &str| reply.header(name).and_then(|v| v.trim().parse().ok());
        let paging = Paging {
            total: number("X-WP-Total"),
            total_pages: number("X-WP-TotalPages"),
        };
        Ok((reply.json(action)?, paging))
    }

    /// `POST` (or `PUT`) a JSON body, decoded.
    pub async fn send<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        action: &str,
    ) -> Result<T, ConnectorError> {
        let request = self
            .http
            .client()
            .request(method, self.url(path, &[])?)
            .basic_auth(&self.key, Some(&self.secret))
            .json(body);
        self.http.send(request, action).await?.json(action)
    }

    /// `POST <endpoint>/batch` with `{"update": updates}`; one answer per update, by id.
    pub async fn batch_update(
        &self,
        endpoint: &str,
        updates: Vec<Value>,
        action: &str,
    ) -> Result<Vec<BatchItem>, ConnectorError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            update: Vec<Value>,
        }
        let body = serde_json::json!({ "update": updates });
        let answer: Answer = self
            .send(
                reqwest::Method::POST,
                &format!("{endpoint}/batch"),
                &body,
                action,
            )
            .await?;
        answer
            .update
            .into_iter()
            .map(|item| batch_item(item, action))
            .collect()
    }
}

fn batch_item(item: Value, action: &str) -> Result<BatchItem, ConnectorError> {
    let garbage =
        |e: serde_json::Error| ConnectorError::Retryable(format!("{action}: unexpected item: {e}"));
    match item.get("error") {
        Some(error) => {
            let id = item.get("id").and_then(Value::as_u64).unwrap_or(0);
            let code = error.get("code").and_then(Value::as_str).unwrap_or("error");
            let message = error.get("message").and_then(Value::as_str).unwrap_or("");
            Ok(BatchItem::Failed {
                id,
                error: format!("{code}: {message}"),
            })
        }
        None => Ok(BatchItem::Saved(
            serde_json::from_value(item).map_err(garbage)?,
        )),
    }
}

/// Parses a WooCommerce `*_gmt` time (`2026-11-23T10:00:00`, no zone: it is UTC).
pub fn parse_gmt(text: &str) -> Result<omnistock_sdk::Timestamp, String> {
    let has_zone = text.ends_with('Z') || text.get(19..).is_some_and(|z| z.contains(['+', '-']));
    let zoned = if has_zone {
        text.to_owned()
    } else {
        format!("{text}Z")
    };
    omnistock_sdk::Timestamp::parse_rfc3339(&zoned)
}

/// Formats a time as WooCommerce's `*_gmt` fields and `modified_after` take it.
pub fn format_gmt(at: omnistock_sdk::Timestamp) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at.as_millis())
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_else(|| "1970-01-01T00:00:00".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmt_times_are_utc_without_a_zone() {
        let t = parse_gmt("2026-11-23T10:00:00").expect("valid");
        assert_eq!(t.to_rfc3339(), "2026-11-23T10:00:00.000Z");
        assert_eq!(format_gmt(t), "2026-11-23T10:00:00");
        assert!(parse_gmt("yesterday").is_err());
    }

    #[test]
    fn manage_stock_may_be_parent() {
        let p: Product = serde_json::from_str(
            r#"{"id":1,"manage_stock":"parent","stock_quantity":null,"meta_data":[{"id":3,"key":"omnistock_push_key","value":"k1"}]}"#,
        )
        .expect("valid");
        assert_eq!(p.manage_stock, ManageStock::Parent);
        assert_eq!(p.last_push_key(), Some("k1"));
    }

    #[test]
    fn batch_items_carry_their_errors() {
        let failed = batch_item(
            serde_json::json!({"id": 9, "error": {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": {"status": 400}}}),
            "x",
        )
        .expect("an error item");
        assert!(
            matches!(failed, BatchItem::Failed { id: 9, ref error } if error.contains("invalid_id"))
        );
    }
}
