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
        self.get(&format!("/v1/stock/{}", encode_segment(sku)))
            .await
    }

    /// `GET` any read endpoint.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
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
        let body = json!({
            "id": format!("cli-{}", uuid::Uuid::new_v4()),
            "sku": sku, "location": location, "by": by, "reason": reason,
        });
        self.admin(reqwest::Method::POST, "/v1/adjustments", token, Some(body))
            .await
    }

    /// An admin call: `method path` with the bearer token.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
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

/// Percent-encodes a SKU (or any name) for a path segment or query value.
pub fn encode_segment(text: &str) -> String {
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

/// `omnistock status` as a table.
pub fn render_channels(channels: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20} {:<8} {:<8} {:<10} {:>7} {:>6} {:>7}  {:<34} LAST ERROR",
        "CHANNEL", "KIND", "PUSHING", "STATE", "OUTBOX", "DEAD", "PUSHED", "RECONCILIATION"
    );
    for (name, c) in channels.as_object().into_iter().flatten() {
        let pushing = c["pushing"].as_bool().unwrap_or(false);
        let state = match (pushing, c["paused"].as_bool(), c["healthy"].as_bool()) {
            (false, _, _) => "-",
            (true, Some(true), _) => "paused",
            (true, _, Some(false)) => "UNHEALTHY",
            (true, _, _) => "ok",
        };
        let _ = writeln!(
            out,
            "{:<20} {:<8} {:<8} {:<10} {:>7} {:>6} {:>7}  {:<34} {}",
            name,
            c["kind"].as_str().unwrap_or("?"),
            if pushing { "yes" } else { "no" },
            state,
            c["outbox"].as_u64().unwrap_or(0),
            c["dead_letters"].as_u64().unwrap_or(0),
            c["pushed"].as_u64().unwrap_or(0),
            reconciliation(&c["reconciliation"]),
            c["last_error"].as_str().unwrap_or("")
        );
    }
    out
}

/// A channel's reconciliation in a few words: its progress while it runs, else when it
/// last finished and what it found.
fn reconciliation(r: &Value) -> String {
    let levels = r["levels"].as_u64().unwrap_or(0);
    let differences = r["differences"].as_u64().unwrap_or(0);
    if r["running"].as_bool() == Some(true) {
        let rate = r["per_second"].as_f64().unwrap_or(0.0);
        let eta = r["eta_seconds"]
            .as_u64()
            .map_or(String::new(), |s| format!(", ETA {s}s"));
        return format!("listing: {levels} levels, {rate:.0}/s{eta}");
    }
    match r["last_finished"].as_str() {
        Some(at) => format!("{at}: {differences} diff"),
        None => "-".to_owned(),
    }
}

/// `omnistock explain` as text: the stock, then why each channel shows what it shows.
pub fn render_explain(explained: &Value) -> String {
    let mut out = render_stock(explained);
    for (name, c) in explained["channels"].as_object().into_iter().flatten() {
        let locations: Vec<&str> = c["locations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let _ = writeln!(out, "\nCHANNEL {name}");
        let _ = writeln!(
            out,
            "  should show {}: {} over {} minus buffer {}",
            c["number"],
            c["policy"].as_str().unwrap_or("?"),
            locations.join(" + "),
            c["buffer"]
        );
        if !c["pushing"].as_bool().unwrap_or(false) {
            let _ = writeln!(out, "  omnistock does not push to it (no push side)");
            continue;
        }
        match c["published"]["quantity"].as_i64() {
            Some(q) => {
                let _ = writeln!(
                    out,
                    "  published {q} at {}",
                    c["published"]["at"].as_str().unwrap_or("?")
                );
            }
            None => {
                let _ = writeln!(out, "  never pushed yet");
            }
        }
        for p in c["pending"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "  waiting in the outbox: #{} target {} since {}",
                p["id"],
                p["target"],
                p["created_at"].as_str().unwrap_or("?")
            );
        }
        for d in c["dead_letters"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "  dead letter {}", d.as_str().unwrap_or("?"));
        }
        for p in c["pushes"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "  {} read {}, published {}, target {} → set {}: {}",
                p["at"].as_str().unwrap_or("?"),
                p["read"],
                p["published"],
                p["target"],
                p["value"],
                p["outcome"].as_str().unwrap_or("?")
            );
        }
    }
    out
}

/// `omnistock deadletter list` as a table.
pub fn render_dead_letters(letters: &Value) -> String {
    let mut out = String::new();
    let items = letters.as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return "No dead letters.\n".to_owned();
    }
    let _ = writeln!(
        out,
        "{:<20} {:>6} {:<20} {:>7}  {:<24}  REASON",
        "CHANNEL", "ID", "SKU", "TARGET", "AT"
    );
    for d in items {
        let _ = writeln!(
            out,
            "{:<20} {:>6} {:<20} {:>7}  {:<24}  {}",
            d["channel"].as_str().unwrap_or("?"),
            d["id"].as_u64().unwrap_or(0),
            d["sku"].as_str().unwrap_or("?"),
            d["target"].as_i64().unwrap_or(0),
            d["at"].as_str().unwrap_or("?"),
            d["reason"].as_str().unwrap_or("")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_shows_reconciliation_progress_and_its_last_result() {
        let channels = serde_json::json!({
            "shopify-main": {"kind": "shopify", "pushing": true, "healthy": true,
                "reconciliation": {"running": true, "levels": 1200, "per_second": 300.0,
                    "eta_seconds": 4, "differences": 2}},
            "web": {"kind": "generic", "pushing": true, "healthy": true,
                "reconciliation": {"running": false, "levels": 10, "differences": 1,
                    "last_finished": "2026-11-23T10:00:00Z"}},
        });
        let table = render_channels(&channels);
        assert!(
            table.contains("listing: 1200 levels, 300/s, ETA 4s"),
            "{table}"
        );
        assert!(table.contains("2026-11-23T10:00:00Z: 1 diff"), "{table}");
    }

    #[test]
    fn skus_are_encoded_for_the_path() {
        assert_eq!(encode_segment("TSHIRT-RED-M"), "TSHIRT-RED-M");
        assert_eq!(encode_segment("A/B C"), "A%2FB%20C");
    }
}
