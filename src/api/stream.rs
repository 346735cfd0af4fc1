//! `GET /v1/events/stream`: the live feed as Server-Sent Events, for the dashboard and for
//! storefronts that follow availability.
//!
//! Each item is one SSE event: `id:` `{run}-{number}` (the daemon's run, the item's number
//! in it), `event:` `change` or `availability`, `data:` its JSON. Filter with `?sku=…`,
//! `?channel=…`, `?type=…`. A client that reconnects with `Last-Event-ID` (browsers'
//! `EventSource` does it by itself) first gets the items it missed, from the last
//! [`REPLAY`](crate::feed::REPLAY) the daemon keeps; when some of them are no longer kept,
//! or the id is not of this run (the daemon restarted), it gets a `reset` event instead
//! (`{"reason": …}`) and must re-read what it shows (`GET /v1/availability/{sku}`), then
//! carries on live. A subscriber that falls behind catches up from the same ring, or gets
//! `reset` too. Comments keep idle connections open through proxies.
//!
//! Like the rest of the read API it needs no token: it says what the read endpoints already
//! say (stock, channel numbers, the changes `GET /v1/stock/{sku}` lists).

use std::convert::Infallible;
use std::time::Duration;

use super::{ApiError, AppState};
use crate::feed::{FeedItem, Filter, Followed, Follower, ItemId};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;

/// The item types `?type=` may ask for.
const KINDS: [&str; 2] = ["change", "availability"];

/// How often an idle stream sends a comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The event telling a client it missed items the daemon no longer has.
pub const RESET: &str = "reset";

pub async fn stream(
    State(app): State<AppState>,
    headers: HeaderMap,
    filter: Result<Query<Filter>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(filter) = filter.map_err(|e| {
        ApiError::bad_request(
            "malformed",
            None,
            format!("{}; filters: sku, channel, type", e.body_text()),
        )
    })?;
    if let Some(kind) = filter.kind.as_deref().filter(|k| !KINDS.contains(k)) {
        return Err(ApiError::bad_request(
            "malformed",
            Some("type".into()),
            format!("no item type {kind:?} (change, availability)"),
        ));
    }
    // A header that is not text is an id we never sent: the client is told to reset.
    let last_seen = headers
        .get("last-event-id")
        .map(|value| value.to_str().unwrap_or_default());
    let follower = app.feed.follow(last_seen);
    let run = app.feed.run();
    let events = futures_util::stream::unfold(
        (follower, filter, run),
        |(mut follower, filter, run)| async move {
            let event = next_event(&mut follower, &filter, &run).await?;
            Some((Ok(event), (follower, filter, run)))
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// The next event for this subscriber; `None` once the feed is closed (the daemon drains).
async fn next_event(follower: &mut Follower, filter: &Filter, run: &str) -> Option<Event> {
    loop {
        match follower.next().await {
            Followed::Item(item) if filter.accepts(&item) => return Some(item_event(&item, run)),
            Followed::Item(_) => {}
            Followed::Reset(reset) => {
                return Some(
                    Event::default()
                        .event(RESET)
                        .data(serde_json::json!({ "reason": reset.reason() }).to_string()),
                );
            }
            Followed::Closed => return None,
        }
    }
}

fn item_event(item: &FeedItem, run: &str) -> Event {
    // A FeedItem is plain data: serializing it cannot fail.
    let data = serde_json::to_string(item).unwrap_or_default();
    let id = ItemId {
        run: run.to_owned(),
        number: item.id,
    };
    Event::default()
        .id(id.to_string())
        .event(item.what.name())
        .data(data)
}
