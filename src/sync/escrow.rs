//! Strict channels while pushes are in flight: a raise waits until the lowers that pay for it
//! are confirmed, so the numbers strict channels may show never add up to more than their
//! location's ATP (DESIGN.md "Allocation", docs/design-notes.md "strict").
//!
//! A strict channel *holds* `max(published, every target still pending for it)`: whatever
//! push is in flight, it shows at most that (plus nothing: its own sales only lower it).
//! A push given up on after its answer was lost may have applied: the value it asked for
//! stays in the hold until a later push of the SKU is confirmed. Its dead letter records it
//! ([`LostPush`](crate::store::LostPush)), so a restart holds it again
//! ([`Escrow::rebuilt`]) and plans a push of the SKU, whose confirmation clears it
//! ([`Escrow::doubted`]). The writer caps each planned target ([`Escrow::cap`]): a lower is
//! always planned as is (it can only shrink the hold, once confirmed); a raise gets at most
//! what the location's ATP leaves above the holds of every strict channel there, its own
//! included; a kit's ATP is the kits its components allow there. A raise cut short is remembered; when a pusher confirms a push that shrinks its
//! channel's hold, the SKU is planned again for the waiting channels ([`forward_replans`]),
//! and their pushers are woken.
//!
//! Pending targets are counted, not listed: the writer counts each entry it plans *before*
//! committing it (so no pusher can settle one that is not counted yet), the pushers count
//! the entries they confirm or dead-letter; while a channel has any pending for a SKU, the
//! highest target planned since it last had none (its ceiling) is part of its hold.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use omnistock_sdk::{ChannelId, LocationId, Sku};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{Config, Policy};
use crate::ingest::Ingest;
use crate::kits;
use crate::state::SkuState;
use crate::store::{DeadLetter, OutboxEntry};

/// The shared escrow ledger: pending targets per channel and SKU, and the strict channels
/// whose raise waits for a giver.
#[derive(Clone, Default)]
pub struct Escrow(Arc<Mutex<Ledger>>);

#[derive(Default)]
struct Ledger {
    pending: HashMap<(ChannelId, Sku), Outstanding>,
    /// What a channel may show above `published` after a push whose answer was lost was
    /// dead-lettered: the lost send may have applied. Kept until a push of the SKU is
    /// confirmed (its compare read what the channel really shows).
    unsure: HashMap<(ChannelId, Sku), i64>,
    /// The own moves of the commit being prepared, undone if its commit fails.
    own_moves: OwnMoves,
    /// Per channel and SKU without a published value yet (no push of it confirmed): the sum
    /// of the channel's own moves since its pusher first read it. A first push's
    /// confirmation adds those made since its read, as later ones add what `published`
    /// moved by ([`Escrow::unpublished_moves`]).
    unpublished: HashMap<(ChannelId, Sku), i64>,
    /// Per SKU, the strict channels planned below their share.
    waiting: HashMap<Sku, BTreeSet<ChannelId>>,
    replans: Option<mpsc::UnboundedSender<(ChannelId, Sku)>>,
}

/// The moves [`Escrow::own_moved`] made for one commit. The writer calls `own_moved` for a
/// commit, then `planned` once (which seals them), then `unplanned` only if the commit
/// failed (which undoes them): a rolled-back group is applied again when its channel
/// retries, and must not move the ceilings twice.
#[derive(Default)]
struct OwnMoves {
    moves: Vec<((ChannelId, Sku), i64)>,
    /// `planned` was called since: the moves belong to a commit made or being made.
    sealed: bool,
}

/// Entries planned and settled for one channel and SKU, and the highest target among those
/// that may still be pending.
#[derive(Clone, Copy, Debug, Default)]
struct Outstanding {
    planned: u64,
    settled: u64,
    ceiling: i64,
}

impl Escrow {
    /// The ledger as the store leaves it at start: the entries still pending counted, and
    /// what the lost pushes recorded on dead letters (and on pending entries a retry put
    /// back) may have left on their channels held again, moved as `published` (the values
    /// now) moved since. The store cannot tell whether a push was confirmed since, which
    /// clears a doubt: a rebuilt doubt may be too high, never too low, until the push the
    /// writer plans at start for each ([`Escrow::doubted`]) is confirmed.
    pub fn rebuilt(
        pending: &[(u64, OutboxEntry)],
        dead: &[DeadLetter],
        published: impl Fn(&ChannelId, &Sku) -> Option<i64>,
    ) -> Self {
        let escrow = Self::default();
        escrow.planned(pending.iter().map(|(_, e)| e));
        let entries = pending.iter().map(|(_, e)| e);
        let mut ledger = escrow.ledger();
        for entry in entries.chain(dead.iter().map(|d| &d.entry)) {
            let Some(lost) = entry.lost else {
                continue;
            };
            let now = published(&entry.channel, &entry.sku);
            let key = (entry.channel.clone(), entry.sku.clone());
            raise_doubt(&mut ledger, key, lost.may_show(now), now);
        }
        drop(ledger);
        escrow
    }

