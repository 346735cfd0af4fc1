//! Durable before acknowledged: a `kill -9` in the middle of a burst loses no acknowledged
//! event and doubles none.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Api, POS_SECRET, Site, adjusted, event};
use tokio::sync::Mutex;

const SKUS: usize = 10;
const WORKERS: usize = 16;
const EVENTS_PER_REQUEST: usize = 5;

fn sku(i: usize) -> String {
    format!("BURST-{}", i % SKUS)
}

/// Event `i` adds one unit of `sku(i)` at the store.
fn burst_event(i: usize) -> serde_json::Value {
    event(
        &format!("burst-{i}"),
        "2026-11-23T10:00:00Z",
        &sku(i),
        adjusted("store", 1),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_kill_9_exactly_once() {
    let site = Site::new();
    let daemon = site.start();
    let api = Api::new(&daemon.url);

    // A burst from many concurrent senders; each request is 5 events, some sent twice.
    let next = Arc::new(AtomicUsize::new(0));
    let acked: Arc<Mutex<Vec<usize>>> = Arc::default();
    let sent: Arc<Mutex<Vec<usize>>> = Arc::default();
    let mut senders = Vec::new();
    for worker in 0..WORKERS {
        let (api, next, acked, sent) = (api.clone(), next.clone(), acked.clone(), sent.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let first = next.fetch_add(EVENTS_PER_REQUEST, Ordering::SeqCst);
                let ids: Vec<usize> = (first..first + EVENTS_PER_REQUEST).collect();
                sent.lock().await.extend(&ids);
                let events = ids.iter().map(|&i| burst_event(i)).collect();
                match api.post_events("pos", POS_SECRET, events).await {
                    Ok((200, _)) => {
                        acked.lock().await.extend(&ids);
                        if worker % 4 == 0 {
                            // A sender that retries a request it already got an answer to.
                            let again = ids.iter().rev().map(|&i| burst_event(i)).collect();
                            let _ = api.post_events("pos", POS_SECRET, again).await;
                        }
                    }
                    Ok((status, body)) => panic!("unexpected answer {status}: {body}"),
                    Err(_) => return, // The daemon died under us.
                }
            }
        }));
    }
    // Let the burst run until enough events are acknowledged, then kill the daemon mid-flight.
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        if acked.lock().await.len() >= 2_000 {
            break;
        }
    }
    daemon.kill_9();
    for sender in senders {
        let _ = sender.await;
    }
    let acked = acked.lock().await.clone();
    let sent = sent.lock().await.clone();
    assert!(
        sent.len() > acked.len(),
        "the kill should interrupt requests in flight"
    );

    // Restart on the same store: every acknowledged event is there, none twice.
    let daemon = site.start();
    let api = Api::new(&daemon.url);
    let count = |ids: &[usize]| {
        let mut per_sku: BTreeMap<String, i64> = BTreeMap::new();
        for &i in ids {
            *per_sku.entry(sku(i)).or_default() += 1;
        }
        per_sku
    };
    let acked_per_sku = count(&acked);
    let sent_per_sku = count(&sent);
    for i in 0..SKUS {
        let on_hand = api.on_hand(&sku(i), "store").await;
        let (low, high) = (
            acked_per_sku.get(&sku(i)).copied().unwrap_or(0),
            sent_per_sku[&sku(i)],
        );
        assert!(
            low <= on_hand && on_hand <= high,
            "{}: on hand {on_hand}, acknowledged {low}, sent {high}",
            sku(i)
        );
    }

    // Every sender now retries everything it ever sent: each event ends up counted once.
    for chunk in sent.chunks(200) {
        let events = chunk.iter().map(|&i| burst_event(i)).collect();
        let (status, body) = api
            .post_events("pos", POS_SECRET, events)
            .await
            .expect("retry");
        assert_eq!(status, 200, "{body}");
    }
    for i in 0..SKUS {
        assert_eq!(
            api.on_hand(&sku(i), "store").await,
            sent_per_sku[&sku(i)],
            "{}",
            sku(i)
        );
    }
}
