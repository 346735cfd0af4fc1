//! The outbox's life after `commit`, each test named for what it checks.

use omnistock_sdk::{ChannelId, Sku, Timestamp};

use super::tests::{channel, commit_events, event, open, push, sku, store_dir};
use super::*;

fn published(quantity: i64) -> Published {
    Published {
        quantity,
        at: Timestamp::from_millis(1_700_000_001_000),
    }
}

fn attempt(expected: i64, value: i64) -> Attempt {
    Attempt {
        expected,
        value,
        at: Timestamp::from_millis(1_700_000_002_000),
    }
}

fn ids(pending: &[(u64, OutboxEntry)]) -> Vec<u64> {
    pending.iter().map(|(id, _)| *id).collect()
}

fn pending(store: &Store, chan: &str) -> Vec<(u64, OutboxEntry)> {
    store.pending(&channel(chan), 100).expect("pending")
}

fn dead(store: &Store, chan: Option<&str>) -> Vec<DeadLetter> {
    let chan = chan.map(channel);
    store.dead_letters(chan.as_ref()).expect("dead letters")
}

#[test]
fn a_commit_writes_events_outbox_and_published_values_together() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let mug = sku("MUG");
    let pushes = [push("shop", "MUG", 4), push("pos", "MUG", 4)];
    let shown = [(channel("pos"), sku("MUG"), published(4))];
    let seqs = store
        .commit(&Commit {
            events: &[event("pos", "e1", "MUG", -1)],
            outbox: &pushes,
            published: &shown,
        })
        .expect("commit");
    assert_eq!(seqs, [1]);
    assert_eq!(pending(&store, "shop"), [(1, pushes[0].clone())]);
    assert_eq!(pending(&store, "pos"), [(2, pushes[1].clone())]);
    assert_eq!(
        store.published(&channel("pos"), &mug).expect("read"),
        Some(published(4))
    );
    assert_eq!(store.enqueue(&[push("shop", "CUP", 1)]).expect("ids"), [3]);
}

#[test]
fn a_commit_without_events_still_enqueues_and_publishes() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let shown = [(channel("shop"), sku("MUG"), published(2))];
    let seqs = store
        .commit(&Commit {
            outbox: &[push("shop", "MUG", 2)],
            published: &shown,
            ..Commit::default()
        })
        .expect("commit");
    assert!(seqs.is_empty());
    assert_eq!(store.last_seq().expect("last seq"), 0);
    assert_eq!(ids(&pending(&store, "shop")), [1]);
    assert_eq!(
        store
            .published(&channel("shop"), &sku("MUG"))
            .expect("read"),
        Some(published(2))
    );
}

#[test]
fn a_commit_refused_for_a_duplicate_event_enqueues_and_publishes_nothing() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let first = [event("pos", "e1", "MUG", -1)];
    commit_events(&store, &first);
    let shown = [(channel("shop"), sku("MUG"), published(9))];
    let err = store
        .commit(&Commit {
            events: &[event("pos", "e2", "MUG", -1), event("pos", "e1", "MUG", -1)],
            outbox: &[push("shop", "MUG", 9)],
            published: &shown,
        })
        .expect_err("duplicate");
    assert!(matches!(err, StoreError::DuplicateEvent { .. }), "{err}");
    assert!(store.all_pending().expect("pending").is_empty());
    assert!(store.all_published().expect("published").is_empty());
    assert_eq!(store.enqueue(&[push("shop", "MUG", 1)]).expect("ids"), [1]);
}

#[test]
fn confirm_removes_ids_and_writes_published_values_together() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let shop = channel("shop");
    store
        .enqueue(&[push("shop", "MUG", 1), push("shop", "CUP", 2)])
        .expect("enqueue");
    store
        .confirm(&shop, &[1, 99], &[(sku("MUG"), published(1))])
        .expect("confirm");
    assert_eq!(ids(&pending(&store, "shop")), [2]);
    assert_eq!(
        store.published(&shop, &sku("MUG")).expect("read"),
        Some(published(1))
    );
    // A second confirmation of the same push still records what the channel shows.
    store
        .confirm(&shop, &[1], &[(sku("MUG"), published(3))])
        .expect("confirm again");
    assert_eq!(
        store.published(&shop, &sku("MUG")).expect("read"),
        Some(published(3))
    );
    assert_eq!(
        store.published(&channel("pos"), &sku("MUG")).expect("read"),
        None
    );
}

