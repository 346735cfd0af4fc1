//! The sync engine against fake channels over HTTP: every change reaches every pushing
//! channel, batched, within its rate, through failures, without destroying a sale.

mod common;

use std::time::{Duration, Instant};

use common::config::{Channel, DaemonConfig, Running};
use common::fakes::receiver_with_mug;
use common::{
    ADMIN_TOKEN, Api, PAST_RISE_GRACE, POS_SECRET, WEB_SECRET, WMS_SECRET, adjusted, counted,
    event, eventually, eventually_within, opened,
};
use omnistock_generic::fake::{Failure, FakeReceiver};
use serde_json::Value;

/// The store (owned by `pos`) and the warehouse (owned by `wms`); the `web` channel; `outlet`
/// sells from the warehouse and receives pushes.
fn config(web: Channel, outlet: &FakeReceiver) -> DaemonConfig {
    DaemonConfig::new()
        .location("store", "pos")
        .location("wh", "wms")
        .channel("pos", Channel::generic(POS_SECRET).sells_from(&["store"]))
        .channel("wms", Channel::generic(WMS_SECRET).sells_from(&["wh"]))
        .channel("web", web)
        .channel(
            "outlet",
            Channel::generic(WMS_SECRET)
                .sells_from(&["wh"])
                .push_url(outlet.url()),
        )
}

/// The web shop: sells from both locations with a buffer of 1 and receives pushes.
fn web_shop(web: &FakeReceiver) -> Channel {
    Channel::generic(WEB_SECRET)
        .sells_from(&["store", "wh"])
        .raw("buffer", 1)
        .push_url(web.url())
}

/// The daemon, with the plain web shop.
fn start(web: &FakeReceiver, outlet: &FakeReceiver) -> Running {
    config(web_shop(web), outlet).start()
}

/// The web shop and the outlet, each knowing MUG at 0.
async fn mug_channels() -> (FakeReceiver, FakeReceiver) {
    let web = receiver_with_mug("web", WEB_SECRET).await;
    let outlet = receiver_with_mug("outlet", WMS_SECRET).await;
    (web, outlet)
}

/// Posts one MUG change as `channel` (`pos`, `wms` or `web`, each signing with its own
/// secret) and expects it taken.
/// The two MUG channels and a daemon syncing them, once the warehouse has counted 10 MUGs
/// and the outlet shows them.
async fn outlet_at_10() -> (FakeReceiver, FakeReceiver, Running) {
    let (web, outlet) = mug_channels().await;
    let running = start(&web, &outlet);
    mug_change(
        &running.api,
        "wms",
        "w1",
        "2026-11-23T09:00:00Z",
        counted("wh", 10),
    )
    .await;
    eventually("outlet at 10", || outlet.level("MUG") == Some(10)).await;
    (web, outlet, running)
}

async fn mug_change(api: &Api, channel: &str, id: &str, at: &str, change: Value) {
    let secret = match channel {
        "pos" => POS_SECRET,
        "wms" => WMS_SECRET,
        "web" => WEB_SECRET,
        other => panic!("{other} does not send events in this config"),
    };
    api.post_ok(channel, secret, vec![event(id, at, "MUG", change)])
        .await;
}

