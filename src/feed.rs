//! Changes out: what each group commit changed, broadcast live to whoever watches (the SSE
//! stream `GET /v1/events/stream`, the dashboard, storefronts).
//!
//! The ingest writer hands each committed group to [`Feed::committed`]: every logged event
//! becomes a `change` item, and every channel whose number for a touched SKU moved becomes an
//! `availability` item. Items go out on a bounded `tokio::sync::broadcast`, so a slow
//! subscriber never slows the writer: one that falls more than [`BUFFER`] items behind is
//! told how many it missed ([`Subscription`]).
//!
//! The last [`REPLAY`] items are also kept in a ring, so a subscriber that reconnects (or
//! fell behind) gets exactly what it missed, or is told to start over ([`Feed::follow`],
//! [`Follower`]: what the SSE stream uses). Items are
//! numbered within one run of the daemon, which has its own random name: an [`ItemId`]
//! names both, so an id from before a restart is recognised as one, not taken for a number
//! of this run.
//!
//! Nothing here is durable and nothing is computed before anyone subscribes: the feed tells
//! what happened since someone first watched; the store and the read API are the truth.
//! From the first subscription on it keeps computing, even while nobody is connected, so a
//! subscriber that comes back misses nothing the ring still holds.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use omnistock_sdk::{ChannelId, Sku, StockEvent, Timestamp};
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use crate::allocation::{self, Conditions};
use crate::config::Config;
use crate::state::SkuState;
use crate::sync::StatusBoard;

/// How many items a subscriber may fall behind before it is told it missed some.
pub const BUFFER: usize = 1024;
/// How many of the last items are kept for a page that just opened.
pub const RECENT: usize = 50;
/// How many of the last items are kept for subscribers that reconnect or fell behind.
pub const REPLAY: usize = 10_000;

/// One thing that happened, numbered in the order the feed sent it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FeedItem {
    /// Increasing within one run of the daemon: the SSE `id:` line.
    pub id: u64,
    /// When the change was committed.
    pub at: Timestamp,
    #[serde(flatten)]
    pub what: What,
}

/// What an item is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum What {
    /// An event a channel reported, now durably logged.
    Change {
        channel: ChannelId,
        sku: Sku,
        /// The event's kind: `adjusted`, `order_line_opened`, …
        kind: &'static str,
        event_id: String,
        /// In words, as `omnistock stock` shows it; says so when it changed no stock.
        summary: String,
    },
    /// A channel's number for a SKU moved (what a storefront shows).
    Availability {
        channel: ChannelId,
        sku: Sku,
        available: i64,
        /// The number before, if the feed knew it (not for the first item about this SKU
        /// since someone started watching).
        previous: Option<i64>,
    },
}

impl What {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Change { .. } => "change",
            Self::Availability { .. } => "availability",
        }
    }

    pub fn sku(&self) -> &Sku {
        match self {
            Self::Change { sku, .. } | Self::Availability { sku, .. } => sku,
        }
    }

    pub fn channel(&self) -> &ChannelId {
        match self {
            Self::Change { channel, .. } | Self::Availability { channel, .. } => channel,
        }
    }
}

/// The broadcast, cheap to clone: the writer publishes, every subscriber gets its own
/// receiver.
#[derive(Clone)]
pub struct Feed(Arc<Inner>);

struct Inner {
    sender: broadcast::Sender<Arc<FeedItem>>,
    state: Mutex<State>,
    /// Set when the daemon drains: every subscription ends, so open streams do not hold
    /// the HTTP server's graceful shutdown.
    closed: watch::Sender<bool>,
    /// The channels' measured sync lags, for adaptive buffers (as the planner has them).
    lags: Option<StatusBoard>,
}

struct State {
    /// This run's name: ids of items sent by another run of the daemon name another one.
    run: String,
    next_id: u64,
    /// Set by the first subscription: from then on every item is computed and kept.
    watched: bool,
    /// Each channel's last number per SKU as the feed told it.
    shown: HashMap<(ChannelId, Sku), i64>,
    /// The last [`REPLAY`] items, oldest first.
    kept: VecDeque<Arc<FeedItem>>,
}

