//! Calls and GraphQL cost of the Shopify connector against `FakeShopify`, for BENCHMARKS.md
//! ("## Shopify connector"): pushes per 1,000 quantities, and a full reconciliation listing
//! of 10,000 variants × 3 locations at a realistic cost bucket.
//!
//! Ignored by default: the reconciliation waits for the bucket to refill, in real time (the
//! fake's bucket runs on the wall clock), for many minutes. Loopback only. Run in release:
//!
//! ```text
//! cargo test -p omnistock-shopify --release --test measure -- --ignored --nocapture
//! ```

use std::time::{Duration, Instant};

use omnistock_sdk::{Connector, ConnectorError, ItemRef, LocationId, PushOutcome, PushRequest};
use omnistock_shopify::connector::MAX_BATCH;
use omnistock_shopify::fake::{FakeShopify, FakeStats};
use omnistock_shopify::{ShopifyConnector, ShopifySettings};

/// Three Shopify locations, all mapped.
const LOCATIONS: [u64; 3] = [24_826_418, 24_826_419, 24_826_420];
/// The first inventory item id (beyond 2^53, as real ids can be).
const FIRST_ITEM: u64 = 9_007_199_254_800_000;
/// Every level starts at this number.
const START: i64 = 10;
/// A bound on the reconciliation: beyond it the measurement has failed, not just run slow.
const DEADLINE: Duration = Duration::from_secs(75 * 60);

fn ours(n: usize) -> LocationId {
    LocationId::new(format!("store-{}", n + 1)).expect("valid location")
}

fn item(id: u64) -> ItemRef {
    ItemRef::new(format!("gid://shopify/InventoryItem/{id}")).expect("valid item")
}

async fn shop(variants: u64, maximum: f64, restore_rate: f64) -> FakeShopify {
    let levels: Vec<(u64, i64)> = LOCATIONS.iter().map(|&l| (l, START)).collect();
    FakeShopify::builder()
        .many_variants("BENCH", FIRST_ITEM, variants, &levels)
        .bucket(maximum, restore_rate)
        .start()
        .await
}

/// The connector as the daemon builds it: defaults everywhere, the three locations mapped.
fn connector(fake: &FakeShopify) -> ShopifyConnector {
    let mut settings: ShopifySettings = fake.settings("shopify-bench");
    for (n, location) in LOCATIONS.iter().enumerate() {
        settings = settings.location(format!("gid://shopify/Location/{location}"), ours(n));
    }
    ShopifyConnector::new(settings).expect("valid settings")
}

/// What one scenario cost, from the fake's side.
struct Spent {
    calls: u64,
    cost: f64,
    throttled: u64,
    max_requested: f64,
    wall: Duration,
}

fn spent(before: &FakeStats, after: &FakeStats, wall: Duration) -> Spent {
    Spent {
        calls: after.requests - before.requests,
        cost: after.cost_spent - before.cost_spent,
        throttled: after.throttled - before.throttled,
        max_requested: after.max_requested_cost,
        wall,
    }
}

fn print(what: &str, s: &Spent) {
    println!(
        "{what}: {} calls, {:.0} points (actual), {} THROTTLED, largest request {:.0} points, {:.2} s",
        s.calls,
        s.cost,
        s.throttled,
        s.max_requested,
        s.wall.as_secs_f64()
    );
}

/// 1,000 compare-and-set quantities, one per (item, location) pair, in batches of 250.
fn requests(key: &str, expected: i64, target: i64) -> Vec<PushRequest> {
    (0..1_000u64)
        .map(|n| PushRequest {
            idempotency_key: format!("{key}-{n}"),
            item: item(FIRST_ITEM + n / 3),
            location: ours((n % 3) as usize),
            expected,
            target,
        })
        .collect()
}

async fn push_all(connector: &ShopifyConnector, batch: &[PushRequest]) -> Vec<PushOutcome> {
    let mut outcomes = Vec::new();
    for chunk in batch.chunks(MAX_BATCH) {
        outcomes.extend(connector.push(chunk).await.expect("push"));
    }
    outcomes
}

