//! The command line and the process's life: check-config, stock/adjust against a running
//! daemon, stores that cannot be opened, SIGTERM and SIGHUP.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{ADMIN_TOKEN, Api, CONFIG, POS_SECRET, Site, binary, counted, event, secrets_env};

fn run(args: &[&str]) -> (i32, String, String) {
    let output = secrets_env(&mut Command::new(binary()))
        .args(args)
        .output()
        .expect("run omnistock");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_config_prints_what_it_understood() {
    let site = Site::new();
    let (code, out, err) = run(&["check-config", &site.config_path().to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    for expected in [
        "store",
        "owner",
        "pos",
        "web",
        "pooled",
        "env OMNISTOCK_TEST_POS_SECRET",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(!out.contains(POS_SECRET), "a secret was printed:\n{out}");
}

#[test]
fn check_config_names_file_line_and_field_and_exits_78() {
    let site =
        Site::with_config(&CONFIG.replace("sells_from = [\"wh\"]", "sells_from = [\"wh-9\"]"));
    let path = site.config_path();
    let (code, _, err) = run(&["check-config", &path.to_string_lossy()]);
    assert_eq!(code, 78, "{err}");
    let line = CONFIG
        .lines()
        .position(|l| l.contains("sells_from = [\"wh\"]"))
        .expect("line")
        + 1;
    let expected = format!(
        "{}:{line}: channels.wms.sells_from[0]: unknown location \"wh-9\"",
        path.display()
    );
    assert!(err.contains(&expected), "expected {expected:?} in:\n{err}");

    let (code, _, err) = run(&["run", "--config", &path.to_string_lossy()]);
    assert_eq!(code, 78, "run refuses the same file: {err}");
}

#[test]
fn help_explains_every_command() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for command in ["run", "check-config", "stock", "adjust"] {
        assert!(out.contains(command), "{out}");
    }
    let (_, out, _) = run(&["adjust", "--help"]);
    assert!(
        out.contains("--location") && out.contains("--reason") && out.contains("negative"),
        "{out}"
    );
}

#[test]
fn stock_and_adjust_talk_to_a_running_daemon() {
    let site = Site::new();
    let daemon = site.start();
    let url = daemon.url.clone();
    let (code, out, err) = run(&[
        "adjust",
        "LAMP",
        "--location",
        "store",
        "--by",
        "-2",
        "--reason",
        "broken",
        "--url",
        &url,
        "--token",
        ADMIN_TOKEN,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("accepted") && out.contains("On hand -2"),
        "{out}"
    );
    let (code, out, err) = run(&["stock", "LAMP", "--url", &url]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("store") && out.contains("adjusted -2 at store (broken)"),
        "{out}"
    );

    let (code, _, err) = run(&[
        "adjust",
        "LAMP",
        "--location",
        "mars",
        "--by",
        "1",
        "--reason",
        "x",
        "--url",
        &url,
        "--token",
        ADMIN_TOKEN,
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("HTTP 400") && err.contains("location") && err.contains("mars"),
        "{err}"
    );
    let (code, _, err) = run(&["stock", "NOPE", "--url", &url]);
    assert_eq!(code, 1);
    assert!(err.contains("no stock is known for SKU \"NOPE\""), "{err}");
    drop(daemon);
    let (code, _, err) = run(&["stock", "LAMP", "--url", &url]);
    assert_eq!(code, 1);
    assert!(err.contains("is omnistock running there?"), "{err}");
}

#[test]
fn a_store_that_cannot_be_opened_is_reported_not_reset() {
    // The state directory is a regular file.
    let site = Site::new();
    std::fs::write(site.state_dir(), b"not a directory").expect("write");
    let (code, _, err) = run(&["run", "--config", &site.config_path().to_string_lossy()]);
    assert_ne!(code, 0);
    assert!(
        err.contains(&site.state_dir().display().to_string()),
        "the message names the path:\n{err}"
    );

    // A store whose files are garbage.
    let site = Site::new();
    drop(site.start());
    let mut damaged = 0;
    for entry in walk(&site.state_dir()) {
        std::fs::write(&entry, vec![0xA5; 4096]).expect("overwrite");
        damaged += 1;
    }
    assert!(damaged > 0, "the store has files");
    let (code, _, err) = run(&["run", "--config", &site.config_path().to_string_lossy()]);
    assert_ne!(code, 0, "a corrupt store must not start: {err}");
    assert!(
        err.contains(&site.state_dir().display().to_string()),
        "the message names the path:\n{err}"
    );
    assert!(
        !err.contains("panicked"),
        "a clear error, not a panic:\n{err}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn a_store_in_use_by_another_daemon_is_refused() {
    let site = Site::new();
    let _first = site.start();
    let (code, _, err) = run(&["run", "--config", &site.config_path().to_string_lossy()]);
    assert_ne!(code, 0);
    assert!(err.contains("in use"), "{err}");
}

#[tokio::test]
async fn sigterm_drains_and_keeps_acknowledged_events() {
    let site = Site::new();
    let mut daemon = site.start();
    let api = Api::new(&daemon.url);
    let (status, _) = api
        .post_events(
            "pos",
            POS_SECRET,
            vec![event(
                "t1",
                "2026-11-23T09:00:00Z",
                "MUG",
                counted("store", 4),
            )],
        )
        .await
        .expect("post");
    assert_eq!(status, 200);
    daemon.signal("TERM");
    let exit = daemon
        .wait_exit(Duration::from_secs(30))
        .expect("exits after SIGTERM");
    assert!(exit.success(), "{exit:?}\n{}", daemon.log());
    assert!(daemon.log().contains("Stopped."), "{}", daemon.log());

    let daemon = site.start();
    assert_eq!(Api::new(&daemon.url).on_hand("MUG", "store").await, 4);
}

#[tokio::test]
async fn sighup_reloads_live_settings_and_refuses_restart_only_ones() {
    let site = Site::new();
    let daemon = site.start();
    let api = Api::new(&daemon.url);
    api.post_events(
        "pos",
        POS_SECRET,
        vec![event(
            "h1",
            "2026-11-23T09:00:00Z",
            "MUG",
            counted("store", 10),
        )],
    )
    .await
    .expect("post");
    assert_eq!(
        api.get("/v1/availability/MUG").await.1["channels"]["web"]["available"],
        9
    );

    // A live change: the web shop's buffer.
    std::fs::write(
        site.config_path(),
        CONFIG.replace("buffer = 1", "buffer = 4"),
    )
    .expect("write");
    daemon.signal("HUP");
    assert!(
        daemon.wait_for_log("Configuration reloaded.", Duration::from_secs(10)),
        "{}",
        daemon.log()
    );
    assert_eq!(
        api.get("/v1/availability/MUG").await.1["channels"]["web"]["available"],
        6
    );

    // A restart-only change is refused whole, and said so.
    let moved = CONFIG
        .replace("buffer = 1", "buffer = 0")
        .replace("node_id = \"test-node\"", "node_id = \"other\"");
    std::fs::write(site.config_path(), moved).expect("write");
    daemon.signal("HUP");
    assert!(
        daemon.wait_for_log("need a restart", Duration::from_secs(10)),
        "{}",
        daemon.log()
    );
    assert!(daemon.log().contains("node_id"), "{}", daemon.log());
    assert_eq!(
        api.get("/v1/availability/MUG").await.1["channels"]["web"]["available"],
        6,
        "nothing was applied"
    );

    // A broken file is refused too; the daemon keeps running.
    std::fs::write(site.config_path(), "node_id = ").expect("write");
    daemon.signal("HUP");
    assert!(
        daemon.wait_for_log(
            "not reloaded; the running one stays",
            Duration::from_secs(10)
        ),
        "{}",
        daemon.log()
    );
    assert_eq!(api.get("/healthz").await.0, 200);
}