#[test]
fn a_recorded_attempt_comes_back_with_its_entry() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let shop = channel("shop");
    store
        .enqueue(&[push("shop", "MUG", 5), push("shop", "CUP", 6)])
        .expect("enqueue");
    store
        .record_attempts(&shop, &[(1, attempt(7, 5))])
        .expect("record");
    store
        .record_attempts(&shop, &[(1, attempt(8, 5))])
        .expect("replace");
    let all = pending(&store, "shop");
    assert_eq!(all[0].1.attempt, Some(attempt(8, 5)));
    assert_eq!(
        (all[0].1.target, &all[0].1.sku),
        (5, &sku("MUG")),
        "the rest of the entry is kept"
    );
    assert_eq!(all[1].1.attempt, None);
}

#[test]
fn an_attempt_on_a_push_no_longer_pending_is_not_an_error() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let shop = channel("shop");
    store.enqueue(&[push("shop", "MUG", 5)]).expect("enqueue");
    store.confirm(&shop, &[1], &[]).expect("confirm");
    store
        .record_attempts(&shop, &[(1, attempt(7, 5))])
        .expect("no-op");
    store
        .record_attempts(&shop, &[(42, attempt(7, 5))])
        .expect("no-op");
    assert!(store.all_pending().expect("pending").is_empty());
}

#[test]
fn an_outbox_record_without_an_attempt_keeps_its_first_form() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let entry = OutboxEntry {
        created_at: Timestamp::from_millis(5),
        ..push("shop", "MUG", 3)
    };
    let first_form = br#"{"sku":"MUG","target":3,"created_at_ms":5}"#;
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(first_form);
    assert_eq!(codec::encode_outbox(&entry).expect("encode"), bytes);
    store
        .outbox
        .insert(codec::outbox_key(&channel("shop"), 7), bytes)
        .expect("raw insert");
    assert_eq!(pending(&store, "shop"), [(7, entry)]);
}

#[test]
fn a_bad_dead_letter_is_named_by_its_key() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    store
        .dead
        .insert(codec::outbox_key(&channel("shop"), 7), &b"\x01{}"[..])
        .expect("raw insert");
    let err = store.dead_letters(None).expect_err("bad record");
    let text = err.to_string();
    assert!(text.contains("dead record \"shop\"/7"), "{text}");
    assert!(text.contains(&dir.display().to_string()), "{text}");
}

#[test]
fn dead_letters_leave_the_outbox_with_their_reason_and_attempt() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let (shop, at) = (channel("shop"), Timestamp::from_millis(1_700_000_003_000));
    store
        .enqueue(&[
            push("shop", "MUG", 1),
            push("shop", "CUP", 2),
            push("shop", "PEN", 3),
            push("pos", "MUG", 4),
        ])
        .expect("enqueue");
    store
        .record_attempts(&shop, &[(1, attempt(0, 1))])
        .expect("record");
    store
        .dead_letter(&shop, &[1, 3, 4, 99], "HTTP 404: no such SKU", at, None)
        .expect("dead letter");
    assert_eq!(ids(&pending(&store, "shop")), [2]);
    assert_eq!(
        ids(&pending(&store, "pos")),
        [4],
        "another channel's id is ignored"
    );
    let letters = dead(&store, Some("shop"));
    let mut first = push("shop", "MUG", 1);
    first.attempt = Some(attempt(0, 1));
    let expected = [
        DeadLetter {
            id: 1,
            entry: first,
            reason: "HTTP 404: no such SKU".to_owned(),
            at,
        },
        DeadLetter {
            id: 3,
            entry: push("shop", "PEN", 3),
            reason: "HTTP 404: no such SKU".to_owned(),
            at,
        },
    ];
    assert_eq!(letters, expected);
    assert_eq!(store.dead_len(&shop).expect("len"), 2);
    assert_eq!(store.dead_len(&channel("pos")).expect("len"), 0);
    assert!(dead(&store, Some("pos")).is_empty());
}

#[test]
fn a_retried_dead_letter_goes_back_behind_the_pending_pushes_without_its_attempt() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let (shop, at) = (channel("shop"), Timestamp::from_millis(1));
    store
        .enqueue(&[push("shop", "MUG", 1), push("shop", "CUP", 2)])
        .expect("enqueue");
    store
        .record_attempts(&shop, &[(1, attempt(0, 1))])
        .expect("record");
    store
        .dead_letter(&shop, &[1], "timeout", at, None)
        .expect("dead");
    store.enqueue(&[push("shop", "PEN", 3)]).expect("enqueue");
    assert_eq!(store.retry_dead(&shop, 1).expect("retry"), Some(4));
    assert_eq!(store.retry_dead(&shop, 1).expect("retry again"), None);
    let now = pending(&store, "shop");
    assert_eq!(ids(&now), [2, 3, 4]);
    assert_eq!(
        now[2].1,
        push("shop", "MUG", 1),
        "same push, attempt cleared"
    );
    assert!(dead(&store, None).is_empty());
    // Dying again, it is filed under its new id.
    store
        .dead_letter(&shop, &[4], "timeout", at, None)
        .expect("dead");
    assert_eq!(
        dead(&store, None).iter().map(|d| d.id).collect::<Vec<_>>(),
        [4]
    );
}

