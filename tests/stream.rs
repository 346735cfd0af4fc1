//! `GET /v1/events/stream` on the real daemon: a posted event arrives as a `change` and the
//! channels' new numbers as `availability`, filtered by SKU, and a stop ends the stream.

mod common;

use std::time::Duration;

use common::{POS_SECRET, Site, counted, event};
use serde_json::Value;

/// Reads SSE frames from `response` until `done` says so or 20 s pass; returns the
/// (event, data) pairs read.
async fn read_events(
    response: &mut reqwest::Response,
    mut done: impl FnMut(&[(String, Value)]) -> bool,
) -> Vec<(String, Value)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let (mut buffer, mut events) = (String::new(), Vec::new());
    while !done(&events) {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("the stream sends what was asked for within 20 s")
            .expect("the stream reads");
        let Some(chunk) = chunk else { break };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| {
                frame
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
            };
            if let (Some(name), Some(data)) = (field("event:"), field("data:")) {
                let data = serde_json::from_str(&data).expect("data is JSON");
                events.push((name, data));
            }
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posted_event_streams_as_a_change_and_new_numbers_filtered_by_sku() {
    let site = Site::new();
    let mut daemon = site.start();
    let api = common::Api::new(&daemon.url);
    let mut response = api
        .http
        .get(format!("{}/v1/events/stream?sku=MUG", daemon.url))
        .send()
        .await
        .expect("open the stream");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().ok(),
        Some("text/event-stream")
    );

    let events = vec![
        event("p1", "2026-11-23T09:00:00Z", "CAP", counted("store", 3)),
        event("p2", "2026-11-23T09:00:00Z", "MUG", counted("store", 7)),
    ];
    let (status, answer) = api
        .post_events("pos", POS_SECRET, events)
        .await
        .expect("post");
    assert_eq!(status, 200, "{answer}");

    let seen = read_events(&mut response, |seen| {
        seen.iter()
            .filter(|(name, _)| name == "availability")
            .count()
            == 2
    })
    .await;
    assert!(
        seen.iter().all(|(_, data)| data["sku"] == "MUG"),
        "only MUG: {seen:?}"
    );
    let (name, change) = &seen[0];
    assert_eq!(name, "change");
    assert_eq!(change["channel"], "pos");
    assert_eq!(change["kind"], "level_observed");
    assert_eq!(change["summary"], "counted 7 at store");
    // The store's 7 reach the POS and the web shop (which keeps a buffer of 1), in channel
    // order (the warehouse channel's 0 comes after).
    let numbers: Vec<(&str, i64)> = seen[1..]
        .iter()
        .map(|(_, d)| {
            (
                d["channel"].as_str().unwrap_or("?"),
                d["available"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(numbers, [("pos", 7), ("web", 6)], "{seen:?}");

    // A stop ends the stream instead of waiting on it.
    daemon.signal("TERM");
    let status = daemon
        .wait_exit(Duration::from_secs(15))
        .expect("the daemon stops while a stream is open");
    assert!(status.success());
    let rest = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(_)) = response.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the stream ended with the daemon");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_filter_is_refused_with_the_one_error_shape() {
    let site = Site::new();
    let daemon = site.start();
    let api = common::Api::new(&daemon.url);
    let (status, answer) = api.get("/v1/events/stream?type=sales").await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["field"], "type", "{answer}");
    let (status, answer) = api.get("/v1/events/stream?skew=MUG").await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["code"], "malformed", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("skew")),
        "{answer}"
    );
}
