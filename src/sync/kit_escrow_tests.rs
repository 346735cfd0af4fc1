//! A strict channel's kit raise waits, like any raise, for the kit lowers that pay for it
//! (`sync::escrow`): the escrow caps it, and the lower's confirmation plans it again, kit
//! numbers coming from the components' states (`Writer::plan_and_commit`).

use std::collections::BTreeMap;
use std::sync::Arc;

use omnistock_sdk::{ChannelId, OrderId, Sku, StockChange, Timestamp};

use super::connectors::PushSide;
use super::lost_answer_tests::{reopen, strict_pair};
use super::simulation::{SimChannel, SimHandle, id};
use super::test_engine::start_stepped;
use super::test_engine::{allocation_side, mug_submission};
use crate::clock::ManualClock;
use crate::config::{Config, Kit};
use crate::ingest::Ingest;
use crate::store::Store;

/// 10 MUGs received at the warehouse.
fn received() -> StockChange {
    StockChange::Adjusted {
        location: id("wh"),
        by: 10,
        reason: "received".into(),
    }
}

/// `channel` reports `change` of MUG at the warehouse, as event `n`.
async fn post(ingest: &Ingest, channel: &str, n: i64, change: StockChange) {
    let submission = mug_submission(channel, &format!("e{n}"), 1_000 * n, change);
    ingest.submit(submission).await.expect("accepted");
}

/// The push sides of `a` and `b`, each a channel without failures that lists GIFTBOX too.
fn sides(config: &Config, channels: &[Arc<SimChannel>; 2]) -> BTreeMap<ChannelId, PushSide> {
    ["a", "b"]
        .into_iter()
        .zip(channels)
        .map(|(name, channel)| {
            channel.levels().insert("GIFTBOX".to_owned(), 0);
            let connector = Arc::new(SimHandle(channel.clone(), id("wh")));
            let side = allocation_side(config, &id(name), id("wh"), connector);
            (id(name), side)
        })
        .collect()
}

#[tokio::test]
async fn a_kit_raise_capped_by_a_pending_kit_lower_is_pushed_once_the_lower_is_confirmed() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut config = strict_pair(dir.path().join("state"));
    config.kits.insert(
        id("GIFTBOX"),
        Kit {
            components: vec![(id("MUG"), 1)],
        },
    );
    let config = Arc::new(config);
    let store = Arc::new(Store::open(&config.state_dir).expect("store"));
    let channels = [
        Arc::new(SimChannel::new(1, 0)),
        Arc::new(SimChannel::new(2, 0)),
    ];
    let shows = |channel: usize, sku: &str| -> i64 {
        channels[channel]
            .levels()
            .get(sku)
            .copied()
            .unwrap_or_default()
    };
    let clock = Arc::new(ManualClock::at(Timestamp::from_millis(1_000_000)));
    let (engine, mut pushers, ingest) =
        start_stepped(&config, &store, sides(&config, &channels), clock, 5);
    let mut replans = engine.published.escrow().replans();

    // 10 MUGs: 5 each, of MUGs and of GIFTBOXes.
    post(&ingest, "wms", 1, received()).await;
    for (_, pusher) in &mut pushers {
        pusher.step().await;
    }
    assert_eq!((shows(0, "GIFTBOX"), shows(1, "GIFTBOX")), (5, 5));

    // `a` sells 2 MUGs: of the 8 left its share is 6, `b`'s 2. `a`'s kit raise to 6 must
    // wait while `b` may still show 5 GIFTBOXes.
    *channels[0].levels().entry("MUG".to_owned()).or_default() -= 2;
    let sale = StockChange::OrderLineOpened {
        order: OrderId::new("a1").expect("order"),
        line: "1".into(),
        location: id("wh"),
        quantity: 2,
    };
    post(&ingest, "a", 2, sale).await;
    pushers[0].1.step().await;
    assert_eq!(shows(0, "GIFTBOX"), 5, "capped: 5 + 5 of 8 kits are held");

    // `b`'s lowers are confirmed: the escrow plans `a`'s SKUs again, its kit among them.
    pushers[1].1.step().await;
    assert_eq!((shows(1, "MUG"), shows(1, "GIFTBOX")), (2, 2));
    let mut replanned = Vec::new();
    while let Ok((channel, sku)) = replans.try_recv() {
        replanned.push(sku.clone());
        ingest.replan(channel, vec![sku]).await.expect("replanned");
    }
    assert!(replanned.contains(&id::<Sku>("GIFTBOX")), "{replanned:?}");
    pushers[0].1.step().await;
    assert_eq!((shows(0, "MUG"), shows(0, "GIFTBOX")), (6, 6));
}

/// A kit has no state: the plans made at start (and on a reload) for every SKU must plan
/// the kits too, from their components, or a kit added to the config shows nothing until
/// one of its components next changes.
#[tokio::test]
async fn a_kit_added_while_stopped_is_pushed_at_start() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = Arc::new(strict_pair(dir.path().join("state")));
    let store = Arc::new(Store::open(&config.state_dir).expect("store"));
    let channels = [
        Arc::new(SimChannel::new(1, 0)),
        Arc::new(SimChannel::new(2, 0)),
    ];
    let kits = |channels: &[Arc<SimChannel>; 2]| {
        channels
            .each_ref()
            .map(|c| c.levels().get("GIFTBOX").copied())
    };
    let clock = Arc::new(ManualClock::at(Timestamp::from_millis(1_000_000)));
    let (engine, mut pushers, ingest) =
        start_stepped(&config, &store, sides(&config, &channels), clock.clone(), 6);
    post(&ingest, "wms", 1, received()).await;
    for (_, pusher) in &mut pushers {
        pusher.step().await;
    }
    assert_eq!(kits(&channels), [Some(0), Some(0)], "not a kit yet");

    drop((engine, pushers, ingest));
    let store = reopen(store, &config).await;
    let mut with_kit = (*config).clone();
    with_kit.kits.insert(
        id("GIFTBOX"),
        Kit {
            components: vec![(id("MUG"), 1)],
        },
    );
    let config = Arc::new(with_kit);
    let (_engine, mut pushers, ingest) =
        start_stepped(&config, &store, sides(&config, &channels), clock, 7);
    assert!(
        ingest.ping(std::time::Duration::from_secs(5)).await,
        "the writer planned at start"
    );
    for (_, pusher) in &mut pushers {
        pusher.step().await;
    }
    assert_eq!(
        kits(&channels),
        [Some(5), Some(5)],
        "5 MUGs each: 5 kits each"
    );
}