/// An item's id as the SSE stream sends it: `{run}-{number}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemId {
    pub run: String,
    pub number: u64,
}

impl ItemId {
    /// Reads an id the stream sent (a client's `Last-Event-ID`); `None` if it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let (run, number) = text.trim().rsplit_once('-')?;
        Some(Self {
            run: run.to_owned(),
            number: number.parse().ok()?,
        })
    }
}

impl std::fmt::Display for ItemId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.run, self.number)
    }
}

impl Default for Feed {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Feed {
    fn new(lags: Option<StatusBoard>) -> Self {
        let (sender, _) = broadcast::channel(BUFFER);
        let mut run = uuid::Uuid::new_v4().simple().to_string();
        run.truncate(8);
        let state = State {
            run,
            next_id: 0,
            watched: false,
            shown: HashMap::new(),
            kept: VecDeque::new(),
        };
        Self(Arc::new(Inner {
            sender,
            state: Mutex::new(state),
            closed: watch::Sender::new(false),
            lags,
        }))
    }

    /// This run's name, part of every [`ItemId`].
    pub fn run(&self) -> String {
        self.state().run.clone()
    }

    /// A feed whose numbers use the channels' measured sync lags (adaptive buffers), so
    /// they are the numbers the planner plans.
    pub fn with_lags(lags: StatusBoard) -> Self {
        Self::new(Some(lags))
    }

    /// What channel numbers depend on at `now`, as the planner sees it.
    fn conditions(&self, config: &Config, now: Timestamp) -> Conditions {
        let adaptive = config.channels.values().any(|c| c.adaptive_buffer);
        Conditions {
            now,
            lag_seconds: match (&self.0.lags, adaptive) {
                (Some(status), true) => status.lags(),
                _ => Default::default(),
            },
        }
    }

    /// Every item sent from now on, until the feed is closed.
    pub fn subscribe(&self) -> Subscription {
        let mut state = self.state();
        self.subscribe_locked(&mut state)
    }

    fn subscribe_locked(&self, state: &mut State) -> Subscription {
        state.watched = true;
        Subscription {
            items: self.0.sender.subscribe(),
            closed: self.0.closed.subscribe(),
        }
    }

    /// A subscriber that had seen up to the item `last_seen` names (a client's
    /// `Last-Event-ID`; `None`: a new subscriber): it gets what it missed from the ring, then
    /// every item from now on, each once; or, first, [`Followed::Reset`] when what it missed
    /// is no longer all kept or `last_seen` is not an id of this run.
    pub fn follow(&self, last_seen: Option<&str>) -> Follower {
        let mut state = self.state();
        let subscription = self.subscribe_locked(&mut state);
        let missed = match last_seen {
            None => Ok(Vec::new()),
            Some(text) => match ItemId::parse(text) {
                Some(id) if id.run == state.run && id.number < state.next_id => {
                    state.after(Some(id.number)).ok_or(Reset::TooOld)
                }
                _ => Err(Reset::Unknown),
            },
        };
        let (pending, reset) = match missed {
            Ok(items) => (items.into(), None),
            Err(reset) => (VecDeque::new(), Some(reset)),
        };
        Follower {
            feed: self.clone(),
            subscription,
            pending,
            last: state.next_id.checked_sub(1),
            reset,
        }
    }

    /// Ends every subscription, now and to come (the daemon is draining).
    pub fn close(&self) {
        self.0.closed.send_replace(true);
    }