    /// The channels and SKUs whose hold keeps what a lost push may have left: the writer
    /// plans a push of each at start, so a confirmation clears the doubt (a channel in sync
    /// would otherwise keep the others capped until its SKU next changes).
    pub fn doubted(&self) -> Vec<(ChannelId, Sku)> {
        let mut doubted: Vec<_> = self.ledger().unsure.keys().cloned().collect();
        doubted.sort();
        doubted
    }

    /// Whether `channel`'s hold of `sku` keeps what a lost push may have left on it.
    pub fn doubts(&self, channel: &ChannelId, sku: &Sku) -> bool {
        self.ledger()
            .unsure
            .contains_key(&(channel.clone(), sku.clone()))
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where the SKUs to plan again for waiting channels are sent; [`forward_replans`] reads
    /// it. A second call replaces the first receiver.
    pub fn replans(&self) -> mpsc::UnboundedReceiver<(ChannelId, Sku)> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.ledger().replans = Some(sender);
        receiver
    }

    /// What `channel` may show of `sku` (plus its unseen sales) whatever push lands:
    /// `published` (0 before the first push), or higher while a higher target is pending.
    pub fn hold(&self, channel: &ChannelId, sku: &Sku, published: Option<i64>) -> i64 {
        hold_in(&self.ledger(), channel, sku, published)
    }

