//! The dashboard's page, assets and summary on the real daemon.

mod common;

use common::{Api, POS_SECRET, Site, counted, event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_assets_are_served_from_the_binary() {
    let site = Site::new();
    let daemon = site.start();
    let api = Api::new(&daemon.url);
    for (path, content_type, needle) in [
        ("/", "text/html; charset=utf-8", "/assets/app.js"),
        (
            "/assets/app.js",
            "text/javascript; charset=utf-8",
            "EventSource",
        ),
        (
            "/assets/charts.js",
            "text/javascript; charset=utf-8",
            "polyline",
        ),
        ("/assets/style.css", "text/css; charset=utf-8", "#feed"),
    ] {
        let response = api
            .http
            .get(format!("{}{path}", daemon.url))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"].to_str().ok(),
            Some(content_type),
            "{path}"
        );
        let body = response.text().await.expect("body");
        assert!(body.contains(needle), "{path} holds {needle}");
    }
    let (status, answer) = api.get("/assets/nope.js").await;
    assert_eq!(status, 404);
    assert_eq!(answer["error"]["code"], "not_found", "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_lists_every_channel_and_the_feed_while_someone_watches() {
    let site = Site::new();
    let daemon = site.start();
    let api = Api::new(&daemon.url);
    let (status, summary) = api.get("/v1/dashboard/summary").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["node_id"], "test-node");
    let names: Vec<&str> = summary["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["pos", "web", "wms"]);
    assert_eq!(summary["channels"][0]["pushing"], false);
    assert_eq!(summary["channels"][0]["headroom"], serde_json::Value::Null);
    assert_eq!(summary["locations"]["store"], "pos");
    assert_eq!(
        summary["series"]["minutes"].as_array().map(Vec::len),
        Some(60)
    );
    assert_eq!(
        summary["series"]["channels"]["web"]
            .as_array()
            .map(Vec::len),
        Some(60)
    );

    // With a stream open, a posted event shows in the summary's recent items, and its
    // count in the POS's changes per minute once sampled.
    let _stream = api
        .http
        .get(format!("{}/v1/events/stream", daemon.url))
        .send()
        .await
        .expect("open the stream");
    let (status, answer) = api
        .post_events(
            "pos",
            POS_SECRET,
            vec![event(
                "p1",
                "2026-11-23T09:00:00Z",
                "MUG",
                counted("store", 4),
            )],
        )
        .await
        .expect("post");
    assert_eq!(status, 200, "{answer}");
    let (_, summary) = api.get("/v1/dashboard/summary").await;
    let recent = summary["recent"].as_array().expect("recent");
    assert!(
        recent
            .iter()
            .any(|i| i["type"] == "change" && i["sku"] == "MUG" && i["channel"] == "pos"),
        "{summary}"
    );
    let mut changes = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while changes == 0 && std::time::Instant::now() < deadline {
        let (_, summary) = api.get("/v1/dashboard/summary").await;
        changes = summary["channels"][0]["last_minute"]["changes"]
            .as_i64()
            .unwrap_or(0);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        changes, 1,
        "the POS's accepted event is counted once sampled"
    );
}