    /// The last items sent (at most [`RECENT`]), oldest first.
    pub fn recent(&self) -> Vec<Arc<FeedItem>> {
        let state = self.state();
        let skip = state.kept.len().saturating_sub(RECENT);
        state.kept.iter().skip(skip).cloned().collect()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Publishes a committed group: `events` as logged (channel, event), and `states` the
    /// touched SKUs' states after the group. Costs nothing until someone subscribes.
    pub fn committed<'a>(
        &self,
        config: &Config,
        at: Timestamp,
        events: impl IntoIterator<Item = (&'a ChannelId, &'a StockEvent)>,
        states: impl IntoIterator<Item = (&'a Sku, &'a SkuState)>,
    ) {
        let mut state = self.state();
        if !state.watched {
            return;
        }
        let states: Vec<(&Sku, &SkuState)> = states.into_iter().collect();
        let conditions = self.conditions(config, at);
        let mut items = Vec::new();
        for (channel, event) in events {
            let summary = states
                .iter()
                .find(|(sku, _)| **sku == event.sku)
                .and_then(|(_, s)| summary_of(s, channel, event))
                .unwrap_or_else(|| format!("{} (changes no stock)", event.change.kind()));
            items.push(What::Change {
                channel: channel.clone(),
                sku: event.sku.clone(),
                kind: event.change.kind(),
                event_id: event.id.to_string(),
                summary,
            });
        }
        for (sku, sku_state) in states {
            let numbers = allocation::availability(sku, sku_state, config, &conditions);
            for (channel, number) in numbers.channels {
                let key = (channel, sku.clone());
                let previous = state.shown.get(&key).copied();
                if previous == Some(number.available) {
                    continue;
                }
                state.shown.insert(key.clone(), number.available);
                items.push(What::Availability {
                    channel: key.0,
                    sku: key.1,
                    available: number.available,
                    previous,
                });
            }
        }
        for what in items {
            let item = Arc::new(FeedItem {
                id: state.next_id,
                at,
                what,
            });
            state.next_id += 1;
            state.kept.push_back(item.clone());
            while state.kept.len() > REPLAY {
                state.kept.pop_front();
            }
            // Only fails when the last subscriber left meanwhile: nobody to tell.
            let _ = self.0.sender.send(item);
        }
    }
}

impl State {
    /// The items after number `after` (`None`: every item of this run), oldest first; `None`
    /// when some of them are no longer kept or `after` was never sent.
    fn after(&self, after: Option<u64>) -> Option<Vec<Arc<FeedItem>>> {
        let first = match after {
            Some(n) if n >= self.next_id => return None,
            Some(n) => n + 1,
            None => 0,
        };
        let oldest = self.kept.front().map_or(self.next_id, |item| item.id);
        let skip = usize::try_from(first.checked_sub(oldest)?).ok()?;
        Some(self.kept.iter().skip(skip).cloned().collect())
    }
}

/// Why a follower must re-read what it shows instead of getting what it missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reset {
    /// Its `Last-Event-ID` is not an id this run of the daemon sent (it restarted since, or
    /// the id is garbled or from the future).
    Unknown,
    /// Some of what it missed is no longer in the ring.
    TooOld,
}

impl Reset {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Unknown => {
                "the last event id is not one of this run of the daemon (it restarted)"
            }
            Self::TooOld => "some of the events missed are no longer kept",
        }
    }
}

/// What a follower gets next.
#[derive(Debug, PartialEq, Eq)]
pub enum Followed {
    Item(Arc<FeedItem>),
    /// It missed items the feed no longer has: re-read what it shows, then carry on.
    Reset(Reset),
    /// The feed is closed: the daemon drains.
    Closed,
}

/// A subscriber that misses nothing the ring still holds: what it missed before it
/// (re)connected, then every item once, in order, catching up from the ring when it falls
/// more than [`BUFFER`] items behind the broadcast.
pub struct Follower {
    feed: Feed,
    subscription: Subscription,
    /// Items from the ring to give out before the broadcast's.
    pending: VecDeque<Arc<FeedItem>>,
    /// The number of the newest item accounted for: broadcast items up to it were given out
    /// from the ring (or came before the subscription) and are skipped.
    last: Option<u64>,
    reset: Option<Reset>,
}

impl Follower {
    pub async fn next(&mut self) -> Followed {
        if let Some(reset) = self.reset.take() {
            return Followed::Reset(reset);
        }
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Followed::Item(item);
            }
            match self.subscription.recv().await {
                Received::Item(item) if self.last.is_some_and(|last| item.id <= last) => {}
                Received::Item(item) => {
                    self.last = Some(item.id);
                    return Followed::Item(item);
                }
                Received::Missed(_) => {
                    let state = self.feed.state();
                    match state.after(self.last) {
                        Some(items) => {
                            self.last = items.last().map(|item| item.id).or(self.last);
                            self.pending.extend(items);
                        }
                        None => {
                            self.last = state.next_id.checked_sub(1);
                            return Followed::Reset(Reset::TooOld);
                        }
                    }
                }
                Received::Closed => return Followed::Closed,
            }
        }
    }
}