#[tokio::test]
#[ignore = "a measurement for BENCHMARKS.md; run in release with --ignored --nocapture"]
async fn measure_push_calls_and_cost_per_1000_quantities() {
    // 334 variants × 3 locations hold the 1,000 pushed levels; the Standard-plan bucket.
    let fake = shop(334, 2_000.0, 100.0).await;
    let connector = connector(&fake);

    let batch = requests("clean", START, START - 3);
    let (before, at) = (fake.stats(), Instant::now());
    let outcomes = push_all(&connector, &batch).await;
    let clean = spent(&before, &fake.stats(), at.elapsed());
    assert!(outcomes.iter().all(|o| *o == PushOutcome::Applied));
    print("1,000 quantities, no stale compare", &clean);

    let (before, at) = (fake.stats(), Instant::now());
    let outcomes = push_all(&connector, &batch).await;
    let replay = spent(&before, &fake.stats(), at.elapsed());
    assert!(outcomes.iter().all(|o| *o == PushOutcome::Applied));
    assert_eq!(fake.level(FIRST_ITEM, LOCATIONS[0]), Some(START - 3));
    print("the same 1,000 again (outbox retry)", &replay);

    // 1% of the levels sold behind our back: one stale quantity in each batch of 250 makes
    // Shopify refuse the whole mutation, and the connector sends the other 249 again.
    for n in (0..1_000u64).step_by(100) {
        fake.set_available(FIRST_ITEM + n / 3, LOCATIONS[(n % 3) as usize], START - 4);
    }
    let batch = requests("stale", START - 3, START - 5);
    let (before, at) = (fake.stats(), Instant::now());
    let outcomes = push_all(&connector, &batch).await;
    let stale = spent(&before, &fake.stats(), at.elapsed());
    let stale_count = outcomes
        .iter()
        .filter(|o| matches!(o, PushOutcome::StaleCompare { .. }))
        .count();
    assert_eq!(stale_count, 10);
    print("1,000 quantities, 10 of them stale", &stale);

    // The re-read the engine makes around a push, for the same 1,000 levels (334 items).
    let items: Vec<ItemRef> = (0..334).map(|n| item(FIRST_ITEM + n)).collect();
    let (before, at) = (fake.stats(), Instant::now());
    let levels = connector.read(&items).await.expect("read");
    let read = spent(&before, &fake.stats(), at.elapsed());
    assert_eq!(levels.len(), 1_002);
    print("re-reading 334 items × 3 locations", &read);

    for s in [&clean, &replay, &stale, &read] {
        assert_eq!(s.throttled, 0, "the connector let the bucket run dry");
    }
}

/// Lists everything, page by page, as reconciliation does; a `RateLimited` (the connector
/// declining to wait longer than `max_throttle_wait`) is waited out and the same page asked
/// again, as the engine does.
async fn reconcile(variants: u64, maximum: f64, restore_rate: f64) {
    let plan = format!("{maximum:.0} points, {restore_rate:.0}/s");
    let fake = shop(variants, maximum, restore_rate).await;
    let connector = connector(&fake);
    let (before, at) = (fake.stats(), Instant::now());
    let mut cursor = None;
    let (mut pages, mut levels, mut rate_limited) = (0u64, 0usize, 0u64);
    let mut lowest = f64::INFINITY;
    loop {
        assert!(at.elapsed() < DEADLINE, "[{plan}] over {DEADLINE:?}");
        let page = match connector.list(cursor.clone()).await {
            Ok(page) => page,
            Err(ConnectorError::RateLimited { retry_after, .. }) => {
                rate_limited += 1;
                tokio::time::sleep(retry_after).await;
                continue;
            }
            Err(e) => panic!("[{plan}] listing page {}: {e}", pages + 1),
        };
        pages += 1;
        levels += page.levels.len();
        if let Some(status) = connector.throttle_status() {
            lowest = lowest.min(status.currently_available);
        }
        if pages % 25 == 0 {
            println!(
                "[{plan}] {pages} pages, {levels} levels, {:.0} s, {} THROTTLED, {rate_limited} RateLimited",
                at.elapsed().as_secs_f64(),
                fake.stats().throttled - before.throttled,
            );
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let s = spent(&before, &fake.stats(), at.elapsed());
    print(
        &format!("[{plan}] full listing, {variants} variants × 3 locations, {pages} pages"),
        &s,
    );
    println!(
        "[{plan}] {levels} levels; {rate_limited} RateLimited (waits over max_throttle_wait) \
         waited out; lowest currentlyAvailable seen {lowest:.0}"
    );
    assert_eq!(levels as u64, variants * 3);
    assert_eq!(s.throttled, 0, "[{plan}] the connector hit THROTTLED");
}

/// 10,000 variants × 3 locations at the Standard plan as CONTRACTS.md §1.5 records it
/// today: 2,000 points, 100/s.
#[tokio::test]
#[ignore = "a measurement for BENCHMARKS.md: about 20 minutes"]
async fn measure_full_reconciliation_standard_plan() {
    reconcile(10_000, 2_000.0, 100.0).await;
}

/// The legacy published bucket (CONTRACTS.md §1.5), 1,000 points at 50/s, where a listing
/// page (992 points requested) needs nearly the whole bucket: 2,000 variants × 3 locations,
/// enough pages to reach the steady pace (10,000 would take about 40 minutes; the cost is
/// linear in the catalog).
#[tokio::test]
#[ignore = "a measurement for BENCHMARKS.md: about 8 minutes"]
async fn measure_reconciliation_pace_legacy_plan() {
    reconcile(2_000, 1_000.0, 50.0).await;
}
