//! Propagation benchmark: from a sale acknowledged on one channel to the push reaching every
//! other channel, on the real release binary against fake channels with no artificial
//! latency, at a fixed rate of sales; and how many API calls 1,000 changes cost.
//!
//! `cargo bench --bench propagation`. Environment: `OMNISTOCK_BENCH_RATE` (sales/s, default
//! 1000), `OMNISTOCK_BENCH_SECS` (default 10), `OMNISTOCK_BENCH_SKUS` (default 1000).
//!
//! The warehouse's WMS (`wms`, generic) posts one `adjusted -1` per sale, paced on a fixed
//! timetable; two pushing channels (`web`, `outlet`, generic fakes over loopback HTTP) sell
//! from the warehouse. For each sale, the latency is from its acknowledgement to the first
//! set call on a channel that carries its SKU at its new number or lower (a later change
//! coalesced into the same push counts as carrying it). The fakes run in this process and
//! share the 2 cores with the daemon.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Api, Site, WMS_SECRET, adjusted, counted, event};
use omnistock_generic::fake::{Call, FakeReceiver};

const START: i64 = 1_000_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(web: &FakeReceiver, outlet: &FakeReceiver) -> String {
    let channel = |name: &str, url: &str| {
        format!(
            r#"
[channels.{name}]
kind = "generic"
webhook_secret = {{ env = "OMNISTOCK_TEST_WMS_SECRET" }}
sells_from = ["wh"]
push_url = "{url}"
rate_limit = {{ per_second = 10000, burst = 1000 }}
max_batch = 100
"#
        )
    };
    format!(
        r#"
node_id = "bench"
listen = "127.0.0.1:0"
state_dir = "state"

[api]
admin_token = {{ env = "OMNISTOCK_TEST_ADMIN_TOKEN" }}
max_body_bytes = 16777216

[locations.wh]
owner = "wms"

[channels.wms]
kind = "generic"
webhook_secret = {{ env = "OMNISTOCK_TEST_WMS_SECRET" }}
sells_from = ["wh"]
{}{}"#,
        channel("web", web.url()),
        channel("outlet", outlet.url())
    )
}

/// One sale: its SKU, the number it leaves, when it was acknowledged.
struct Sale {
    sku: usize,
    leaves: i64,
    acked: Instant,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let rate = env("OMNISTOCK_BENCH_RATE", 1000);
    let secs = env("OMNISTOCK_BENCH_SECS", 10);
    let skus = usize::try_from(env("OMNISTOCK_BENCH_SKUS", 1000)).expect("SKU count");
    let name = |i: usize| format!("SKU-{i:05}");
    let mut web = FakeReceiver::builder("web", WMS_SECRET);
    let mut outlet = FakeReceiver::builder("outlet", WMS_SECRET);
    for i in 0..skus {
        web = web.level(&name(i), 0);
        outlet = outlet.level(&name(i), 0);
    }
    let (web, outlet) = (web.start().await, outlet.start().await);
    let site = Site::with_config(&config(&web, &outlet));
    let daemon = site.start();
    let api = Api::new(&daemon.url);