/// One subscriber's view of the feed.
pub struct Subscription {
    items: broadcast::Receiver<Arc<FeedItem>>,
    closed: watch::Receiver<bool>,
}

/// What a subscriber gets next.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    Item(Arc<FeedItem>),
    /// It fell behind and this many items were dropped for it.
    Missed(u64),
    /// The feed is closed: the subscription is over.
    Closed,
}

impl Subscription {
    pub async fn recv(&mut self) -> Received {
        if *self.closed.borrow() {
            return Received::Closed;
        }
        tokio::select! {
            item = self.items.recv() => match item {
                Ok(item) => Received::Item(item),
                Err(broadcast::error::RecvError::Lagged(missed)) => Received::Missed(missed),
                Err(broadcast::error::RecvError::Closed) => Received::Closed,
            },
            _ = self.closed.wait_for(|closed| *closed) => Received::Closed,
        }
    }
}

/// How the SKU's own history put this event in words, if the event changed it.
fn summary_of(state: &SkuState, channel: &ChannelId, event: &StockEvent) -> Option<String> {
    state
        .history
        .iter()
        .rev()
        .find(|c| &c.channel == channel && c.event_id == event.id.as_str())
        .map(|c| c.summary.clone())
}

/// Which items a subscriber asked for: `?sku=…&channel=…&type=change|availability`, each
/// optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub sku: Option<String>,
    pub channel: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

impl Filter {
    pub fn accepts(&self, item: &FeedItem) -> bool {
        self.sku
            .as_deref()
            .is_none_or(|s| item.what.sku().as_str() == s)
            && self
                .channel
                .as_deref()
                .is_none_or(|c| item.what.channel().as_str() == c)
            && self.kind.as_deref().is_none_or(|k| item.what.name() == k)
    }
}

#[cfg(test)]
mod tests {
    use omnistock_sdk::{EventId, LocationId, StockChange};

    use super::*;
    use crate::state::{Actor, Input};

    fn id(name: &str) -> ChannelId {
        ChannelId::new(name).expect("channel id")
    }

    /// A store counted by `pos`, sold by `pos` and `web`.
    fn config() -> Config {
        crate::config::for_tests_owned("store", "pos", &["web"], "")
    }

    fn counted(event: &str, sku: &str, quantity: i64) -> StockEvent {
        StockEvent {
            id: EventId::new(event).expect("event id"),
            occurred_at: Timestamp::from_millis(1_000),
            sku: Sku::new(sku).expect("sku"),
            change: StockChange::LevelObserved {
                location: LocationId::new("store").expect("location"),
                quantity,
            },
        }
    }

    /// Applies `event` from the POS, then tells the feed.
    fn commit(feed: &Feed, config: &Config, state: &mut SkuState, event: &StockEvent) {
        let pos = id("pos");
        let actor = Actor::new("pos", 1);
        let input = Input {
            channel: &pos,
            actor: &actor,
            manual: false,
            received_at: Timestamp::from_millis(2_000),
            event,
        };
        let _ = state.apply(&input, config);
        feed.committed(
            config,
            Timestamp::from_millis(2_000),
            [(&pos, event)],
            [(&event.sku, &*state)],
        );
    }

    fn drain(receiver: &mut Subscription) -> Vec<What> {
        std::iter::from_fn(|| receiver.items.try_recv().ok())
            .map(|item| item.what.clone())
            .collect()
    }

    #[test]
    fn a_count_is_one_change_and_a_new_number_per_channel() {
        let (feed, config) = (Feed::default(), config());
        let mut receiver = feed.subscribe();
        let mut state = SkuState::default();
        commit(&feed, &config, &mut state, &counted("c1", "MUG", 5));
        let items = drain(&mut receiver);
        assert_eq!(items.len(), 3, "{items:?}");
        assert!(matches!(
            &items[0],
            What::Change { kind: "level_observed", summary, .. } if summary == "counted 5 at store"
        ));
        for (item, channel) in items[1..].iter().zip(["pos", "web"]) {
            assert_eq!(
                item,
                &What::Availability {
                    channel: id(channel),
                    sku: Sku::new("MUG").expect("sku"),
                    available: 5,
                    previous: None,
                }
            );
        }
    }