/// The daemon's Prometheus metrics, as text.
async fn metrics(api: &Api) -> String {
    reqwest::get(format!("{}/metrics", api.url))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_anywhere_reaches_every_other_channel_and_own_sales_are_not_pushed_back() {
    let (web, outlet) = mug_channels().await;
    let Running { api, .. } = &start(&web, &outlet);

    mug_change(
        api,
        "pos",
        "p1",
        "2026-11-23T09:00:00Z",
        counted("store", 10),
    )
    .await;
    mug_change(api, "wms", "w1", "2026-11-23T09:00:00Z", counted("wh", 20)).await;
    eventually("web shows 29 and outlet 20", || {
        web.level("MUG") == Some(29) && outlet.level("MUG") == Some(20)
    })
    .await;

    // A till sale in the store: the web shop drops, the outlet (warehouse only) does not.
    mug_change(
        api,
        "pos",
        "p2",
        "2026-11-23T09:05:00Z",
        adjusted("store", -1),
    )
    .await;
    eventually("web shows 28", || web.level("MUG") == Some(28)).await;
    assert_eq!(outlet.level("MUG"), Some(20));

    // The web shop sells 2 from the warehouse: it lowered its own number already; its order
    // arrives later. The outlet drops by 2; nothing is pushed back to the web shop.
    web.sell("MUG", 2);
    let web_calls = web.calls().len();
    mug_change(
        api,
        "web",
        "o1",
        "2026-11-23T09:06:00Z",
        opened("1001", "wh", 2),
    )
    .await;
    eventually("outlet shows 18", || outlet.level("MUG") == Some(18)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        web.level("MUG"),
        Some(26),
        "the web shop's own sale is counted once"
    );
    let sets = web.calls()[web_calls..]
        .iter()
        .filter(|c| c.endpoint == "set")
        .count();
    assert_eq!(sets, 0, "nothing is pushed back to the channel that sold");

    // Why does the web shop show 26? Its policy, what was published, and the pushes.
    let (status, explained) = api.get("/v1/explain/MUG?channel=web").await;
    assert_eq!(status, 200, "{explained}");
    let web_explained = &explained["channels"]["web"];
    assert_eq!(web_explained["number"], 26, "{explained}");
    assert_eq!(web_explained["published"]["quantity"], 26, "{explained}");
    let pushes = web_explained["pushes"].as_array().expect("pushes");
    assert!(
        pushes
            .iter()
            .any(|p| p["outcome"] == "applied" && p["value"] == 28),
        "{explained}"
    );
    assert!(
        explained["channels"]["outlet"].is_null(),
        "only the channel asked for"
    );
    let recent: Vec<&str> = explained["recent"]
        .as_array()
        .expect("recent")
        .iter()
        .filter_map(|c| c["summary"].as_str())
        .collect();
    assert!(
        recent.iter().any(|s| s.contains("order 1001")),
        "{recent:?}"
    );
    let output = common::secrets_env(&mut std::process::Command::new(common::binary()))
        .args(["explain", "MUG", "--channel", "web", "--url", &api.url])
        .output()
        .expect("run explain");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("should show 26: pooled over store + wh minus buffer 1"),
        "{text}"
    );
    assert!(text.contains("published 26"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_changes_are_coalesced_into_few_batched_calls_within_the_rate() {
    let web = FakeReceiver::builder("web", WEB_SECRET).start().await;
    let outlet = FakeReceiver::builder("outlet", WMS_SECRET).start().await;
    let skus: Vec<String> = (0..10).map(|i| format!("SKU-{i}")).collect();
    for sku in &skus {
        web.sell(sku, 0);
        outlet.sell(sku, 0);
    }
    let web_shop = web_shop(&web).raw("rate_limit", "{ per_second = 4, burst = 2 }");
    let Running { api, .. } = &config(web_shop, &outlet).start();

    // 1,000 changes to 10 SKUs, in requests of 50.
    let events: Vec<Value> = (0..1000)
        .map(|i| {
            event(
                &format!("c{i}"),
                "2026-11-23T09:00:00Z",
                &skus[i % 10],
                adjusted("wh", 1),
            )
        })
        .collect();
    for chunk in events.chunks(50) {
        api.post_ok("wms", WMS_SECRET, chunk.to_vec()).await;
    }
    eventually("every SKU at 100 on the outlet and 99 on the web", || {
        skus.iter()
            .all(|s| outlet.level(s) == Some(100) && web.level(s) == Some(99))
    })
    .await;

    let calls = web.calls();
    let sets: Vec<_> = calls.iter().filter(|c| c.endpoint == "set").collect();
    assert!(
        sets.len() <= 20,
        "1,000 changes took {} set calls",
        sets.len()
    );
    let largest = sets
        .iter()
        .map(|c| c.body["changes"].as_array().map_or(0, Vec::len))
        .max()
        .unwrap_or(0);
    assert!(largest > 1, "pushes are batched");
    // Never above 4 calls/s after a burst of 2: n calls need at least (n - 2) / 4 seconds.
    if let (Some(first), Some(last)) = (calls.first(), calls.last()) {
        let span = last.at.duration_since(first.at).as_secs_f64();
        let allowed = 2.0 + span * 4.0 * 1.1;
        assert!(
            (calls.len() as f64) <= allowed,
            "{} calls in {span:.2} s exceed 4/s",
            calls.len()
        );
    }
}

/// Waits for the channel's first reconciliation (its listing at start) to finish.
async fn listed(api: &Api, channel: &str) {
    for _ in 0..600 {
        let (_, channels) = api.get("/v1/channels").await;
        if !channels[channel]["reconciliation"]["last_finished"].is_null() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{channel} never finished its first listing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_slow_the_channel_down_without_losing_a_push() {
    let (web, outlet) = mug_channels().await;
    let Running { api, .. } = &start(&web, &outlet);
    // The failures meet the pushes, not the listing at start.
    listed(api, "outlet").await;
    for failure in [
        Failure::RateLimited {
            retry_after_secs: 1,
        },
        Failure::ServerError,
        Failure::Garbage,
        Failure::ServerError,
    ] {
        outlet.fail_next(failure);
    }
    mug_change(api, "wms", "w1", "2026-11-23T09:00:00Z", counted("wh", 7)).await;
    eventually("the outlet shows 7 after its failures", || {
        outlet.level("MUG") == Some(7)
    })
    .await;
    assert_eq!(
        web.level("MUG"),
        Some(6),
        "the other channel was not held up"
    );

    let metrics = metrics(api).await;
    assert!(
        metrics.contains("omnistock_rate_limited_total{channel=\"outlet\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("omnistock_push_retries_total{channel=\"outlet\"} 3"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_between_our_read_and_our_set_is_kept() {
    let (_web, outlet, running) = outlet_at_10().await;
    let api = &running.api;

    // The outlet sells one right after our next read: our compare goes stale, we read again
    // and set the new target while keeping the outlet's own sale.
    outlet.sell_after_next_read("MUG", 1);
    mug_change(api, "wms", "w2", "2026-11-23T09:01:00Z", adjusted("wh", 5)).await;
    eventually("outlet at 14 (15 minus its own unseen sale)", || {
        outlet.level("MUG") == Some(14)
    })
    .await;
    let metrics = metrics(api).await;
    assert!(
        metrics.contains("omnistock_stale_compares_total{channel=\"outlet\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_cut_by_kill_9_is_neither_lost_nor_doubled() {
    let (_web, outlet, Running { api, daemon, site }) = outlet_at_10().await;

    // The next set is applied by the outlet but answered late: we die before the answer,
    // between "outbox written" and "channel confirmed".
    outlet.fail_next_set(Failure::Slow(Duration::from_secs(5)));
    mug_change(
        &api,
        "wms",
        "w2",
        "2026-11-23T09:01:00Z",
        adjusted("wh", -3),
    )
    .await;
    eventually("the outlet applied the push", || {
        outlet.level("MUG") == Some(7)
    })
    .await;
    daemon.kill_9();
    let sets_before = outlet
        .calls()
        .iter()
        .filter(|c| c.endpoint == "set")
        .count();

    // On restart the entry is still in the outbox with its recorded attempt: it is sent again
    // as it was, and the channel's idempotency key answers it applied without applying twice.
    let daemon = site.start();
    let api = Api::new(&daemon.url);
    let deadline = Instant::now() + Duration::from_secs(20);
    while api.get("/v1/channels").await.1["outlet"]["outbox"] != 0 {
        assert!(Instant::now() < deadline, "the outbox never emptied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(outlet.level("MUG"), Some(7), "not doubled");
    let sets: Vec<_> = outlet
        .calls()
        .into_iter()
        .filter(|c| c.endpoint == "set")
        .collect();
    assert_eq!(sets.len(), sets_before + 1, "sent again once");
    let change = |i: usize| sets[i].body["changes"][0].clone();
    assert_eq!(
        change(sets_before),
        change(sets_before - 1),
        "as it was: same key, compare and value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_the_channel_does_not_know_is_dead_lettered_and_can_be_retried_or_dropped() {
    let web = FakeReceiver::builder("web", WEB_SECRET).start().await;
    let outlet = FakeReceiver::builder("outlet", WMS_SECRET).start().await;
    let Running { api, .. } = &start(&web, &outlet);
    api.post_ok(
        "wms",
        WMS_SECRET,
        vec![event(
            "w1",
            "2026-11-23T09:00:00Z",
            "GHOST",
            counted("wh", 3),
        )],
    )
    .await;

    let letters = loop {
        let (_, letters) = api.get("/v1/deadletters?channel=outlet").await;
        if letters.as_array().is_some_and(|l| !l.is_empty()) {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(letters[0]["sku"], "GHOST");
    assert!(
        letters[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("does not know")),
        "{letters}"
    );
    let id = letters[0]["id"].as_u64().expect("id");

    // The channel learns the SKU; ops retry the dead letter.
    outlet.sell("GHOST", 0);
    let retry = api
        .http
        .post(format!("{}/v1/deadletters/outlet/{id}/retry", api.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("retry");
    assert_eq!(retry.status().as_u16(), 200);
    eventually("outlet shows 3", || outlet.level("GHOST") == Some(3)).await;

    // The web shop never learns it: drop its dead letter.
    let (_, letters) = api.get("/v1/deadletters?channel=web").await;
    let id = letters[0]["id"].as_u64().expect("id");
    let url = format!("{}/v1/deadletters/web/{id}", api.url);
    assert_eq!(
        api.http
            .delete(&url)
            .send()
            .await
            .expect("drop")
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        api.http
            .delete(&url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("drop")
            .status()
            .as_u16(),
        200
    );
    assert_eq!(api.get("/v1/deadletters").await.1, serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_whose_push_may_have_applied_is_dropped_only_after_a_confirmed_push() {
    let (_web, outlet, running) = outlet_at_10().await;
    let api = &running.api;

    // The raise to 13 applies but its answer is lost; its re-send is rejected.
    outlet.fail_next_set(Failure::AnswerLost);
    outlet.fail_next_set(Failure::Rejected("access revoked".into()));
    mug_change(api, "wms", "w2", "2026-11-23T09:01:00Z", adjusted("wh", 3)).await;
    let letters = loop {
        let (_, letters) = api.get("/v1/deadletters?channel=outlet").await;
        if letters.as_array().is_some_and(|l| !l.is_empty()) {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(letters[0]["lost_push"], 13, "{letters}");
    let id = letters[0]["id"].as_u64().expect("id");

    // Dropping it is refused until a push of MUG is confirmed: the refusal plans one, which
    // is confirmed once the rise it finds (13 over a published 10) is past its grace.
    let url = format!("{}/v1/deadletters/outlet/{id}", api.url);
    let drop = || api.http.delete(&url).bearer_auth(ADMIN_TOKEN).send();
    let first = drop().await.expect("drop");
    assert_eq!(first.status().as_u16(), 409);
    let deadline = Instant::now() + PAST_RISE_GRACE;
    loop {
        let status = drop().await.expect("drop").status().as_u16();
        if status == 200 {
            break;
        }
        assert_eq!(status, 409);
        assert!(Instant::now() < deadline, "the letter was never droppable");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(api.get("/v1/deadletters").await.1, serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_channel_gets_nothing_until_resumed() {
    let (web, outlet) = mug_channels().await;
    let Running { api, .. } = &start(&web, &outlet);
    let control = |action: &str| {
        api.http
            .post(format!("{}/v1/channels/outlet/{action}", api.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    assert_eq!(
        control("pause").await.expect("pause").status().as_u16(),
        200
    );
    mug_change(api, "wms", "w1", "2026-11-23T09:00:00Z", counted("wh", 5)).await;
    eventually("web shows 4", || web.level("MUG") == Some(4)).await;
    assert_eq!(outlet.level("MUG"), Some(0), "paused");
    let (_, channels) = api.get("/v1/channels").await;
    assert_eq!(
        (
            channels["outlet"]["paused"].as_bool(),
            channels["outlet"]["outbox"].as_u64()
        ),
        (Some(true), Some(1))
    );

    assert_eq!(
        control("resume").await.expect("resume").status().as_u16(),
        200
    );
    eventually("outlet shows 5", || outlet.level("MUG") == Some(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_catalog_listing_resumes_from_its_cursor() {
    let mut builder = FakeReceiver::builder("web", WEB_SECRET).page_size(2);
    for sku in ["A", "B", "C", "D", "E"] {
        builder = builder.level(sku, 0);
    }
    let web = builder.start().await;
    // The first page is answered, the second is refused with 429 once.
    web.fail_next(Failure::Slow(Duration::ZERO));
    web.fail_next(Failure::RateLimited {
        retry_after_secs: 1,
    });
    let outlet = FakeReceiver::builder("outlet", WMS_SECRET).start().await;
    let Running { api, .. } = &start(&web, &outlet);
    api.post_ok(
        "wms",
        WMS_SECRET,
        vec![event("w1", "2026-11-23T09:00:00Z", "E", counted("wh", 3))],
    )
    .await;
    eventually("web shows 2 for E", || web.level("E") == Some(2)).await;

    let cursors: Vec<Value> = web
        .calls()
        .iter()
        .filter(|c| c.endpoint == "levels" && c.body["skus"].is_null())
        .map(|c| c.body["cursor"].clone())
        .collect();
    assert!(cursors.len() >= 4, "{cursors:?}");
    assert!(cursors[0].is_null(), "{cursors:?}");
    assert_eq!(
        cursors[1], cursors[2],
        "the refused page is asked for again: {cursors:?}"
    );
    assert!(
        cursors[1..].iter().all(|c| !c.is_null()),
        "the listing never restarts: {cursors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_while_we_were_down_is_found_by_reconciliation_at_start_and_corrected() {
    let (web, outlet) = mug_channels().await;
    let Running {
        api,
        mut daemon,
        site,
    } = start(&web, &outlet);
    mug_change(&api, "wms", "w1", "2026-11-23T09:00:00Z", counted("wh", 7)).await;
    eventually("the outlet shows 7", || outlet.level("MUG") == Some(7)).await;
    daemon.signal("TERM");
    assert!(daemon.wait_exit(Duration::from_secs(30)).is_some(), "stops");

    // While we are down, someone raises the outlet's number by hand: nothing explains it.
    outlet.sell("MUG", -5);
    assert_eq!(outlet.level("MUG"), Some(12));
    let daemon = site.start();
    assert!(
        daemon.wait_for_log("pushing it again", Duration::from_secs(30)),
        "reconciliation saw the drift: {}",
        daemon.log()
    );
    // The rise is left alone for its grace (a restock's webhook may be on its way), then
    // corrected.
    eventually_within(PAST_RISE_GRACE, "the drift corrected back to 7", || {
        outlet.level("MUG") == Some(7)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kit_shows_what_its_components_allow_and_its_sale_reserves_them() {
    let web = FakeReceiver::builder("web", WEB_SECRET)
        .level("MUG", 0)
        .level("TEA", 0)
        .level("GIFTBOX", 0)
        .start()
        .await;
    let outlet = FakeReceiver::builder("outlet", WMS_SECRET)
        .level("MUG", 0)
        .level("TEA", 0)
        .level("GIFTBOX", 0)
        .start()
        .await;
    let Running { api, .. } = &config(web_shop(&web), &outlet)
        .table("[kits.GIFTBOX]\ncomponents = { MUG = 2, TEA = 1 }")
        .start();
    let at = "2026-11-23T09:00:00Z";
    api.post_ok(
        "wms",
        WMS_SECRET,
        vec![
            event("w1", at, "MUG", counted("wh", 10)),
            event("w2", at, "TEA", counted("wh", 3)),
        ],
    )
    .await;
    // Outlet: 5 kits' worth of mugs, 3 of tea: 3. Web keeps a buffer of 1 on each part.
    eventually("the kit at the least its parts allow", || {
        outlet.level("GIFTBOX") == Some(3) && web.level("GIFTBOX") == Some(2)
    })
    .await;

    // The web shop sells one kit (and lowers its own kit number itself).
    web.sell("GIFTBOX", 1);
    api.post_ok(
        "web",
        WEB_SECRET,
        vec![event("k1", at, "GIFTBOX", common::opened("900", "wh", 1))],
    )
    .await;
    eventually("its parts reserved everywhere", || {
        outlet.level("MUG") == Some(8)
            && outlet.level("TEA") == Some(2)
            && outlet.level("GIFTBOX") == Some(2)
            && web.level("MUG") == Some(7)
            && web.level("TEA") == Some(1)
    })
    .await;
    let (_, stock) = api.get("/v1/stock/MUG").await;
    assert_eq!(stock["locations"]["wh"]["reserved"], 2, "{stock}");
    // The web shop's own kit sale is an echo: its kit number stays where it put it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(web.level("GIFTBOX"), Some(1), "the kit sale counted once");
    let (status, availability) = api.get("/v1/availability/GIFTBOX").await;
    assert_eq!(status, 200, "{availability}");
    assert_eq!(
        availability["channels"]["outlet"]["available"], 2,
        "{availability}"
    );

    // A kit has no stock of its own: counting it is refused, naming the kit.
    let (status, answer) = api
        .post_events(
            "wms",
            WMS_SECRET,
            vec![event("w3", at, "GIFTBOX", counted("wh", 50))],
        )
        .await
        .expect("post");
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("is a kit"), "{answer}");
}
