//! A full disk under the store: events are refused with a clear 503, the daemon says it is
//! not ready, and once there is room again and it restarts, every event counts exactly once
//! (acknowledged ones kept, refused ones accepted when their sender retries them).
//!
//! The disk is a small tmpfs mounted on the state dir, which needs root (CI runs as root);
//! run by another user, the test says so and does nothing; run by root, a failed mount
//! fails it. systemd's side is a datagram socket the
//! daemon is told to notify (`NOTIFY_SOCKET`, `WATCHDOG_USEC`), as systemd does.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Api, POS_SECRET, Site, adjusted, event};

const SKUS: usize = 20;
const EVENTS_PER_REQUEST: usize = 100;
/// Small enough to fill in seconds: the log's first segment alone takes 16 MiB.
const DISK: &str = "size=24m";
/// More than enough to fill it; a store that never reports a full disk fails the test.
const MAX_REQUESTS: usize = 5_000;

fn sku(i: usize) -> String {
    format!("FULL-{}", i % SKUS)
}

/// Events `first..first + EVENTS_PER_REQUEST`, each adding one unit of its SKU at the store.
fn request(first: usize) -> Vec<serde_json::Value> {
    (first..first + EVENTS_PER_REQUEST)
        .map(|i| {
            event(
                &format!("full-{i}"),
                "2026-12-07T10:00:00Z",
                &sku(i),
                adjusted("store", 1),
            )
        })
        .collect()
}

/// A tmpfs mounted on a directory for the test's life.
struct Mounted(PathBuf);

impl Mounted {
    fn tmpfs(dir: &Path, options: &str) -> Mounted {
        std::fs::create_dir_all(dir).expect("create the mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs on {} failed",
            dir.display()
        );
        Mounted(dir.to_path_buf())
    }

    fn resize(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0)
            .status()
            .expect("run mount");
        assert!(status.success(), "remounting {} failed", self.0.display());
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The messages the daemon sent to its notify socket since the last call.
fn notifications(socket: &UnixDatagram) -> Vec<String> {
    let mut messages = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(len) = socket.recv(&mut buffer) {
        messages.push(String::from_utf8_lossy(&buffer[..len]).into_owned());
    }
    messages
}

/// Waits until the daemon pings the watchdog, for up to a minute.
async fn wait_for_watchdog_ping(socket: &UnixDatagram) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if notifications(socket)
            .iter()
            .any(|m| m.contains("WATCHDOG=1"))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the daemon never pinged the watchdog");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_events_clearly_and_loses_or_doubles_none() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let site = Site::new();
    let disk = Mounted::tmpfs(&site.state_dir(), DISK);
    let socket_path = site.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    socket.set_nonblocking(true).expect("nonblocking");
    let notify_socket = socket_path.to_str().expect("UTF-8 path");
    // A ping every half second.
    let daemon = site.start_with_env(&[
        ("NOTIFY_SOCKET", notify_socket),
        ("WATCHDOG_USEC", "1000000"),
    ]);
    let api = Api::new(&daemon.url);
    wait_for_watchdog_ping(&socket).await;

    // Fill the disk: requests go one after another until one is refused.
    let mut acknowledged = 0;
    let mut refused = Vec::new();
    let mut messages = Vec::new();
    for n in 0..MAX_REQUESTS {
        let first = n * EVENTS_PER_REQUEST;
        match api.post_events("pos", POS_SECRET, request(first)).await {
            Ok((200, _)) => acknowledged += EVENTS_PER_REQUEST,
            Ok((503, body)) => {
                assert_eq!(body["error"]["code"], "unavailable", "{body}");
                messages.push(body["error"]["message"].as_str().unwrap_or("").to_owned());
                refused.push(first);
                if refused.len() == 5 {
                    break;
                }
            }
            other => panic!("request {n}: unexpected answer {other:?}"),
        }
    }
    assert!(
        !refused.is_empty(),
        "{MAX_REQUESTS} requests of {EVENTS_PER_REQUEST} events never filled a {DISK} disk"
    );
    assert!(acknowledged > 0, "the disk was full before the first event");
    // Each answer says what happened and that the sender should retry: no event was taken.
    for message in &messages {
        assert!(message.contains("nothing was acknowledged"), "{message}");
    }
    assert!(
        messages
            .iter()
            .any(|m| m.contains("No space left on device")),
        "no answer names the full disk: {messages:#?}"
    );
    // A load balancer stops sending here, and systemd's watchdog restarts the daemon.
    let (status, body) = api.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    let reason = body["error"]["message"].as_str().unwrap_or("");
    assert!(reason.contains("the store refuses commits"), "{reason}");
    assert!(
        daemon.wait_for_log("Withholding the watchdog ping", Duration::from_secs(30)),
        "{}",
        daemon.log()
    );
    // A ping decided before the refusal may still arrive; none after.
    tokio::time::sleep(Duration::from_secs(1)).await;
    notifications(&socket);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let late = notifications(&socket);
    assert!(
        !late.iter().any(|m| m.contains("WATCHDOG=1")),
        "the watchdog was pinged while the store refused commits: {late:?}"
    );

    // Room again, and a restart (what the watchdog brings): acknowledged events are all
    // there once; the refused requests, sent again, count once too.
    disk.resize("size=256m");
    daemon.kill_9();
    let daemon = site.start();
    let api = Api::new(&daemon.url);
    for &first in &refused {
        let (status, body) = api
            .post_events("pos", POS_SECRET, request(first))
            .await
            .expect("the daemon answers");
        assert_eq!(status, 200, "retrying a refused request: {body}");
    }
    let mut on_hand = 0;
    for i in 0..SKUS {
        on_hand += api.on_hand(&sku(i), "store").await;
    }
    let expected = acknowledged + refused.len() * EVENTS_PER_REQUEST;
    assert_eq!(
        on_hand,
        i64::try_from(expected).expect("fits"),
        "{acknowledged} acknowledged and {} refused-then-retried events",
        refused.len() * EVENTS_PER_REQUEST
    );
    let (status, body) = api.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
}
