//! The CLI's side of the HTTP API: `omnistock stock` and `omnistock adjust` talk to a
//! running daemon and print what it says, errors included, in plain words.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

/// Where the daemon is and how to authenticate.
pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// `GET /v1/stock/{sku}`.
    pub async fn stock(&self, sku: &str) -> anyhow::Result<Value> {
        let url = format!("{}/v1/stock/{}", self.base, encode_segment(sku));
        answer(self.http.get(&url).send().await, &url).await
    }

    /// `POST /v1/adjustments` with a fresh id, so a retry of this same call cannot double it.
    pub async fn adjust(
        &self,
        token: &str,
        sku: &str,
        location: &str,
        by: i64,
        reason: &str,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/v1/adjustments", self.base);
        let body = json!({
            "id": format!("cli-{}", uuid::Uuid::new_v4()),
            "sku": sku, "location": location, "by": by, "reason": reason,
        });
        let request = self.http.post(&url).bearer_auth(token).json(&body);
        answer(request.send().await, &url).await
    }
}

async fn answer(sent: reqwest::Result<reqwest::Response>, url: &str) -> anyhow::Result<Value> {
    let response =
        sent.with_context(|| format!("no answer from {url}; is omnistock running there?"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("{url} did not answer JSON"))?;
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("no message");
        match body["error"]["field"].as_str() {
            Some(field) => bail!("{url}: HTTP {status}: {field}: {message}"),
            None => bail!("{url}: HTTP {status}: {message}"),
        }
    }
    Ok(body)
}

/// Percent-encodes a SKU for a path segment.
fn encode_segment(text: &str) -> String {
    text.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        out
    })
}

/// `omnistock stock` as a table.
pub fn render_stock(stock: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "SKU {}", stock["sku"].as_str().unwrap_or("?"));
    let _ = writeln!(
        out,
        "{:<20} {:<20} {:>8} {:>8} {:>7} {:>9}",
        "LOCATION", "OWNER", "ON HAND", "RESERVED", "SAFETY", "AVAILABLE"
    );
    if let Some(locations) = stock["locations"].as_object() {
        for (id, l) in locations {
            let number = |field: &str| {
                l[field]
                    .as_i64()
                    .map_or_else(|| "?".to_owned(), |n| n.to_string())
            };
            let _ = writeln!(
                out,
                "{:<20} {:<20} {:>8} {:>8} {:>7} {:>9}",
                id,
                l["owner"].as_str().unwrap_or("-"),
                number("on_hand"),
                number("reserved"),
                number("safety"),
                number("available")
            );
        }
    }
    if let Some(reservations) = stock["reservations"].as_array().filter(|r| !r.is_empty()) {
        let _ = writeln!(out, "\nRESERVATIONS");
        for r in reservations {
            let _ = writeln!(
                out,
                "  {} {} × {} at {}",
                r["key"].as_str().unwrap_or("?"),
                r["state"].as_str().unwrap_or("?"),
                r["quantity"],
                r["location"].as_str().unwrap_or("?")
            );
        }
    }
    if let Some(recent) = stock["recent"].as_array().filter(|r| !r.is_empty()) {
        let _ = writeln!(out, "\nRECENT CHANGES");
        for c in recent {
            let _ = writeln!(
                out,
                "  {} {:<16} {}",
                c["at"].as_str().unwrap_or("?"),
                c["channel"].as_str().unwrap_or("?"),
                c["summary"].as_str().unwrap_or("")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_encoded_for_the_path() {
        assert_eq!(encode_segment("TSHIRT-RED-M"), "TSHIRT-RED-M");
        assert_eq!(encode_segment("A/B C"), "A%2FB%20C");
    }
}