    #[test]
    fn an_unchanged_number_is_not_sent_again_and_a_moved_one_says_what_it_was() {
        let (feed, config) = (Feed::default(), config());
        let mut receiver = feed.subscribe();
        let mut state = SkuState::default();
        commit(&feed, &config, &mut state, &counted("c1", "MUG", 5));
        drain(&mut receiver);
        // The same count again (another id): a change that moves no number.
        commit(&feed, &config, &mut state, &counted("c2", "MUG", 5));
        let items = drain(&mut receiver);
        assert_eq!(items.len(), 1, "{items:?}");
        assert!(matches!(&items[0], What::Change { .. }), "{items:?}");
        commit(&feed, &config, &mut state, &counted("c3", "MUG", 3));
        let items = drain(&mut receiver);
        assert!(items.contains(&What::Availability {
            channel: id("web"),
            sku: Sku::new("MUG").expect("sku"),
            available: 3,
            previous: Some(5),
        }));
    }

    #[test]
    fn nothing_is_kept_before_anyone_subscribes_and_everything_after() {
        let (feed, config) = (Feed::default(), config());
        let mut state = SkuState::default();
        commit(&feed, &config, &mut state, &counted("c1", "MUG", 5));
        assert!(feed.recent().is_empty());
        let mut receiver = feed.subscribe();
        commit(&feed, &config, &mut state, &counted("c2", "MUG", 4));
        let items = drain(&mut receiver);
        // The first number since someone listens comes without a previous one.
        assert!(items.iter().any(|w| matches!(
            w,
            What::Availability {
                available: 4,
                previous: None,
                ..
            }
        )));
        assert_eq!(feed.recent().len(), items.len());
        // Once watched, the feed keeps going while nobody is connected: a subscriber that
        // comes back gets what it missed.
        drop(receiver);
        commit(&feed, &config, &mut state, &counted("c3", "MUG", 3));
        assert!(feed.recent().len() > items.len());
    }