    /// Counts entries about to be committed. Call before the commit.
    pub fn planned<'a>(&self, entries: impl IntoIterator<Item = &'a OutboxEntry>) {
        let mut ledger = self.ledger();
        if ledger.own_moves.sealed {
            // The previous commit went through: a commit without own moves begins.
            ledger.own_moves.moves.clear();
        }
        ledger.own_moves.sealed = true;
        for entry in entries {
            let key = (entry.channel.clone(), entry.sku.clone());
            let o = ledger.pending.entry(key).or_default();
            o.ceiling = match o.settled >= o.planned {
                true => entry.target,
                false => o.ceiling.max(entry.target),
            };
            o.planned += 1;
        }
    }

    /// The channel's own activity is about to move its `published` value by `by` (called
    /// before the commit; before it has one, what its number moved by, which is counted:
    /// [`Escrow::unpublished_moves`]), and the ATP with it: the ceiling moves by as much. A
    /// rise (a cancellation it restocked): a pending push that lands now shows that much
    /// more too (the pusher adds what `published` moved since its read). A fall (its own
    /// order): a pending push lands that much lower — compared against a read taken before
    /// the sale it is refused as stale, and one computed after it keeps the sale in its
    /// value — so the hold falls with the ATP. Left in place, the ceiling would keep the sold units in
    /// the hold while the ATP no longer has them, and the writer would cap the raise of a
    /// channel that still shows them against a hold that is already gone.
    /// What a dead-lettered push may have left on the channel moves the same way. Call it
    /// before [`Escrow::planned`] for the same commit; [`Escrow::unplanned`] undoes it.
    pub fn own_moved(&self, channel: &ChannelId, sku: &Sku, by: i64) {
        let mut ledger = self.ledger();
        if ledger.own_moves.sealed {
            // The previous commit went through: these moves start the next one.
            ledger.own_moves = OwnMoves::default();
        }
        let key = (channel.clone(), sku.clone());
        move_ceiling(&mut ledger, &key, by);
        ledger.own_moves.moves.push((key, by));
    }

    /// Where the own moves of `channel` on `sku`, which has no published value yet, stand:
    /// counted from the first call on, until a push of the SKU is confirmed. A pusher reads
    /// it with the outbox; the difference when it confirms is what the channel's own orders
    /// moved its number by meanwhile, which the value read from the channel does not show.
    pub fn unpublished_moves(&self, channel: &ChannelId, sku: &Sku) -> i64 {
        let key = (channel.clone(), sku.clone());
        *self.ledger().unpublished.entry(key).or_insert(0)
    }

    /// Uncounts entries whose commit failed, and undoes the own moves made for it.
    pub fn unplanned(&self, entries: &[OutboxEntry]) {
        let mut ledger = self.ledger();
        let own_moves = std::mem::take(&mut ledger.own_moves);
        for (key, by) in own_moves.moves.iter().filter(|_| own_moves.sealed) {
            move_ceiling(&mut ledger, key, -by);
        }
        for entry in entries {
            let key = (entry.channel.clone(), entry.sku.clone());
            if let Some(o) = ledger.pending.get_mut(&key) {
                o.planned = o.planned.saturating_sub(1);
                if o.settled >= o.planned {
                    ledger.pending.remove(&key);
                }
            }
        }
    }

    /// A pusher confirmed `count` entries of `sku`, and `published` moved from `before` to
    /// `after`. If the channel's hold shrank, the SKU is planned again for every other
    /// channel waiting on it.
    pub fn settled(
        &self,
        channel: &ChannelId,
        sku: &Sku,
        count: usize,
        before: Option<i64>,
        after: Option<i64>,
    ) {
        // A confirmed push read what the channel shows: nothing left to doubt.
        self.settle(channel, sku, count, (before, after), Doubt::Cleared);
    }

    /// A pusher dead-lettered `count` entries of `sku`, `published` being `published`. If the
    /// push given up on was one whose earlier answer was lost, the channel may show the value
    /// it asked for (`may_show`): that stays in the hold until a push of the SKU is
    /// confirmed.
    pub fn dead_lettered(
        &self,
        channel: &ChannelId,
        sku: &Sku,
        count: usize,
        published: Option<i64>,
        may_show: Option<i64>,
    ) {
        let doubt = may_show.map_or(Doubt::Kept, Doubt::Raised);
        self.settle(channel, sku, count, (published, published), doubt);
    }

    fn settle(
        &self,
        channel: &ChannelId,
        sku: &Sku,
        count: usize,
        (before, after): (Option<i64>, Option<i64>),
        doubt: Doubt,
    ) {
        let mut ledger = self.ledger();
        let held = hold_in(&ledger, channel, sku, before);
        let key = (channel.clone(), sku.clone());
        match doubt {
            Doubt::Cleared => {
                ledger.unsure.remove(&key);
                // `published` has a value from now on: own moves move it.
                ledger.unpublished.remove(&key);
            }
            Doubt::Raised(value) => raise_doubt(&mut ledger, key.clone(), value, after),
            Doubt::Kept => {}
        }
        if let Some(o) = ledger.pending.get_mut(&key) {
            o.settled += count as u64;
            if o.settled >= o.planned {
                ledger.pending.remove(&key);
            }
        }
        if hold_in(&ledger, channel, sku, after) >= held {
            return;
        }
        let (Some(waiting), Some(replans)) = (ledger.waiting.get(sku), &ledger.replans) else {
            return;
        };
        for receiver in waiting.iter().filter(|r| *r != channel) {
            // A closed receiver means the daemon is stopping: nothing left to plan.
            let _ = replans.send((receiver.clone(), sku.clone()));
        }
    }

    /// Caps the raises among `entries` (just planned) so that, at each location, the holds of
    /// the strict channels selling from it never sum to more than its ATP. A kit's ATP is
    /// the kits its components allow there ([`kits::available_at`]); its holds are the
    /// channels' holds of the kit itself. An entry capped down to what was last planned for
    /// its channel is dropped, unless `moved` forces it.
    pub fn cap(
        &self,
        entries: Vec<OutboxEntry>,
        input: &CapInput<'_>,
        last: impl Fn(&ChannelId, &Sku) -> Option<i64>,
    ) -> Vec<OutboxEntry> {
        let strict = |c: &ChannelId| {
            input
                .config
                .channels
                .get(c)
                .is_some_and(|c| c.policy == Policy::Strict)
        };
        if !entries.iter().any(|e| strict(&e.channel)) {
            return entries;
        }
        let mut ledger = self.ledger();
        let mut rooms: HashMap<(Sku, &LocationId), i64> = HashMap::new();
        let mut capped = Vec::with_capacity(entries.len());
        for mut entry in entries {
            let location = input
                .config
                .channels
                .get(&entry.channel)
                .filter(|c| c.policy == Policy::Strict)
                .and_then(|c| c.sells_from.first());
            let Some(location) = location else {
                capped.push(entry);
                continue;
            };
            let published = |c: &ChannelId| (input.published)(c, &entry.sku);
            let held = hold_in(
                &ledger,
                &entry.channel,
                &entry.sku,
                published(&entry.channel),
            );
            let room = rooms
                .entry((entry.sku.clone(), location))
                .or_insert_with(|| {
                    let atp = atp_at(input, &entry.sku, location);
                    let holds: i64 = input
                        .config
                        .channels
                        .iter()
                        .filter(|(_, c)| {
                            c.policy == Policy::Strict && c.sells_from.contains(location)
                        })
                        .map(|(c, _)| hold_in(&ledger, c, &entry.sku, published(c)))
                        .sum();
                    atp - holds
                });
            let waiting = ledger.waiting.entry(entry.sku.clone()).or_default();
            if entry.target > held {
                let raise = (entry.target - held).min((*room).max(0));
                *room -= raise;
                if held + raise < entry.target {
                    waiting.insert(entry.channel.clone());
                } else {
                    waiting.remove(&entry.channel);
                }
                entry.target = held + raise;
            } else {
                waiting.remove(&entry.channel);
            }
            let key = (entry.channel.clone(), entry.sku.clone());
            if last(&entry.channel, &entry.sku) == Some(entry.target) && !input.moved.contains(&key)
            {
                continue;
            }
            capped.push(entry);
        }
        ledger.waiting.retain(|_, w| !w.is_empty());
        capped
    }
}