    // Every SKU counted, and both channels showing it, before the clock starts.
    let counts: Vec<_> = (0..skus)
        .map(|i| {
            event(
                &format!("count-{i}"),
                "2026-11-23T09:00:00Z",
                &name(i),
                counted("wh", START),
            )
        })
        .collect();
    for chunk in counts.chunks(500) {
        let (status, body) = api
            .post_events("wms", WMS_SECRET, chunk.to_vec())
            .await
            .expect("post counts");
        assert_eq!(status, 200, "{body}");
    }
    let shown = |fake: &FakeReceiver| (0..skus).all(|i| fake.level(&name(i)) == Some(START));
    let ready = Instant::now();
    while !(shown(&web) && shown(&outlet)) {
        assert!(
            ready.elapsed() < Duration::from_secs(120),
            "the channels never showed the counts"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls_before = (web.calls().len(), outlet.calls().len());

    // The sales, on a fixed timetable.
    let total = usize::try_from(rate * secs).expect("sale count");
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let sales: Arc<Mutex<Vec<Option<Sale>>>> =
        Arc::new(Mutex::new((0..total).map(|_| None).collect()));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let due = started + interval * u32::try_from(i).expect("small");
        tokio::time::sleep_until(due.into()).await;
        let (api, sales) = (api.clone(), sales.clone());
        let sku = i % skus;
        let leaves = START - 1 - i64::try_from(i / skus).expect("small");
        let sale = event(
            &format!("sale-{i}"),
            "2026-11-23T10:00:00Z",
            &name(sku),
            adjusted("wh", -1),
        );
        tasks.push(tokio::spawn(async move {
            let (status, body) = api
                .post_events("wms", WMS_SECRET, vec![sale])
                .await
                .expect("post sale");
            assert_eq!(status, 200, "{body}");
            sales.lock().expect("lock")[i] = Some(Sale {
                sku,
                leaves,
                acked: Instant::now(),
            });
        }));
    }
    for task in tasks {
        task.await.expect("sale task");
    }
    let offered = started.elapsed();
    let last = |fake: &FakeReceiver, sku: usize, leaves: i64| {
        fake.level(&name(sku)).is_some_and(|l| l <= leaves)
    };
    let settle = Instant::now();
    while !(0..skus).all(|sku| {
        let leaves = START - i64::try_from((total + skus - 1 - sku) / skus).expect("small");
        last(&web, sku, leaves) && last(&outlet, sku, leaves)
    }) {
        assert!(
            settle.elapsed() < Duration::from_secs(120),
            "the channels never caught up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let sales: Vec<Sale> = std::mem::take(&mut *sales.lock().expect("lock"))
        .into_iter()
        .flatten()
        .collect();
    println!(
        "\npropagation: {total} sales at {rate}/s over {} SKUs, offered in {:.1} s",
        skus,
        offered.as_secs_f64()
    );
    println!(
        "{:<8} {:>9} {:>9} {:>9} {:>11} {:>13}",
        "channel", "p50 ms", "p99 ms", "max ms", "API calls", "calls/1,000"
    );
    for (fake, name, before) in [
        (&web, "web", calls_before.0),
        (&outlet, "outlet", calls_before.1),
    ] {
        let calls = fake.calls()[before..].to_vec();
        let mut latencies = latencies(&sales, &calls);
        latencies.sort_unstable();
        let pick = |q: f64| {
            latencies[((latencies.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1000.0
        };
        println!(
            "{:<8} {:>9.1} {:>9.1} {:>9.1} {:>11} {:>13.1}",
            name,
            pick(0.5),
            pick(0.99),
            pick(1.0),
            calls.len(),
            calls.len() as f64 * 1000.0 / total as f64
        );
    }
}

/// For each sale, from its acknowledgement to the first set call carrying its SKU at its new
/// number or lower.
fn latencies(sales: &[Sale], calls: &[Call]) -> Vec<Duration> {
    let mut sets: HashMap<String, Vec<(Instant, i64)>> = HashMap::new();
    for call in calls.iter().filter(|c| c.endpoint == "set") {
        for change in call.body["changes"].as_array().into_iter().flatten() {
            if let (Some(sku), Some(value)) = (change["sku"].as_str(), change["value"].as_i64()) {
                sets.entry(sku.to_owned())
                    .or_default()
                    .push((call.at, value));
            }
        }
    }
    sales
        .iter()
        .filter_map(|sale| {
            let pushes = sets.get(&format!("SKU-{:05}", sale.sku))?;
            let (at, _) = pushes.iter().find(|(_, value)| *value <= sale.leaves)?;
            Some(at.saturating_duration_since(sale.acked))
        })
        .collect()
}