#[test]
fn a_dead_letter_written_before_lost_pushes_were_recorded_still_decodes() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let before = br#"{"entry":{"sku":"MUG","target":3,"created_at_ms":5,"attempt":{"expected":0,"value":3,"at_ms":1700000002000}},"reason":"HTTP 422","at_ms":9}"#;
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(before);
    store
        .dead
        .insert(codec::outbox_key(&channel("shop"), 7), bytes)
        .expect("raw insert");
    let mut entry = OutboxEntry {
        created_at: Timestamp::from_millis(5),
        ..push("shop", "MUG", 3)
    };
    entry.attempt = Some(attempt(0, 3));
    let letter = DeadLetter {
        id: 7,
        entry,
        reason: "HTTP 422".to_owned(),
        at: Timestamp::from_millis(9),
    };
    assert_eq!(dead(&store, None), [letter], "no lost push");
}

#[test]
fn a_lost_push_stays_with_its_entry_through_a_retry_and_a_second_loss() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let (shop, at) = (channel("shop"), Timestamp::from_millis(1));
    store.enqueue(&[push("shop", "MUG", 6)]).expect("enqueue");
    // Asked for 6 while published was 2; the re-send was rejected.
    let first = LostPush {
        asked: 6,
        published: Some(2),
    };
    store
        .dead_letter(&shop, &[1], "rejected", at, Some(&first))
        .expect("dead");
    assert_eq!(dead(&store, None)[0].entry.lost, Some(first));
    let retried = store.retry_dead(&shop, 1).expect("retry").expect("an id");
    assert_eq!(pending(&store, "shop")[0].1.lost, Some(first), "kept");
    // Its own sale moved published to 1; another lost push asked for 4 and was rejected.
    let second = LostPush {
        asked: 4,
        published: Some(1),
    };
    store
        .dead_letter(&shop, &[retried], "rejected", at, Some(&second))
        .expect("dead");
    let merged = LostPush {
        asked: 5,
        published: Some(1),
    };
    assert_eq!(
        dead(&store, None)[0].entry.lost,
        Some(merged),
        "the first, moved by the sale, is higher"
    );
    assert_eq!(merged.may_show(Some(3)), 7, "moved as published moves");
    // A letter without a lost push keeps the one it carried.
    let again = store
        .retry_dead(&shop, retried)
        .expect("retry")
        .expect("an id");
    store
        .dead_letter(&shop, &[again], "HTTP 404", at, None)
        .expect("dead");
    assert_eq!(dead(&store, None)[0].entry.lost, Some(merged));
}

#[test]
fn a_dropped_dead_letter_is_gone_for_good() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    let shop = channel("shop");
    store.enqueue(&[push("shop", "MUG", 1)]).expect("enqueue");
    store
        .dead_letter(&shop, &[1], "gone", Timestamp::from_millis(1), None)
        .expect("dead");
    assert!(!store.drop_dead(&channel("pos"), 1).expect("other channel"));
    assert!(store.drop_dead(&shop, 1).expect("drop"));
    assert!(!store.drop_dead(&shop, 1).expect("drop again"));
    assert_eq!(store.retry_dead(&shop, 1).expect("retry"), None);
    assert_eq!(store.dead_len(&shop).expect("len"), 0);
    assert!(store.all_pending().expect("pending").is_empty());
}

#[test]
fn dead_letters_of_every_channel_come_oldest_first() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    store
        .enqueue(&[
            push("shop", "MUG", 1),
            push("pos", "MUG", 2),
            push("shop", "CUP", 3),
        ])
        .expect("enqueue");
    let at = Timestamp::from_millis;
    store
        .dead_letter(&channel("shop"), &[3], "late", at(30), None)
        .expect("dead");
    store
        .dead_letter(&channel("pos"), &[2], "early", at(10), None)
        .expect("dead");
    store
        .dead_letter(&channel("shop"), &[1], "middle", at(20), None)
        .expect("dead");
    let order: Vec<_> = dead(&store, None).into_iter().map(|d| d.reason).collect();
    assert_eq!(order, ["early", "middle", "late"]);
    let shop: Vec<_> = dead(&store, Some("shop")).iter().map(|d| d.id).collect();
    assert_eq!(shop, [1, 3]);
}