/// What a settlement does to what the channel may show above `published`.
enum Doubt {
    Cleared,
    Raised(i64),
    Kept,
}

/// What [`Escrow::cap`] reads: the config, the SKUs' states (for a kit, its components'),
/// the published values (as the commit leaves them: a channel's own new orders already
/// lowered them) and the pairs whose push is forced.
pub struct CapInput<'a> {
    pub config: &'a Config,
    pub states: &'a HashMap<Sku, SkuState>,
    pub published: &'a dyn Fn(&ChannelId, &Sku) -> Option<i64>,
    pub moved: &'a [(ChannelId, Sku)],
}

/// `sku`'s ATP at `location`. A kit has no state of its own: its ATP is the kits its
/// components' ATPs there allow, which the strict channels' kit targets (their shares of the
/// components) already fit under.
fn atp_at(input: &CapInput<'_>, sku: &Sku, location: &LocationId) -> i64 {
    if let Some(kit) = input.config.kits.get(sku) {
        return kits::available_at(kit, location, |c| input.states.get(c), input.config);
    }
    input.states.get(sku).map_or(0, |state| {
        let safety = input.config.safety(sku, location);
        state.stock_at(location, safety).available
    })
}

/// Moves what `key`'s channel may show because of pushes in flight or given up on, and
/// counts the move if the channel has no published value yet.
fn move_ceiling(ledger: &mut Ledger, key: &(ChannelId, Sku), by: i64) {
    if let Some(o) = ledger.pending.get_mut(key) {
        o.ceiling += by;
    }
    if let Some(unsure) = ledger.unsure.get_mut(key) {
        *unsure += by;
    }
    if let Some(counted) = ledger.unpublished.get_mut(key) {
        *counted += by;
    }
}

/// The channel may show `value` of the SKU, whatever `published` says: held if above it.
fn raise_doubt(ledger: &mut Ledger, key: (ChannelId, Sku), value: i64, published: Option<i64>) {
    if value > published.unwrap_or(0) {
        let unsure = ledger.unsure.entry(key).or_insert(value);
        *unsure = (*unsure).max(value);
    }
}

fn hold_in(ledger: &Ledger, channel: &ChannelId, sku: &Sku, published: Option<i64>) -> i64 {
    let key = (channel.clone(), sku.clone());
    let shown = published
        .unwrap_or(0)
        .max(ledger.unsure.get(&key).copied().unwrap_or(i64::MIN));
    match ledger.pending.get(&key) {
        Some(o) if o.planned > o.settled => shown.max(o.ceiling),
        _ => shown,
    }
}

