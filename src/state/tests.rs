//! The laws of the stock state, checked on random inputs.

use std::collections::BTreeMap;

use omnistock_sdk::{
    ChannelId, EventId, LocationId, OrderId, Sku, StockChange, StockEvent, Timestamp,
};
use proptest::prelude::*;
use proptest::sample::Index;

use super::*;

fn channel(name: &str) -> ChannelId {
    ChannelId::new(name).expect("valid channel")
}

fn location(name: &str) -> LocationId {
    LocationId::new(name).expect("valid location")
}

/// Two locations: the store counted by its POS, the warehouse by its WMS; `web` owns nothing.
fn owners() -> BTreeMap<LocationId, ChannelId> {
    BTreeMap::from([
        (location("store"), channel("pos")),
        (location("wh"), channel("wms")),
    ])
}

const CHANNELS: [&str; 3] = ["pos", "wms", "web"];
const LOCATIONS: [&str; 2] = ["store", "wh"];

/// A compact description of one event, turned into a `StockEvent` with a unique id.
#[derive(Clone, Debug)]
enum Op {
    Count {
        ch: usize,
        loc: usize,
        quantity: i64,
    },
    Adjust {
        ch: usize,
        loc: usize,
        by: i64,
    },
    Open {
        ch: usize,
        order: u8,
        loc: usize,
        quantity: u32,
    },
    /// `ch` reports the shipment of `of`'s order line (a warehouse shipping the shop's order
    /// when they differ): `quantity` units of it, or the whole rest when `None`.
    Fulfil {
        ch: usize,
        of: usize,
        order: u8,
        quantity: Option<u32>,
    },
    Cancel {
        ch: usize,
        order: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 0..2usize, 0..50i64).prop_map(|(ch, loc, quantity)| Op::Count {
            ch,
            loc,
            quantity
        }),
        (0..3usize, 0..2usize, -5..5i64).prop_map(|(ch, loc, by)| Op::Adjust { ch, loc, by }),
        (0..3usize, 0..4u8, 0..2usize, 1..5u32).prop_map(|(ch, order, loc, quantity)| Op::Open {
            ch,
            order,
            loc,
            quantity
        }),
        (0..3usize, 0..3usize, 0..4u8, prop::option::of(0..6u32)).prop_map(
            |(ch, of, order, quantity)| Op::Fulfil {
                ch,
                of,
                order,
                quantity
            }
        ),
        (0..3usize, 0..4u8).prop_map(|(ch, order)| Op::Cancel { ch, order }),
    ]
}

/// Events with unique ids and times drawn from a small range, so ties and reorders happen.
fn events() -> impl Strategy<Value = Vec<(usize, StockEvent)>> {
    prop::collection::vec((op(), 0..20i64), 0..40).prop_map(|ops| {
        ops.into_iter()
            .enumerate()
            .map(|(i, (op, time))| to_event(i, op, Timestamp::from_millis(1_000 * time)))
            .collect()
    })
}

fn to_event(i: usize, op: Op, occurred_at: Timestamp) -> (usize, StockEvent) {
    let order = |n: u8| OrderId::new(format!("order-{n}")).expect("valid order");
    let (ch, change) = match op {
        Op::Count { ch, loc, quantity } => (
            ch,
            StockChange::LevelObserved {
                location: location(LOCATIONS[loc]),
                quantity,
            },
        ),
        Op::Adjust { ch, loc, by } => (
            ch,
            StockChange::Adjusted {
                location: location(LOCATIONS[loc]),
                by,
                reason: String::new(),
            },
        ),
        Op::Open {
            ch,
            order: n,
            loc,
            quantity,
        } => (
            ch,
            StockChange::OrderLineOpened {
                order: order(n),
                line: "1".into(),
                location: location(LOCATIONS[loc]),
                quantity,
            },
        ),
        Op::Fulfil {
            ch,
            of,
            order: n,
            quantity,
        } => (
            ch,
            StockChange::OrderLineFulfilled {
                order: order(n),
                line: "1".into(),
                channel: (of != ch).then(|| channel(CHANNELS[of])),
                quantity,
            },
        ),
        Op::Cancel { ch, order: n } => (
            ch,
            StockChange::OrderLineCancelled {
                order: order(n),
                line: "1".into(),
                restocked: true,
            },
        ),
    };
    let event = StockEvent {
        id: EventId::new(format!("e{i}")).expect("valid id"),
        occurred_at,
        sku: Sku::new("MUG").expect("valid sku"),
        change,
    };
    (ch, event)
}

