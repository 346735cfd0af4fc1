//! The HTTP API against the real binary: generic events in, stock and availability out,
//! and every bad input refused without touching state.

mod common;

use common::{
    ADMIN_TOKEN, Api, POS_SECRET, Site, WEB_SECRET, WMS_SECRET, adjusted, cancelled, counted,
    event, fulfilled, opened,
};
use serde_json::{Value, json};

fn statuses(answer: &Value) -> Vec<String> {
    answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["status"].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[tokio::test]
async fn sales_counts_and_orders_flow_into_availability() {
    let site = Site::new();
    let daemon = site.start();
    let api = Api::new(&daemon.url);

    // The store's POS counts 10 mugs, the warehouse's WMS 20.
    let (status, answer) = api
        .post_events(
            "pos",
            POS_SECRET,
            vec![event(
                "pos-1",
                "2026-11-23T09:00:00Z",
                "MUG",
                counted("store", 10),
            )],
        )
        .await
        .expect("post");
    assert_eq!(
        (status, statuses(&answer)),
        (200, vec!["accepted".to_owned()])
    );
    api.post_events(
        "wms",
        WMS_SECRET,
        vec![event(
            "wms-1",
            "2026-11-23T09:00:00Z",
            "MUG",
            counted("wh", 20),
        )],
    )
    .await
    .expect("post");

    // A till sale in the store, and a web order against the warehouse.
    api.post_events(
        "pos",
        POS_SECRET,
        vec![event(
            "pos-2",
            "2026-11-23T09:05:00Z",
            "MUG",
            adjusted("store", -1),
        )],
    )
    .await
    .expect("post");
    api.post_events(
        "web",
        WEB_SECRET,
        vec![event(
            "web-1",
            "2026-11-23T09:06:00Z",
            "MUG",
            opened("1001", "wh", 3),
        )],
    )
    .await
    .expect("post");

    let (status, availability) = api.get("/v1/availability/MUG").await;
    assert_eq!(status, 200, "{availability}");
    assert_eq!(availability["total"], 9 + 17);
    assert_eq!(availability["channels"]["pos"]["available"], 9);
    assert_eq!(availability["channels"]["wms"]["available"], 17);
    assert_eq!(
        availability["channels"]["web"]["available"],
        9 + 17 - 1,
        "pooled minus buffer 1"
    );
    assert!(availability["last_change"].is_string());

    // The order ships; the reservation holds until the WMS counts after the shipment.
    api.post_events(
        "web",
        WEB_SECRET,
        vec![event(
            "web-2",
            "2026-11-23T09:10:00Z",
            "MUG",
            fulfilled("1001"),
        )],
    )
    .await
    .expect("post");
    let (_, stock) = api.get("/v1/stock/MUG").await;
    assert_eq!(stock["locations"]["wh"]["reserved"], 3, "{stock}");
    api.post_events(
        "wms",
        WMS_SECRET,
        vec![event(
            "wms-2",
            "2026-11-23T09:20:00Z",
            "MUG",
            counted("wh", 17),
        )],
    )
    .await
    .expect("post");
    let (_, stock) = api.get("/v1/stock/MUG").await;
    assert_eq!(
        stock["locations"]["wh"],
        json!({"owner": "wms", "on_hand": 17, "reserved": 0, "safety": 0, "available": 17})
    );
    assert_eq!(stock["reservations"][0]["state"], "fulfilled");
    assert!(stock["recent"].as_array().expect("recent").len() >= 5);

    // A cancelled order gives its units back at once.
    api.post_events(
        "web",
        WEB_SECRET,
        vec![event(
            "web-3",
            "2026-11-23T09:30:00Z",
            "MUG",
            opened("1002", "store", 2),
        )],
    )
    .await
    .expect("post");
    assert_eq!(
        api.get("/v1/availability/MUG").await.1["channels"]["pos"]["available"],
        7
    );
    api.post_events(
        "web",
        WEB_SECRET,
        vec![event(
            "web-4",
            "2026-11-23T09:31:00Z",
            "MUG",
            cancelled("1002"),
        )],
    )
    .await
    .expect("post");
    assert_eq!(
        api.get("/v1/availability/MUG").await.1["channels"]["pos"]["available"],
        9
    );
}

#[tokio::test]
async fn duplicate_and_reordered_events_change_nothing() {
    let site = Site::new();
    let daemon = site.start();
    let api = Api::new(&daemon.url);
    let events = vec![
        event("c1", "2026-11-23T09:00:00Z", "TEA", counted("store", 5)),
        event("s1", "2026-11-23T09:01:00Z", "TEA", adjusted("store", -1)),
        event("s2", "2026-11-23T09:02:00Z", "TEA", adjusted("store", -1)),
    ];
    api.post_events("pos", POS_SECRET, events.clone())
        .await
        .expect("post");
    assert_eq!(api.on_hand("TEA", "store").await, 3);

    // The same events again, reversed: all duplicates.
    let (status, answer) = api
        .post_events("pos", POS_SECRET, events.into_iter().rev().collect())
        .await
        .expect("post");
    assert_eq!(
        (status, statuses(&answer)),
        (200, vec!["duplicate".to_owned(); 3])
    );
    // A late count, older than the latest count: it changes nothing.
    let (_, answer) = api
        .post_events(
            "pos",
            POS_SECRET,
            vec![event(
                "c0",
                "2026-11-23T08:00:00Z",
                "TEA",
                counted("store", 50),
            )],
        )
        .await
        .expect("post");
    assert_eq!(statuses(&answer), vec!["unchanged".to_owned()]);
    assert_eq!(api.on_hand("TEA", "store").await, 3);
    // An offline sale made before the count arrives late: the count already includes it.
    let (_, answer) = api
        .post_events(
            "pos",
            POS_SECRET,
            vec![event(
                "s0",
                "2026-11-23T08:59:00Z",
                "TEA",
                adjusted("store", -1),
            )],
        )
        .await
        .expect("post");
    assert_eq!(statuses(&answer), vec!["unchanged".to_owned()]);
    assert_eq!(api.on_hand("TEA", "store").await, 3);
}

/// Posts `body` and checks the answer is `status` with the error `code` and, if given, `field`.
async fn refused(
    api: &Api,
    channel: &str,
    secret: &str,
    body: &[u8],
    status: u16,
    code: &str,
    field: Option<&str>,
) {
    let (got, answer) = api
        .post_raw(channel, secret, body.to_vec())
        .await
        .expect("post");
    assert_eq!(got, status, "{answer}");
    assert_eq!(answer["error"]["code"], code, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{answer}"
    );
    if let Some(field) = field {
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
}

#[tokio::test]
async fn bad_inputs_are_refused_and_touch_nothing() {
    let site = Site::new();
    let daemon = site.start();
    let api = Api::new(&daemon.url);
    let good = serde_json::to_vec(
        &json!({"events": [event("x1", "2026-11-23T09:00:00Z", "SOCK", counted("store", 4))]}),
    )
    .expect("json");

    // Authentication first: nothing is parsed before the signature checks out.
    refused(
        &api,
        "pos",
        "wrong-secret",
        &good,
        401,
        "bad_signature",
        None,
    )
    .await;
    refused(
        &api,
        "nobody",
        POS_SECRET,
        &good,
        401,
        "unknown_channel",
        None,
    )
    .await;
    let response = api
        .http
        .post(format!("{}/v1/events", api.url))
        .header("x-omnistock-channel", "pos")
        .body(good.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 401);

    // Malformed bodies name the field at fault.
    refused(
        &api,
        "pos",
        POS_SECRET,
        b"{not json",
        400,
        "malformed",
        None,
    )
    .await;
    let unknown_field = br#"{"events":[{"id":"x2","occurred_at":"2026-11-23T09:00:00Z","sku":"SOCK","change":{"type":"level_observed","location":"store","quantity":4,"qty":1}}]}"#;
    refused(
        &api,
        "pos",
        POS_SECRET,
        unknown_field,
        400,
        "malformed",
        Some("events[0].change.qty"),
    )
    .await;
    let bad_type = br#"{"events":[{"id":"x3","occurred_at":"2026-11-23T09:00:00Z","sku":"SOCK","change":{"type":"level_observed","location":"store","quantity":"four"}}]}"#;
    refused(
        &api,
        "pos",
        POS_SECRET,
        bad_type,
        400,
        "malformed",
        Some("events[0].change.quantity"),
    )
    .await;
    let bad_time = br#"{"events":[{"id":"x4","occurred_at":"tuesday","sku":"SOCK","change":{"type":"adjusted","location":"store","by":1}}]}"#;
    refused(
        &api,
        "pos",
        POS_SECRET,
        bad_time,
        400,
        "malformed",
        Some("events[0].occurred_at"),
    )
    .await;
    refused(
        &api,
        "pos",
        POS_SECRET,
        br#"{"events":[]}"#,
        400,
        "malformed",
        Some("events"),
    )
    .await;

    // Well-formed but against the rules.
    let body = |change: Value| {
        serde_json::to_vec(
            &json!({"events": [event("x5", "2026-11-23T09:00:00Z", "SOCK", change)]}),
        )
        .expect("json")
    };
    refused(
        &api,
        "pos",
        POS_SECRET,
        &body(counted("mars", 1)),
        400,
        "refused",
        Some("events[0].change.location"),
    )
    .await;
    refused(
        &api,
        "web",
        WEB_SECRET,
        &body(adjusted("store", -1)),
        400,
        "refused",
        Some("events[0].change"),
    )
    .await;
    refused(
        &api,
        "pos",
        POS_SECRET,
        &body(opened("9", "wh", 1)),
        400,
        "refused",
        Some("events[0].change.location"),
    )
    .await;

    // Too large: 413 (the test config allows 64 KiB).
    let huge = vec![b' '; 70 * 1024];
    refused(&api, "pos", POS_SECRET, &huge, 413, "too_large", None).await;

    // None of it reached the state.
    let (status, answer) = api.get("/v1/stock/SOCK").await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (404, Some("unknown_sku"))
    );
    let (_, metrics) = (
        200,
        reqwest::get(format!("{}/metrics", api.url))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text"),
    );
    assert!(
        metrics.contains("omnistock_rejected_requests_total{code=\"bad_signature\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn manual_adjustments_need_the_admin_token_and_are_idempotent_by_id() {
    let site = Site::new();
    let daemon = site.start();
    let api = Api::new(&daemon.url);
    let url = format!("{}/v1/adjustments", api.url);
    let body =
        json!({"id": "adj-1", "sku": "MUG", "location": "wh", "by": 5, "reason": "found a box"});

    let response = api.http.post(&url).json(&body).send().await.expect("post");
    assert_eq!(response.status().as_u16(), 401);
    let response = api
        .http
        .post(&url)
        .bearer_auth("guess")
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 401);

    for expected in ["accepted", "duplicate"] {
        let response = api
            .http
            .post(&url)
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status().as_u16(), 200);
        let answer: Value = response.json().await.expect("json");
        assert_eq!(answer["status"], expected, "{answer}");
        assert_eq!(answer["stock"]["on_hand"], 5, "{answer}");
    }
    let no_reason = json!({"sku": "MUG", "location": "wh", "by": 1, "reason": " "});
    let response = api
        .http
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .json(&no_reason)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 400);
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["error"]["field"], "reason");
}

#[tokio::test]
async fn health_readiness_metrics_and_unknown_routes() {
    let site = Site::new();
    let daemon = site.start();
    let api = Api::new(&daemon.url);
    assert_eq!(api.get("/healthz").await, (200, json!({"status": "ok"})));
    assert_eq!(
        api.get("/readyz").await,
        (200, json!({"status": "ready", "unhealthy_channels": []}))
    );
    let (status, answer) = api.get("/v2/nothing").await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, answer) = api.get("/v1/events").await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );

    api.post_events(
        "pos",
        POS_SECRET,
        vec![event(
            "m1",
            "2026-11-23T09:00:00Z",
            "MUG",
            counted("store", 1),
        )],
    )
    .await
    .expect("post");
    let metrics = reqwest::get(format!("{}/metrics", api.url))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for line in [
        "omnistock_events_total{channel=\"pos\",outcome=\"accepted\"} 1",
        "omnistock_ready 1",
        "omnistock_skus 1",
        "omnistock_store_fsync_seconds_count",
        // One acknowledged submission, timed inside the daemon.
        "omnistock_ingest_ack_seconds_count 1",
        "omnistock_store_applier_queued ",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in:\n{metrics}");
    }
}