/// Plans a SKU again for each channel the escrow says is waiting; stops when aborted (the
/// daemon does at shutdown, before draining the writer) or when the escrow is gone.
pub fn forward_replans(escrow: &Escrow, ingest: Ingest) -> JoinHandle<()> {
    let mut replans = escrow.replans();
    tokio::spawn(async move {
        while let Some((channel, sku)) = replans.recv().await {
            if let Err(e) = ingest.replan(channel.clone(), vec![sku.clone()]).await {
                tracing::warn!(channel = %channel, sku = %sku, error = %e, "Planning a strict channel's raise again failed; the next change of the SKU plans it.");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use omnistock_sdk::Timestamp;

    use super::*;

    fn entry(channel: &str, target: i64) -> OutboxEntry {
        OutboxEntry {
            channel: ChannelId::new(channel).expect("id"),
            sku: Sku::new("MUG").expect("sku"),
            target,
            created_at: Timestamp::EPOCH,
            attempt: None,
            lost: None,
        }
    }

    /// Channel `a` and SKU `MUG`, which `entry` pushes.
    fn a_and_mug() -> (ChannelId, Sku) {
        (
            ChannelId::new("a").expect("id"),
            Sku::new("MUG").expect("sku"),
        )
    }

    #[test]
    fn a_pending_target_counts_in_the_hold_until_settled() {
        let escrow = Escrow::default();
        let (a, mug) = a_and_mug();
        escrow.planned([&entry("a", 9), &entry("a", 4)]);
        assert_eq!(
            escrow.hold(&a, &mug, Some(6)),
            9,
            "the higher target may still land"
        );
        escrow.settled(&a, &mug, 1, Some(6), Some(9));
        assert_eq!(escrow.hold(&a, &mug, Some(9)), 9);
        escrow.settled(&a, &mug, 1, Some(9), Some(4));
        assert_eq!(
            escrow.hold(&a, &mug, Some(4)),
            4,
            "nothing pending: what it shows"
        );
        escrow.planned([&entry("a", 2)]);
        assert_eq!(
            escrow.hold(&a, &mug, Some(4)),
            4,
            "a lower waits for its confirmation"
        );
        escrow.unplanned(&[entry("a", 2)]);
        assert_eq!(escrow.hold(&a, &mug, Some(4)), 4);
    }

    #[test]
    fn the_channels_own_sale_lowers_a_pending_ceiling_with_the_atp() {
        // `a` shows 3 with a raise to 4 pending; it sells 2 (the ATP falls by 2): whatever
        // lands now, it shows at most 2, and its hold must not keep the sold units.
        let escrow = Escrow::default();
        let (a, mug) = a_and_mug();
        escrow.planned([&entry("a", 4)]);
        escrow.own_moved(&a, &mug, -2);
        assert_eq!(escrow.hold(&a, &mug, Some(1)), 2);
        escrow.own_moved(&a, &mug, 1);
        assert_eq!(
            escrow.hold(&a, &mug, Some(2)),
            3,
            "a restocked cancellation raises it back"
        );
        escrow.settled(&a, &mug, 1, Some(2), Some(3));
        escrow.own_moved(&a, &mug, -3);
        assert_eq!(
            escrow.hold(&a, &mug, Some(0)),
            0,
            "nothing pending: only published moves"
        );
    }

    #[test]
    fn a_failed_commit_undoes_its_own_moves() {
        let escrow = Escrow::default();
        let (a, mug) = a_and_mug();
        escrow.planned([&entry("a", 4)]);
        // A group with a sale of 2 on `a` and a push for `b`; its commit fails.
        escrow.own_moved(&a, &mug, -2);
        escrow.planned([&entry("b", 1)]);
        escrow.unplanned(&[entry("b", 1)]);
        assert_eq!(escrow.hold(&a, &mug, Some(3)), 4, "as before the group");
        // The channel retries the webhook: the same sale, committed this time.
        escrow.own_moved(&a, &mug, -2);
        escrow.planned([]);
        assert_eq!(escrow.hold(&a, &mug, Some(1)), 2, "lowered once");
        // A later commit without own moves that fails leaves that sale in place.
        escrow.planned([&entry("a", 2)]);
        escrow.unplanned(&[entry("a", 2)]);
        assert_eq!(escrow.hold(&a, &mug, Some(1)), 2);
    }

    #[test]
    fn a_dead_lettered_push_whose_answer_was_lost_stays_in_the_hold() {
        let escrow = Escrow::default();
        let mut replans = escrow.replans();
        let (a, b, mug) = (
            ChannelId::new("a").expect("id"),
            ChannelId::new("b").expect("id"),
            Sku::new("MUG").expect("sku"),
        );
        escrow
            .ledger()
            .waiting
            .insert(mug.clone(), BTreeSet::from([b.clone()]));
        // A raise from 2 to 6: sent, answer lost, sent again, rejected.
        escrow.planned([&entry("a", 6)]);
        escrow.dead_lettered(&a, &mug, 1, Some(2), Some(6));
        assert_eq!(escrow.hold(&a, &mug, Some(2)), 6, "it may have applied");
        assert!(replans.try_recv().is_err(), "nothing freed for b");
        escrow.own_moved(&a, &mug, -1);
        assert_eq!(escrow.hold(&a, &mug, Some(1)), 5, "its own sale lowers it");
        // A later push of the SKU is confirmed: its compare read what `a` really shows.
        escrow.planned([&entry("a", 1)]);
        escrow.settled(&a, &mug, 1, Some(1), Some(1));
        assert_eq!(escrow.hold(&a, &mug, Some(1)), 1);
        assert_eq!(
            replans.try_recv().ok(),
            Some((b, mug)),
            "the doubt freed units"
        );
    }

    /// Strict channels `a` and `b` selling from `wh` (owned by `wms`), kit `GIFTBOX` of two
    /// MUGs, and the states with `mugs` MUGs counted at `wh`.
    fn strict_pair_with_a_kit(mugs: i64) -> (Config, HashMap<Sku, SkuState>) {
        let mut config = crate::config::for_tests_owned(
            "wh",
            "wms",
            &["a", "b"],
            "[kits.GIFTBOX]\ncomponents = { MUG = 2 }\n",
        );
        for (_, channel) in config
            .channels
            .iter_mut()
            .filter(|(c, _)| c.as_str() != "wms")
        {
            channel.policy = Policy::Strict;
        }
        let mug = a_and_mug().1;
        let wh = LocationId::new("wh").expect("location");
        let state = SkuState::counted_for_tests(&mug, &wh, mugs, &config);
        (config, HashMap::from([(mug, state)]))
    }

    #[test]
    fn a_kits_raise_waits_for_the_kit_lower_that_pays_for_it() {
        // 10 MUGs: 5 GIFTBOXes at `wh`. `a` shows 1 and `b` 4; the shares move, `b`'s lower
        // to 2 is pending (it may still show 4) and `a`'s raise to 3 is planned.
        let (config, states) = strict_pair_with_a_kit(10);
        let escrow = Escrow::default();
        let mut replans = escrow.replans();
        let (a, b, kit) = (
            ChannelId::new("a").expect("id"),
            ChannelId::new("b").expect("id"),
            Sku::new("GIFTBOX").expect("sku"),
        );
        let kit_entry = |channel: &str, target| OutboxEntry {
            sku: kit.clone(),
            ..entry(channel, target)
        };
        let last = |c: &ChannelId, _: &Sku| Some(if c == &a { 1 } else { 2 });
        // `a`'s raise to 3, planned while `b`'s published kit number is `b_published`.
        let raise_a = |b_published: i64| {
            let published =
                move |c: &ChannelId, _: &Sku| Some(if c.as_str() == "a" { 1 } else { b_published });
            escrow.cap(
                vec![kit_entry("a", 3)],
                &CapInput {
                    config: &config,
                    states: &states,
                    published: &published,
                    moved: &[],
                },
                last,
            )
        };
        escrow.planned([&kit_entry("b", 2)]);
        let capped = raise_a(4);
        assert!(
            capped.is_empty(),
            "`a` may show no more kits while `b` may still show 4 of 5: {capped:?}"
        );
        escrow.settled(&b, &kit, 1, Some(4), Some(2));
        assert_eq!(
            replans.try_recv().ok(),
            Some((a.clone(), kit.clone())),
            "the confirmed lower frees kits for `a`"
        );
        let capped = raise_a(2);
        assert_eq!(capped.iter().map(|e| e.target).collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn a_giver_that_shrinks_its_hold_replans_the_waiting_receivers() {
        let escrow = Escrow::default();
        let mut replans = escrow.replans();
        let (a, mug) = a_and_mug();
        let b = ChannelId::new("b").expect("id");
        escrow
            .ledger()
            .waiting
            .insert(mug.clone(), BTreeSet::from([a.clone(), b.clone()]));
        escrow.planned([&entry("b", 3)]);
        escrow.dead_lettered(&b, &mug, 1, Some(8), None);
        assert!(
            replans.try_recv().is_err(),
            "a dead-lettered lower frees nothing"
        );
        escrow.planned([&entry("b", 3)]);
        escrow.settled(&b, &mug, 1, Some(8), Some(3));
        assert_eq!(replans.try_recv().ok(), Some((a, mug)));
        assert!(replans.try_recv().is_err(), "never the giver itself");
    }
}