fn apply_all(events: &[(usize, StockEvent)], node: &str) -> SkuState {
    let owners = owners();
    let mut state = SkuState::default();
    for (ch, event) in events {
        let channel = channel(CHANNELS[*ch]);
        let actor = Actor::new(&format!("{}@{node}", CHANNELS[*ch]), 1);
        let input = Input {
            channel: &channel,
            actor: &actor,
            manual: false,
            received_at: Timestamp::EPOCH,
            event,
        };
        let _ = state.apply(&input, &owners);
    }
    state
}

/// Everything a reader or the sync engine can see of a state.
fn observable(state: &SkuState) -> impl PartialEq + std::fmt::Debug {
    let stock: Vec<(LocationId, LocationStock)> = LOCATIONS
        .iter()
        .map(|l| (location(l), state.stock_at(&location(l), 1)))
        .collect();
    (
        stock,
        state.replica.reservations.clone(),
        state.replica.counted_at.clone(),
        state.replica.observed.clone(),
    )
}

/// The same events with ids unique to `node`, as real events from different nodes are.
fn renamed(events: Vec<(usize, StockEvent)>, node: &str) -> Vec<(usize, StockEvent)> {
    events
        .into_iter()
        .map(|(ch, mut e)| {
            e.id = EventId::new(format!("{node}-{}", e.id)).expect("valid id");
            (ch, e)
        })
        .collect()
}

/// The order of `events` rearranged by `picks`, with some events repeated.
fn shuffled_with_duplicates(
    events: &[(usize, StockEvent)],
    picks: &[Index],
) -> Vec<(usize, StockEvent)> {
    let mut rest: Vec<(usize, StockEvent)> = events.to_vec();
    let mut out = Vec::new();
    for pick in picks {
        if rest.is_empty() {
            break;
        }
        let item = rest.remove(pick.index(rest.len()));
        if pick.index(3) == 0 {
            out.push(item.clone());
        }
        out.push(item);
    }
    out.extend(rest);
    out
}