#[test]
fn all_pending_and_all_published_are_by_channel_name_then_id_or_sku() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    // Keys put shorter names first; the listing must not.
    let names = ["shop-2", "pos", "a-long-channel", "shop"];
    let pushes: Vec<_> = names.iter().map(|n| push(n, "MUG", 1)).collect();
    store.enqueue(&pushes).expect("enqueue");
    store.enqueue(&[push("pos", "CUP", 2)]).expect("enqueue");
    let listed: Vec<_> = store
        .all_pending()
        .expect("pending")
        .into_iter()
        .map(|(id, e)| (e.channel.to_string(), id))
        .collect();
    let expected = [
        ("a-long-channel", 3),
        ("pos", 2),
        ("pos", 5),
        ("shop", 4),
        ("shop-2", 1),
    ];
    assert_eq!(listed, expected.map(|(c, id)| (c.to_owned(), id)));

    let shown: Vec<(ChannelId, Sku, Published)> = [("shop", "MUG"), ("pos", "MUG"), ("pos", "CUP")]
        .iter()
        .map(|(c, s)| (channel(c), sku(s), published(1)))
        .collect();
    store
        .commit(&Commit {
            published: &shown,
            ..Commit::default()
        })
        .expect("commit");
    let listed: Vec<_> = store
        .all_published()
        .expect("published")
        .into_iter()
        .map(|(c, s, _)| format!("{c}/{s}"))
        .collect();
    assert_eq!(listed, ["pos/CUP", "pos/MUG", "shop/MUG"]);
}

#[test]
fn pause_flags_are_set_and_cleared_per_channel() {
    let (_tmp, dir) = store_dir();
    let store = open(&dir);
    assert!(store.paused_channels().expect("paused").is_empty());
    store.set_paused(&channel("shop"), true).expect("pause");
    store.set_paused(&channel("pos"), true).expect("pause");
    store.set_paused(&channel("pos"), false).expect("resume");
    store.set_paused(&channel("web"), false).expect("resume");
    let paused = store.paused_channels().expect("paused");
    assert_eq!(paused.into_iter().collect::<Vec<_>>(), [channel("shop")]);
}

#[tokio::test]
async fn the_outbox_dead_letters_and_pause_flags_survive_reopen_after_sync() {
    let (_tmp, dir) = store_dir();
    let shop = channel("shop");
    let shown = [(channel("pos"), sku("MUG"), published(4))];
    let died = Timestamp::from_millis(77);
    {
        let store = open(&dir);
        store
            .commit(&Commit {
                events: &[event("pos", "e1", "MUG", -1)],
                outbox: &[
                    push("shop", "MUG", 4),
                    push("shop", "CUP", 5),
                    push("shop", "PEN", 6),
                ],
                published: &shown,
            })
            .expect("commit");
        store
            .record_attempts(&shop, &[(1, attempt(3, 4))])
            .expect("record");
        store
            .confirm(&shop, &[2], &[(sku("CUP"), published(5))])
            .expect("confirm");
        store
            .dead_letter(&shop, &[3], "HTTP 422", died, None)
            .expect("dead");
        store.set_paused(&shop, true).expect("pause");
        store.sync().await.expect("sync");
    }
    let store = open(&dir);
    let mut attempted = push("shop", "MUG", 4);
    attempted.attempt = Some(attempt(3, 4));
    assert_eq!(store.all_pending().expect("pending"), [(1, attempted)]);
    let published: Vec<_> = store
        .all_published()
        .expect("published")
        .into_iter()
        .map(|(c, s, v)| (c.to_string(), s.to_string(), v.quantity))
        .collect();
    assert_eq!(
        published,
        [
            ("pos".to_owned(), "MUG".to_owned(), 4),
            ("shop".to_owned(), "CUP".to_owned(), 5)
        ]
    );
    let letters = dead(&store, None);
    assert_eq!(
        letters
            .iter()
            .map(|d| (d.id, d.reason.as_str(), d.at))
            .collect::<Vec<_>>(),
        [(3, "HTTP 422", died)]
    );
    let paused = store.paused_channels().expect("paused");
    assert_eq!(paused.iter().collect::<Vec<_>>(), [&shop]);
    assert_eq!(store.last_seq().expect("last seq"), 1);
    // Ids go on from where they were: a retried dead letter does not reuse one.
    assert_eq!(store.retry_dead(&shop, 3).expect("retry"), Some(4));
}
