//! `omnistock demo` as a user runs it: it starts, prints the dashboard's URL, pushes to its
//! channels, stops by itself after `--duration`, and refuses a directory holding something.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_syncs_its_channels_and_stops_by_itself_after_its_duration() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let state = dir.path().join("demo");
    let mut child = Command::new(common::binary())
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--skus",
            "20",
            "--rate",
            "20",
        ])
        .args(["--duration", "45", "--seed", "3", "--state-dir"])
        .arg(&state)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run omnistock demo");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut printed = String::new();
    let url = loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = child.kill();
            panic!("the demo ended before printing its URL:\n{printed}");
        }
        printed.push_str(&line);
        if let Some(url) = line.trim().strip_prefix("Dashboard: ") {
            break url.trim_end_matches('/').to_owned();
        }
    };

    // The online channels get their numbers, through the failures the demo injects.
    let api = common::Api::new(&url);
    let mut channels = serde_json::Value::Null;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        channels = api.get("/v1/channels").await.1;
        let pushed = |c: &str| channels[c]["pushed"].as_u64().unwrap_or(0);
        if ["shopify-online", "woo-shop", "marketplace"]
            .iter()
            .all(|c| pushed(c) > 0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for channel in ["shopify-online", "woo-shop", "marketplace"] {
        assert!(channels[channel]["pushed"].as_u64() > Some(0), "{channels}");
    }
    // Square owns its store: it is pushed only the holds of orders against it.
    assert_eq!(channels["square-north"]["pushing"], true, "{channels}");
    for channel in ["pos-south", "wms"] {
        assert_eq!(channels[channel]["pushing"], false, "{channels}");
    }
    assert_eq!(channels["wms"]["kind"], "shiphero", "{channels}");

    // The warehouse is ShipHero: its `Shipment Update` webhooks close the online orders of
    // the shops it ships for.
    let shipped = shipped_lines(&api, 20, Duration::from_secs(25)).await;
    assert!(
        !shipped.is_empty(),
        "no online order line was fulfilled by a ShipHero shipment"
    );
    for key in &shipped {
        assert!(
            ["shopify-online/", "woo-shop/", "marketplace/"]
                .iter()
                .any(|shop| key.starts_with(shop)),
            "{key}"
        );
    }

    let status = child.wait().expect("the demo exits");
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    assert!(status.success(), "{printed}{rest}");
    assert!(rest.contains("omnistock demo stopped."), "{rest}");
    // What it ran is a real configuration, kept in the directory asked for.
    let config = std::fs::read_to_string(state.join("omnistock.toml")).expect("config written");
    for channel in [
        "shopify-online",
        "woo-shop",
        "marketplace",
        "square-north",
        "pos-south",
        "wms",
    ] {
        assert!(
            config.contains(&format!("[channels.{channel}]")),
            "{config}"
        );
    }
    assert!(
        state.join("state").is_dir(),
        "the store is in the directory"
    );
}

/// The keys of the fulfilled order lines of the demo's first `skus` SKUs, polled until some
/// are found or `within` passes.
async fn shipped_lines(api: &common::Api, skus: usize, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let mut shipped = Vec::new();
        for n in 1..=skus {
            let stock = api.get(&format!("/v1/stock/DEMO-{n:04}")).await.1;
            for line in stock["reservations"].as_array().into_iter().flatten() {
                if line["state"] == "fulfilled"
                    && let Some(key) = line["key"].as_str()
                {
                    shipped.push(key.to_owned());
                }
            }
        }
        if !shipped.is_empty() || Instant::now() > deadline {
            return shipped;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[test]
fn the_demo_refuses_a_directory_that_is_not_empty() {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("precious.txt"), "keep me").expect("write");
    let output = Command::new(common::binary())
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--duration",
            "1",
            "--state-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("run omnistock demo");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("precious.txt"))
            .ok()
            .as_deref(),
        Some("keep me")
    );
}

/// A machine with only the repository has no Square spec beside it
/// (`../shared/api/square-openapi.json`): the demo runs anyway, its simulated Square serving
/// without checking requests against the spec, and says so.
#[test]
fn the_demo_runs_without_squares_spec_beside_the_repository() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let output = Command::new(common::binary())
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--skus",
            "5",
            "--rate",
            "5",
        ])
        .args(["--duration", "3", "--seed", "1", "--state-dir"])
        .arg(dir.path().join("demo"))
        .env("RUST_LOG", "warn")
        .env(
            "OMNISTOCK_SQUARE_OPENAPI",
            dir.path().join("no-spec-here.json"),
        )
        .output()
        .expect("run omnistock demo");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Dashboard: "), "{stdout}");
    assert!(stdout.contains("omnistock demo stopped."), "{stdout}");
    assert!(
        stdout.contains("the simulated Square does not check"),
        "it says so: {stdout}"
    );
}