/// Every prefix of `events` that has seen the order shows at most `expected` available at
/// `wh`, and the whole of it ends at exactly `expected` with nothing reserved.
fn subtracted_exactly_once(
    events: &[(usize, StockEvent)],
    expected: i64,
) -> Result<(), TestCaseError> {
    for end in 1..=events.len() {
        let state = apply_all(&events[..end], "a");
        let seen_order = events[..end]
            .iter()
            .any(|(_, e)| matches!(e.change, StockChange::OrderLineOpened { .. }));
        let available = state.stock_at(&location("wh"), 0).available;
        if seen_order {
            prop_assert!(
                available <= expected,
                "prefix {end} shows {available} > {expected}"
            );
        }
    }
    let state = apply_all(events, "a");
    prop_assert_eq!(state.stock_at(&location("wh"), 0).available, expected);
    prop_assert_eq!(state.reserved(&location("wh")), 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_permutation_and_duplication_gives_the_same_state(
        events in events(),
        picks in prop::collection::vec(any::<Index>(), 0..60),
    ) {
        let reference = apply_all(&events, "a");
        let replayed = apply_all(&shuffled_with_duplicates(&events, &picks), "a");
        prop_assert_eq!(observable(&reference), observable(&replayed));
    }

    #[test]
    fn a_duplicate_event_changes_nothing(events in events(), again in any::<Index>()) {
        prop_assume!(!events.is_empty());
        let state = apply_all(&events, "a");
        let (ch, event) = &events[again.index(events.len())];
        let mut twice = state.clone();
        let channel = channel(CHANNELS[*ch]);
        let actor = Actor::new(&format!("{}@a", CHANNELS[*ch]), 1);
        let input = Input { channel: &channel, actor: &actor, manual: false, received_at: Timestamp::EPOCH, event };
        let effect = twice.apply(&input, &owners());
        prop_assert_ne!(effect, Effect::Changed);
        prop_assert_eq!(twice, state);
    }

    #[test]
    fn replica_merge_is_commutative_associative_idempotent(
        a in events(), b in events(), c in events(),
    ) {
        // Three nodes, each writing its own inputs under its own actors.
        let a = apply_all(&renamed(a, "a"), "a").replica;
        let b = apply_all(&renamed(b, "b"), "b").replica;
        let c = apply_all(&renamed(c, "c"), "c").replica;
        prop_assert_eq!(a.clone().merged(&b), b.clone().merged(&a));
        prop_assert_eq!(a.clone().merged(&b).merged(&c), a.clone().merged(&b.clone().merged(&c)));
        prop_assert_eq!(a.clone().merged(&a), a.clone());
        let ab = a.clone().merged(&b);
        prop_assert_eq!(ab.clone().merged(&b), ab);
    }

    #[test]
    fn a_fulfilled_reservation_is_subtracted_exactly_once(
        stock in 5..50i64,
        quantity in 1..5u32,
        order in prop::collection::vec(any::<Index>(), 4),
        duplicate in any::<Index>(),
        shipped_by_warehouse in any::<bool>(),
    ) {
        // The warehouse counts `stock`; a web order takes `quantity`; it ships (reported by
        // the shop, or by the warehouse for the shop's line); the WMS counts again after the
        // shipment. Whatever order these arrive in, the result is
        // `stock - quantity`, and no prefix that has seen the order shows more than that.
        let at = |s: i64| Timestamp::from_millis(1_000 * s);
        let wh = 1usize;
        let mut events = vec![
            to_event(0, Op::Count { ch: 1, loc: wh, quantity: stock }, at(0)),
            to_event(1, Op::Open { ch: 2, order: 7, loc: wh, quantity }, at(1)),
            to_event(2, Op::Fulfil { ch: if shipped_by_warehouse { 1 } else { 2 }, of: 2, order: 7, quantity: None }, at(2)),
            to_event(3, Op::Count { ch: 1, loc: wh, quantity: stock - i64::from(quantity) }, at(3)),
        ];
        events = shuffled_with_duplicates(&events, &order);
        events.push(events[duplicate.index(events.len())].clone());
        subtracted_exactly_once(&events, stock - i64::from(quantity))?;
    }

    #[test]
    fn a_line_shipped_in_parts_is_subtracted_exactly_once(
        stock in 5..50i64,
        quantity in 2..6u32,
        first in 1..6u32,
        rest_named in any::<bool>(),
        shop_says_fulfilled in any::<bool>(),
        extra in 0..3u32,
        order in prop::collection::vec(any::<Index>(), 7),
        duplicate in any::<Index>(),
    ) {
        // As above, but the line ships in two parts, each followed by a WMS count: the
        // first part (clamped to the line), then the rest (named, perhaps over-shipped, or
        // left unnamed); the shop may also say the whole line was fulfilled after the last
        // part. Every prefix that has seen the order shows at most the final number, and
        // the end result is `stock - quantity` with nothing held.
        let first = first.min(quantity - 1);
        let rest = quantity - first;
        let at = |s: i64| Timestamp::from_millis(1_000 * s);
        let wh = 1usize;
        let ship = |quantity| Op::Fulfil { ch: 1, of: 2, order: 7, quantity };
        let mut events = vec![
            to_event(0, Op::Count { ch: 1, loc: wh, quantity: stock }, at(0)),
            to_event(1, Op::Open { ch: 2, order: 7, loc: wh, quantity }, at(1)),
            to_event(2, ship(Some(first)), at(2)),
            to_event(3, Op::Count { ch: 1, loc: wh, quantity: stock - i64::from(first) }, at(3)),
            to_event(4, ship(rest_named.then_some(rest + extra)), at(4)),
            to_event(5, Op::Count { ch: 1, loc: wh, quantity: stock - i64::from(quantity) }, at(6)),
        ];
        if shop_says_fulfilled {
            events.push(to_event(6, Op::Fulfil { ch: 2, of: 2, order: 7, quantity: None }, at(5)));
        }
        events = shuffled_with_duplicates(&events, &order);
        events.push(events[duplicate.index(events.len())].clone());
        subtracted_exactly_once(&events, stock - i64::from(quantity))?;
    }

    #[test]
    fn encoding_round_trips(events in events()) {
        let state = apply_all(&events, "a");
        let decoded = SkuState::decode(&state.encode()).expect("decodes");
        prop_assert_eq!(decoded, state);
    }
}

#[test]
fn non_owner_levels_are_observations_not_stock() {
    let events = vec![
        to_event(
            0,
            Op::Count {
                ch: 0,
                loc: 0,
                quantity: 10,
            },
            Timestamp::from_millis(1),
        ),
        to_event(
            1,
            Op::Count {
                ch: 2,
                loc: 0,
                quantity: 3,
            },
            Timestamp::from_millis(2),
        ),
        to_event(
            2,
            Op::Adjust {
                ch: 2,
                loc: 0,
                by: -4,
            },
            Timestamp::from_millis(3),
        ),
    ];
    let state = apply_all(&events, "a");
    assert_eq!(state.on_hand(&location("store")), 10);
    let seen = &state.replica.observed[&(channel("web"), location("store"))];
    assert_eq!(seen.quantity, 3);
}

#[test]
fn atp_never_goes_below_zero() {
    let events = vec![
        to_event(
            0,
            Op::Count {
                ch: 0,
                loc: 0,
                quantity: 2,
            },
            Timestamp::from_millis(1),
        ),
        to_event(
            1,
            Op::Open {
                ch: 2,
                order: 1,
                loc: 0,
                quantity: 4,
            },
            Timestamp::from_millis(2),
        ),
    ];
    let stock = apply_all(&events, "a").stock_at(&location("store"), 1);
    assert_eq!(
        stock,
        LocationStock {
            on_hand: 2,
            reserved: 4,
            safety: 1,
            available: 0
        }
    );
}

#[test]
fn unknown_format_is_refused_with_a_reason() {
    let err = SkuState::decode(&[9, b'{', b'}']).expect_err("format 9 is unknown");
    assert!(err.to_string().contains("format 9"), "{err}");
    assert!(SkuState::decode(&[1, b'x']).is_err());
    assert!(SkuState::decode(&[]).is_err());
}

/// Issue 7: 3 ordered; 2 ship (the WMS count drops 2) → 1 still reserved; the last one ships
/// (the count drops again) → nothing reserved, and on hand lost each unit once.
#[test]
fn a_partial_shipment_keeps_the_rest_reserved() {
    let at = |s: i64| Timestamp::from_millis(1_000 * s);
    let ship = |quantity| Op::Fulfil {
        ch: 1,
        of: 2,
        order: 7,
        quantity: Some(quantity),
    };
    let count = |quantity| Op::Count {
        ch: 1,
        loc: 1,
        quantity,
    };
    let mut events = vec![
        to_event(0, count(10), at(0)),
        to_event(
            1,
            Op::Open {
                ch: 2,
                order: 7,
                loc: 1,
                quantity: 3,
            },
            at(1),
        ),
    ];
    let wh = location("wh");
    let stock = apply_all(&events, "a").stock_at(&wh, 0);
    assert_eq!((stock.on_hand, stock.reserved, stock.available), (10, 3, 7));

    events.push(to_event(2, ship(2), at(2)));
    let stock = apply_all(&events, "a").stock_at(&wh, 0);
    assert_eq!(
        (stock.on_hand, stock.reserved, stock.available),
        (10, 3, 7),
        "the shipped part is held until the WMS counts it"
    );
    events.push(to_event(3, count(8), at(3)));
    let state = apply_all(&events, "a");
    let stock = state.stock_at(&wh, 0);
    assert_eq!((stock.on_hand, stock.reserved, stock.available), (8, 1, 7));
    let key = state.replica.reservations.keys().next().expect("the line");
    assert_eq!(state.replica.reservations[key].state_name(), "open");

    // A redelivery of the first shipment changes nothing.
    events.push((events[2].0, events[2].1.clone()));
    events.push(to_event(4, ship(1), at(4)));
    events.push(to_event(5, count(7), at(5)));
    let state = apply_all(&events, "a");
    let stock = state.stock_at(&wh, 0);
    assert_eq!((stock.on_hand, stock.reserved, stock.available), (7, 0, 7));
    assert_eq!(state.replica.reservations[key].state_name(), "fulfilled");
}

#[test]
fn a_cancellation_after_a_partial_shipment_releases_only_the_rest() {
    let at = |s: i64| Timestamp::from_millis(1_000 * s);
    let events = vec![
        to_event(
            0,
            Op::Count {
                ch: 1,
                loc: 1,
                quantity: 10,
            },
            at(0),
        ),
        to_event(
            1,
            Op::Open {
                ch: 2,
                order: 7,
                loc: 1,
                quantity: 3,
            },
            at(1),
        ),
        to_event(
            2,
            Op::Fulfil {
                ch: 1,
                of: 2,
                order: 7,
                quantity: Some(2),
            },
            at(2),
        ),
        to_event(3, Op::Cancel { ch: 2, order: 7 }, at(3)),
    ];
    let stock = apply_all(&events, "a").stock_at(&location("wh"), 0);
    assert_eq!(
        (stock.on_hand, stock.reserved, stock.available),
        (10, 2, 8),
        "the 2 shipped stay held until the WMS counts them; the third is free"
    );
}
