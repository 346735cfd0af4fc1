//! Runs the real `omnistock` binary for whole-process tests: a config in a temporary
//! directory, an ephemeral loopback port read back from the log, signed requests.

#![allow(dead_code)] // Each test binary uses a different part of this harness.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use omnistock_sdk::signature::sign_hex;
use serde_json::{Value, json};

pub mod config;
pub mod fakes;

pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const POS_SECRET: &str = "pos-secret";
pub const WMS_SECRET: &str = "wms-secret";
pub const WEB_SECRET: &str = "web-secret";

/// Two locations (a store counted by `pos`, a warehouse counted by `wms`) and a web shop
/// selling from both with a buffer of 1.
pub const CONFIG: &str = r#"
node_id = "test-node"
listen = "127.0.0.1:0"
state_dir = "state"

[api]
admin_token = { env = "OMNISTOCK_TEST_ADMIN_TOKEN" }
max_body_bytes = 65536

[locations.store]
owner = "pos"
safety = 0

[locations.wh]
owner = "wms"
safety = 0

[channels.pos]
kind = "generic"
webhook_secret = { env = "OMNISTOCK_TEST_POS_SECRET" }
sells_from = ["store"]

[channels.wms]
kind = "generic"
webhook_secret = { env = "OMNISTOCK_TEST_WMS_SECRET" }
sells_from = ["wh"]

[channels.web]
kind = "generic"
webhook_secret = { env = "OMNISTOCK_TEST_WEB_SECRET" }
sells_from = ["store", "wh"]
buffer = 1
"#;

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_omnistock")
}

/// The environment the daemon's config reads its secrets from.
/// Runs `omnistock connect CHANNEL --config CONFIG` with the test secrets and `env`, on a
/// blocking thread (the fakes it talks to are served by the test's runtime). Whether it
/// succeeded, its stdout and its stderr.
pub async fn connect(channel: &str, config: &Path, env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = Command::new(binary());
    command
        .args(["connect", channel, "--config"])
        .arg(config)
        .envs(env.iter().copied());
    secrets_env(&mut command);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run omnistock connect");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub fn secrets_env(command: &mut Command) -> &mut Command {
    command
        .env("OMNISTOCK_TEST_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("OMNISTOCK_TEST_POS_SECRET", POS_SECRET)
        .env("OMNISTOCK_TEST_WMS_SECRET", WMS_SECRET)
        .env("OMNISTOCK_TEST_WEB_SECRET", WEB_SECRET)
        .env("RUST_LOG", "info")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
}

/// A directory holding a config file (and, once started, the store).
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Site {
    pub fn new() -> Self {
        Self::with_config(CONFIG)
    }

    pub fn with_config(config: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("omnistock.toml"), config).expect("write config");
        Self { dir }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("omnistock.toml")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn start(&self) -> Daemon {
        Daemon::start(&self.config_path(), &[])
    }

    /// Starts the daemon with more environment variables (a channel's secrets).
    pub fn start_with_env(&self, env: &[(&str, &str)]) -> Daemon {
        Daemon::start(&self.config_path(), env)
    }
}

/// A running daemon; killed when dropped.
pub struct Daemon {
    child: Child,
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut command = Command::new(binary());
        command.arg("run").arg("--config").arg(config);
        // After the defaults, so that a test may set what they remove (`NOTIFY_SOCKET`).
        secrets_env(&mut command);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start omnistock");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (found, address) = mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                    let _ = found.send(addr);
                }
                lines.lock().expect("log lock").push(line);
            }
        });
        match address.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => Daemon {
                child,
                url: format!("http://{addr}"),
                log,
            },
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "omnistock did not start listening; log:\n{}",
                    log.lock().expect("log lock").join("\n")
                );
            }
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no drain, no flush.
    pub fn kill_9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends a signal by name (TERM, HUP) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit, up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Waits until the log contains `text`, up to `timeout`.
    pub fn wait_for_log(&self, text: &str, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if self.log().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An event in the generic connector's wire form.
pub fn event(id: &str, at: &str, sku: &str, change: Value) -> Value {
    json!({ "id": id, "occurred_at": at, "sku": sku, "change": change })
}

pub fn adjusted(location: &str, by: i64) -> Value {
    json!({ "type": "adjusted", "location": location, "by": by })
}

pub fn counted(location: &str, quantity: i64) -> Value {
    json!({ "type": "level_observed", "location": location, "quantity": quantity })
}

pub fn opened(order: &str, location: &str, quantity: u32) -> Value {
    json!({ "type": "order_line_opened", "order": order, "line": "1", "location": location, "quantity": quantity })
}

pub fn fulfilled(order: &str) -> Value {
    json!({ "type": "order_line_fulfilled", "order": order, "line": "1" })
}

pub fn cancelled(order: &str) -> Value {
    json!({ "type": "order_line_cancelled", "order": order, "line": "1" })
}

/// A client of one daemon's API.
#[derive(Clone)]
pub struct Api {
    pub url: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Self {
            url: url.to_owned(),
            http,
        }
    }

    /// Posts raw bytes to `/v1/events` as `channel`, signed with `secret`.
    pub async fn post_raw(
        &self,
        channel: &str,
        secret: &str,
        body: Vec<u8>,
    ) -> reqwest::Result<(u16, Value)> {
        let signature = format!("sha256={}", sign_hex(secret.as_bytes(), &[&body]));
        let response = self
            .http
            .post(format!("{}/v1/events", self.url))
            .header("x-omnistock-channel", channel)
            .header("x-omnistock-signature", signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Posts events to `/v1/events` as `channel`, correctly signed.
    pub async fn post_events(
        &self,
        channel: &str,
        secret: &str,
        events: Vec<Value>,
    ) -> reqwest::Result<(u16, Value)> {
        let body = serde_json::to_vec(&json!({ "events": events })).expect("serialize");
        self.post_raw(channel, secret, body).await
    }

    /// Posts events as `channel` and expects them taken (HTTP 200); the answer.
    pub async fn post_ok(&self, channel: &str, secret: &str, events: Vec<Value>) -> Value {
        let (status, answer) = self
            .post_events(channel, secret, events)
            .await
            .expect("post");
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// Delivers a webhook to `/v1/webhooks/{channel}` as its platform would.
    pub async fn webhook(
        &self,
        channel: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/v1/webhooks/{channel}", self.url))
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request.send().await.expect("deliver");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// On hand at `location` for `sku`, 0 for a SKU the daemon does not know.
    pub async fn on_hand(&self, sku: &str, location: &str) -> i64 {
        let (status, stock) = self.get(&format!("/v1/stock/{sku}")).await;
        match status {
            200 => stock["locations"][location]["on_hand"]
                .as_i64()
                .expect("on_hand is a number"),
            404 => 0,
            other => panic!("GET /v1/stock/{sku}: HTTP {other}: {stock}"),
        }
    }
}

/// How long a test that waits out a rise's grace (10 s: a pusher leaves an unexplained
/// rise alone that long before correcting it as drift) gives the rest of the work: the
/// grace alone ate half of `eventually`'s 20 s, which a loaded CI machine overran.
pub const PAST_RISE_GRACE: Duration = Duration::from_secs(45);

/// Waits until `check` holds, up to 20 s (a slow CI machine), polling.
pub async fn eventually(what: &str, check: impl FnMut() -> bool) {
    eventually_within(Duration::from_secs(20), what, check).await;
}

/// [`eventually`] with a deadline of `limit`.
pub async fn eventually_within(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}
