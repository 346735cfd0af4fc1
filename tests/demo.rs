//! `omnistock demo` as a user runs it: it starts, prints the dashboard's URL, syncs its
//! channels, stops by itself after `--duration`, and refuses a directory holding something.

mod common;

use std::process::Command;

#[test]
fn the_demo_runs_for_its_duration_prints_its_url_and_stops_cleanly() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let state = dir.path().join("demo");
    let output = Command::new(common::binary())
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--skus",
            "20",
            "--rate",
            "20",
        ])
        .args(["--duration", "6", "--seed", "3", "--state-dir"])
        .arg(&state)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run omnistock demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Dashboard: http://127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("omnistock demo stopped."), "{stdout}");
    // What it ran is a real configuration, kept in the directory asked for.
    let config = std::fs::read_to_string(state.join("omnistock.toml")).expect("config written");
    for channel in [
        "shopify-online",
        "web-shop",
        "pos-north",
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