    #[test]
    fn items_are_numbered_in_order_and_recent_keeps_the_last() {
        let (feed, config) = (Feed::default(), config());
        let mut receiver = feed.subscribe();
        let mut state = SkuState::default();
        for n in 0..40 {
            commit(
                &feed,
                &config,
                &mut state,
                &counted(&format!("c{n}"), "MUG", n),
            );
        }
        let recent = feed.recent();
        assert_eq!(recent.len(), RECENT);
        assert!(recent.windows(2).all(|w| w[1].id == w[0].id + 1));
        let first = receiver.items.try_recv().expect("an item");
        assert_eq!(first.id, 0);
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_what_it_missed_and_closing_ends_it() {
        let (feed, config) = (Feed::default(), config());
        let mut receiver = feed.subscribe();
        let mut state = SkuState::default();
        // Each count is one change and two numbers: well past the buffer.
        for n in 0..BUFFER as i64 {
            commit(
                &feed,
                &config,
                &mut state,
                &counted(&format!("c{n}"), "MUG", n),
            );
        }
        assert!(matches!(receiver.recv().await, Received::Missed(n) if n > 0));
        assert!(matches!(receiver.recv().await, Received::Item(_)));
        feed.close();
        assert_eq!(receiver.recv().await, Received::Closed);
        assert_eq!(feed.subscribe().recv().await, Received::Closed);
    }

    /// Commits counts of MUG until the feed has sent at least `items` items.
    fn commit_items(feed: &Feed, config: &Config, state: &mut SkuState, items: usize) {
        let mut n = 0;
        while (feed.state().next_id as usize) < items {
            n += 1;
            commit(
                feed,
                config,
                state,
                &counted(&format!("c{n}"), "MUG", n % 50),
            );
        }
    }

    async fn numbers(follower: &mut Follower, until: u64) -> Vec<u64> {
        let mut seen = Vec::new();
        while seen.last() != Some(&until) {
            match follower.next().await {
                Followed::Item(item) => seen.push(item.id),
                other => panic!("after {seen:?}: {other:?}"),
            }
        }
        seen
    }

    #[tokio::test]
    async fn a_follower_gets_what_it_missed_since_its_last_id_then_the_rest_once() {
        let (feed, config) = (Feed::default(), config());
        let mut state = SkuState::default();
        let _watching = feed.subscribe();
        commit_items(&feed, &config, &mut state, 30);
        let run = feed.run();
        let mut follower = feed.follow(Some(&format!("{run}-19")));
        commit_items(&feed, &config, &mut state, 40);
        let newest = feed.state().next_id - 1;
        assert_eq!(
            numbers(&mut follower, newest).await,
            (20..=newest).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn a_follower_that_falls_behind_the_broadcast_catches_up_from_the_ring() {
        let (feed, config) = (Feed::default(), config());
        let mut state = SkuState::default();
        let mut follower = feed.follow(None);
        commit_items(&feed, &config, &mut state, BUFFER * 2);
        let newest = feed.state().next_id - 1;
        assert_eq!(
            numbers(&mut follower, newest).await,
            (0..=newest).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn a_follower_is_reset_when_what_it_missed_left_the_ring_or_its_id_is_not_of_this_run() {
        let (feed, config) = (Feed::default(), config());
        let mut state = SkuState::default();
        let mut behind = feed.follow(None);
        commit_items(&feed, &config, &mut state, REPLAY + 10);
        assert_eq!(behind.next().await, Followed::Reset(Reset::TooOld));
        // Then it carries on live.
        commit_items(&feed, &config, &mut state, REPLAY + 20);
        assert!(matches!(behind.next().await, Followed::Item(_)));

        let run = feed.run();
        for (last, reset) in [
            (format!("{run}-0"), Reset::TooOld),
            (format!("{run}-99999999"), Reset::Unknown),
            ("another-5".to_owned(), Reset::Unknown),
            ("5".to_owned(), Reset::Unknown),
        ] {
            let mut follower = feed.follow(Some(&last));
            assert_eq!(follower.next().await, Followed::Reset(reset), "{last}");
        }
        let newest = feed.state().next_id - 1;
        let mut follower = feed.follow(Some(&format!("{run}-{newest}")));
        feed.close();
        assert_eq!(follower.next().await, Followed::Closed, "nothing missed");
    }

    #[test]
    fn an_item_id_reads_back_what_it_wrote() {
        let id = ItemId {
            run: "0e96a2bc".into(),
            number: 42,
        };
        assert_eq!(ItemId::parse(&id.to_string()), Some(id));
        assert_eq!(ItemId::parse("0e96a2bc-x"), None);
        assert_eq!(ItemId::parse("42"), None);
    }

    #[test]
    fn a_filter_takes_only_what_it_names() {
        let item = |what: What| FeedItem {
            id: 1,
            at: Timestamp::from_millis(0),
            what,
        };
        let availability = item(What::Availability {
            channel: id("web"),
            sku: Sku::new("MUG").expect("sku"),
            available: 1,
            previous: None,
        });
        let change = item(What::Change {
            channel: id("pos"),
            sku: Sku::new("CAP").expect("sku"),
            kind: "adjusted",
            event_id: "e1".into(),
            summary: "adjusted -1 at store".into(),
        });
        let filter = |sku: Option<&str>, channel: Option<&str>, kind: Option<&str>| Filter {
            sku: sku.map(Into::into),
            channel: channel.map(Into::into),
            kind: kind.map(Into::into),
        };
        assert!(Filter::default().accepts(&availability) && Filter::default().accepts(&change));
        assert!(filter(Some("MUG"), None, None).accepts(&availability));
        assert!(!filter(Some("MUG"), None, None).accepts(&change));
        assert!(filter(None, Some("pos"), None).accepts(&change));
        assert!(!filter(None, Some("pos"), None).accepts(&availability));
        assert!(filter(Some("MUG"), Some("web"), Some("availability")).accepts(&availability));
        assert!(!filter(None, None, Some("change")).accepts(&availability));
    }
}
