//! `GET /v1/events/stream` on the real daemon: a posted event arrives as a `change` and the
//! channels' new numbers as `availability`, filtered by SKU; a client that reconnects with
//! `Last-Event-ID` gets exactly what it missed, or `reset` when that is no longer kept; a
//! stop ends the stream.

mod common;

use std::time::Duration;

use common::{POS_SECRET, Site, counted, event};
use serde_json::Value;

/// One SSE event as read off the wire.
#[derive(Clone, Debug, PartialEq)]
struct Frame {
    name: String,
    id: Option<String>,
    data: Value,
}

/// Reads SSE frames from `response` until `done` says so or 20 s pass; returns the frames
/// read (comments and frames without data left out).
async fn read_events(
    response: &mut reqwest::Response,
    mut done: impl FnMut(&[Frame]) -> bool,
) -> Vec<Frame> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let (mut buffer, mut events) = (String::new(), Vec::new());
    while !done(&events) {
        let Ok(chunk) = tokio::time::timeout_at(deadline, response.chunk()).await else {
            panic!("the stream did not send what was asked for within 20 s; got {events:?}");
        };
        let chunk = chunk.expect("the stream reads");
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
                events.push(Frame {
                    name,
                    id: field("id:"),
                    data,
                });
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
        seen.iter().filter(|f| f.name == "availability").count() == 2
    })
    .await;
    assert!(
        seen.iter().all(|f| f.data["sku"] == "MUG"),
        "only MUG: {seen:?}"
    );
    let (name, change) = (&seen[0].name, &seen[0].data);
    assert_eq!(name, "change");
    assert_eq!(change["channel"], "pos");
    assert_eq!(change["kind"], "level_observed");
    assert_eq!(change["summary"], "counted 7 at store");
    // The store's 7 reach the POS and the web shop (which keeps a buffer of 1), in channel
    // order (the warehouse channel's 0 comes after).
    let numbers: Vec<(&str, i64)> = seen[1..]
        .iter()
        .map(|f| {
            (
                f.data["channel"].as_str().unwrap_or("?"),
                f.data["available"].as_i64().unwrap_or(-1),
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

/// Opens the stream, resuming after `last_event_id` if given.
async fn open(api: &common::Api, last_event_id: Option<&str>) -> reqwest::Response {
    let mut request = api.http.get(format!("{}/v1/events/stream", api.url));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = request.send().await.expect("open the stream");
    assert_eq!(response.status(), 200);
    response
}

/// Posts one count at the store, taken `minute` minutes past 09:00 (a later count than
/// the last wins, an earlier one is inside it).
async fn count(api: &common::Api, id: &str, sku: &str, quantity: i64, minute: u32) {
    let at = format!("2026-11-23T09:{minute:02}:00Z");
    let events = vec![event(id, &at, sku, counted("store", quantity))];
    let (status, answer) = api
        .post_events("pos", POS_SECRET, events)
        .await
        .expect("post");
    assert_eq!(status, 200, "{answer}");
}

/// Whether `frames` hold the change of event `id` and then `numbers` availability items.
fn has_change_and_numbers(frames: &[Frame], id: &str, numbers: usize) -> bool {
    frames
        .iter()
        .position(|f| f.name == "change" && f.data["event_id"] == id)
        .is_some_and(|at| {
            frames[at + 1..]
                .iter()
                .filter(|f| f.name == "availability")
                .count()
                >= numbers
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reconnects_with_last_event_id_gets_exactly_what_it_missed() {
    let site = Site::new();
    let _daemon = site.start();
    let api = common::Api::new(&_daemon.url);
    // A witness stays connected throughout; the client leaves and comes back.
    let mut witness = open(&api, None).await;
    let mut client = open(&api, None).await;
    count(&api, "seen-1", "MUG", 7, 1).await;
    let seen = read_events(&mut client, |f| has_change_and_numbers(f, "seen-1", 2)).await;
    let last = seen
        .last()
        .and_then(|f| f.id.clone())
        .expect("every item has an id");
    drop(client);

    // While it is away: a new SKU and a new count of MUG, then it reconnects.
    count(&api, "missed-1", "CAP", 3, 2).await;
    count(&api, "missed-2", "MUG", 5, 3).await;
    let everything = read_events(&mut witness, |f| has_change_and_numbers(f, "missed-2", 2)).await;
    let after = everything
        .iter()
        .position(|f| f.id.as_deref() == Some(last.as_str()))
        .expect("the witness saw the client's last item");
    let missed = &everything[after + 1..];
    let mut client = open(&api, Some(&last)).await;
    let replayed = read_events(&mut client, |f| f.len() >= missed.len()).await;
    assert_eq!(replayed, missed, "exactly the missed items, in order");
    let changes: Vec<&Value> = replayed
        .iter()
        .filter(|f| f.name == "change")
        .map(|f| &f.data["event_id"])
        .collect();
    assert_eq!(changes, ["missed-1", "missed-2"]);

    // Then it carries on live, with nothing repeated.
    count(&api, "live-1", "MUG", 4, 4).await;
    let live = read_events(&mut client, |f| has_change_and_numbers(f, "live-1", 2)).await;
    assert_eq!(live[0].name, "change", "{live:?}");
    assert_eq!(live[0].data["event_id"], "live-1", "{live:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_older_than_the_ring_or_from_another_run_gets_a_reset_then_live_items() {
    let site = Site::new();
    let _daemon = site.start();
    let api = common::Api::new(&_daemon.url);
    let mut client = open(&api, None).await;
    count(&api, "first", "MUG", 7, 1).await;
    let seen = read_events(&mut client, |f| has_change_and_numbers(f, "first", 2)).await;
    let last = seen
        .last()
        .and_then(|f| f.id.clone())
        .expect("every item has an id");
    drop(client);

    // Far more than the ring keeps (10,000): each new SKU is a change and three numbers.
    let skus = 3_000;
    let batch = 300;
    for start in (0..skus).step_by(batch) {
        let events: Vec<Value> = (start..start + batch)
            .map(|n| {
                event(
                    &format!("bulk-{n}"),
                    "2026-11-23T09:00:00Z",
                    &format!("BULK-{n:05}"),
                    counted("store", 2),
                )
            })
            .collect();
        let (status, answer) = api
            .post_events("pos", POS_SECRET, events)
            .await
            .expect("post");
        assert_eq!(status, 200, "{answer}");
    }
    let (run, _) = last.rsplit_once('-').expect("ids are run-number");
    let stale_ids = [
        (last.clone(), "no longer kept"),
        ("0badc0de-3".to_owned(), "not one of this run"),
        ("garbage".to_owned(), "not one of this run"),
    ];
    for (minute, (stale, why)) in (2u32..).zip(stale_ids) {
        let mut client = open(&api, Some(&stale)).await;
        let first = read_events(&mut client, |f| !f.is_empty()).await;
        assert_eq!(first[0].name, "reset", "{stale}: {first:?}");
        assert!(
            first[0].data["reason"]
                .as_str()
                .is_some_and(|r| r.contains(why)),
            "{stale}: {first:?}"
        );
        // Then live items, of this run.
        count(
            &api,
            &format!("after-{stale}"),
            "MUG",
            i64::from(minute),
            minute,
        )
        .await;
        let live = read_events(&mut client, |f| {
            has_change_and_numbers(f, &format!("after-{stale}"), 1)
        })
        .await;
        let change = live
            .iter()
            .find(|f| f.name == "change")
            .expect("a live change");
        assert!(
            change.id.as_deref().is_some_and(|id| id.starts_with(run)),
            "{change:?}"
        );
    }
}
