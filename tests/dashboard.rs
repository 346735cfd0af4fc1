//! The dashboard in a real browser (headless Chromium through chromedriver), against a
//! running `omnistock demo`: the page loads without console errors, the channel table shows
//! every channel, a SKU search shows its locations, a sale appears in the live feed, and a
//! channel is paused and resumed from the page (asking for the admin token once).
//! A screenshot is kept at `target/artifacts/dashboard.png`.

mod common;
mod webdriver;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use omnistock::clock::Clock as _;
use omnistock_sdk::signature::sign_hex;
use serde_json::{Value, json};

/// Every channel the demo plays.
const CHANNELS: [&str; 6] = [
    "marketplace",
    "pos-south",
    "shopify-online",
    "square-north",
    "wms",
    "woo-shop",
];

/// A running `omnistock demo`; stopped when dropped.
struct Demo {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Demo {
    fn start() -> Demo {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut child = Command::new(common::binary())
            .args([
                "demo",
                "--listen",
                "127.0.0.1:0",
                "--skus",
                "40",
                "--rate",
                "4",
            ])
            .args(["--seed", "7", "--state-dir"])
            .arg(dir.path().join("demo"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start omnistock demo");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (found, url) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.trim().strip_prefix("Dashboard: ") {
                    let _ = found.send(url.trim_end_matches('/').to_owned());
                }
            }
        });
        match url.recv_timeout(Duration::from_secs(90)) {
            Ok(url) => Demo { child, url, dir },
            Err(_) => {
                let _ = child.kill();
                panic!("omnistock demo did not print its dashboard URL within 90 s");
            }
        }
    }

    /// A till sale at store-south, posted as the demo's generic POS would (signed with its secret).
    async fn till_sale(&self, sku: &str, id: &str) {
        let secret = std::fs::read_to_string(self.dir.path().join("demo/secrets/pos-south"))
            .expect("the POS's secret");
        let body = serde_json::to_vec(&json!({ "events": [common::event(
            id,
            // Now: a till sale older than the POS's last count would be inside that count.
            &omnistock::clock::SystemClock.now().to_rfc3339(),
            sku,
            json!({ "type": "adjusted", "location": "store-south", "by": -1, "reason": "browser test sale" }),
        )]}))
        .expect("serialize");
        let response = reqwest::Client::new()
            .post(format!("{}/v1/events", self.url))
            .header("x-omnistock-channel", "pos-south")
            .header(
                "x-omnistock-signature",
                format!("sha256={}", sign_hex(secret.trim().as_bytes(), &[&body])),
            )
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("post the sale");
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `read` until `done` holds of its answer, up to `seconds`; returns the last answer.
async fn until(
    seconds: u64,
    what: &str,
    mut read: impl AsyncFnMut() -> Value,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let value = read().await;
        if done(&value) {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last seen: {value}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn artifact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/artifacts")
        .join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_every_channel_a_skus_locations_and_live_sales() {
    webdriver::require_browser();
    let demo = Demo::start();
    let driver = webdriver::Driver::start().await;
    let profile = tempfile::tempdir().expect("browser profile");
    let browser = driver.session(profile.path()).await;
    browser.goto(&format!("{}/", demo.url)).await;

    // The channel table lists every channel.
    let channels = until(
        30,
        "the channel table",
        async || browser.script("return [...document.querySelectorAll('#channels tbody tr')].map(r => r.dataset.channel)").await,
        |names| names.as_array().is_some_and(|n| n.len() == CHANNELS.len()),
    )
    .await;
    assert_eq!(channels, json!(CHANNELS));
    until(
        30,
        "the live connection",
        async || {
            browser
                .script("return document.querySelector('#live').textContent")
                .await
        },
        |text| text == "live",
    )
    .await;

    // A SKU search shows its stock at every location.
    browser.type_into("#sku-input", "DEMO-0001").await;
    browser.click("#sku-form button").await;
    let locations = until(
        30,
        "DEMO-0001's locations",
        async || browser.script("return [...document.querySelectorAll('#sku-result tr.location')].map(r => r.dataset.location)").await,
        |l| l.as_array().is_some_and(|l| !l.is_empty()),
    )
    .await;
    assert_eq!(
        locations,
        json!(["store-north", "store-south", "warehouse"])
    );
    let shown = browser.script("return [...document.querySelectorAll('#sku-result tr.channel')].map(r => r.dataset.channel)").await;
    assert_eq!(
        shown,
        json!(CHANNELS),
        "what each channel shows for the SKU"
    );

    // The demo's own sales stream into the feed …
    until(
        30,
        "a demo sale in the live feed",
        async || browser.script("return [...document.querySelectorAll('#feed li.change')].map(li => li.textContent)").await,
        |items| {
            items.as_array().is_some_and(|items| {
                items.iter().filter_map(Value::as_str).any(|t| t.contains("till sale") || t.contains(" reserves "))
            })
        },
    )
    .await;
    // … and a sale made now appears within seconds.
    demo.till_sale("DEMO-0002", "browser-test-sale-1").await;
    until(
        20,
        "the test's sale in the live feed",
        async || browser.script("return [...document.querySelectorAll('#feed li.change')].map(li => li.textContent)").await,
        |items| {
            items.as_array().is_some_and(|items| {
                items.iter().filter_map(Value::as_str).any(|t| {
                    t.contains("pos-south") && t.contains("DEMO-0002") && t.contains("browser test sale")
                })
            })
        },
    )
    .await;

    browser.screenshot(&artifact("dashboard.png")).await;
    let errors: Vec<(String, String)> = browser
        .console()
        .await
        .into_iter()
        .filter(|(level, _)| level == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");

    pause_and_resume_from_the_page(&demo, &browser, "marketplace").await;
    browser.quit().await;
}

/// The row of `channel` in the channel table: (paused as the page shows it, its button).
fn row_script(channel: &str) -> String {
    format!(
        "const row = document.querySelector('#channels tr[data-channel=\"{channel}\"]'); \
         if (!row) return null; \
         const button = row.querySelector('button[data-action]'); \
         return {{ paused: row.dataset.paused, badge: row.querySelector('.badge').textContent, \
                   action: button ? button.dataset.action : null }};"
    )
}

/// Clicks `channel`'s pause/resume button. In the page (not through the driver): the table
/// is rebuilt every few seconds, and a driver's click could land on a row just replaced.
async fn click_control(browser: &webdriver::Session, channel: &str, action: &str) {
    let clicked = browser
        .script(&format!(
            "const b = document.querySelector('#channels tr[data-channel=\"{channel}\"] button[data-action=\"{action}\"]'); \
             if (b) b.click(); return Boolean(b);"
        ))
        .await;
    assert_eq!(clicked, json!(true), "{channel} has a {action} button");
}

async fn token_form_shown(browser: &webdriver::Session) -> bool {
    browser
        .script("return !document.querySelector('#token-form').hidden")
        .await
        == json!(true)
}

/// Pauses `channel` from the page (a wrong token first, which is refused and asked again),
/// sees it shown paused and the API agree, then resumes it without being asked again.
async fn pause_and_resume_from_the_page(demo: &Demo, browser: &webdriver::Session, channel: &str) {
    let api = common::Api::new(&demo.url);
    let paused_in_api = async || api.get("/v1/channels").await.1[channel]["paused"].clone();
    let token = std::fs::read_to_string(demo.dir.path().join("demo/secrets/admin-token"))
        .expect("the demo's admin token");

    click_control(browser, channel, "pause").await;
    until(
        20,
        "the page to ask for the token",
        async || json!(token_form_shown(browser).await),
        |v| v == true,
    )
    .await;
    browser.type_into("#token-input", "not-the-token").await;
    browser.click("#token-form button").await;
    let status = until(
        20,
        "the wrong token to be refused",
        async || {
            browser
                .script("return document.querySelector('#control-status').textContent")
                .await
        },
        |s| s.as_str().is_some_and(|s| s.contains("refused")),
    )
    .await;
    assert!(token_form_shown(browser).await, "asked again: {status}");
    assert_eq!(
        paused_in_api().await,
        false,
        "a refused token pauses nothing"
    );

    browser.type_into("#token-input", token.trim()).await;
    browser.click("#token-form button").await;
    until(20, "the API to say it is paused", paused_in_api, |p| {
        p == true
    })
    .await;
    let row = until(
        20,
        "the page to show it paused",
        async || browser.script(&row_script(channel)).await,
        |r| r["paused"] == "true" && r["badge"] == "paused" && r["action"] == "resume",
    )
    .await;
    assert_eq!(row["paused"], "true");
    browser.screenshot(&artifact("dashboard-paused.png")).await;
    let kept = browser
        .script("return sessionStorage.getItem('omnistock.adminToken')")
        .await;
    assert_eq!(kept, json!(token.trim()), "the token is kept for this tab");

    // Resuming does not ask again.
    click_control(browser, channel, "resume").await;
    until(20, "the API to say it is resumed", paused_in_api, |p| {
        p == false
    })
    .await;
    until(
        20,
        "the page to show it resumed",
        async || browser.script(&row_script(channel)).await,
        |r| r["paused"] == "false" && r["action"] == "pause",
    )
    .await;
    assert!(
        !token_form_shown(browser).await,
        "the token was not asked again"
    );

    // The only console error is the browser's note of the refused token's 401.
    let errors: Vec<(String, String)> = browser
        .console()
        .await
        .into_iter()
        .filter(|(level, message)| level == "SEVERE" && !message.contains("401"))
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}
