//! `GET /v1/events/stream`: the live feed as Server-Sent Events, for the dashboard and for
//! storefronts that follow availability.
//!
//! Each item is one SSE event: `id:` its number in this run, `event:` `change` or
//! `availability`, `data:` its JSON. Filter with `?sku=…`, `?channel=…`, `?type=…`. A
//! subscriber that fell behind gets a `lagged` event `{"missed": n}` and should re-read what
//! it shows (`GET /v1/availability/{sku}`); there is no replay (`Last-Event-ID` is not
//! honoured): the feed is live only. Comments keep idle connections open through proxies.
//!
//! Like the rest of the read API it needs no token: it says what the read endpoints already
//! say (stock, channel numbers, the changes `GET /v1/stock/{sku}` lists).

use std::convert::Infallible;
use std::time::Duration;

use super::{ApiError, AppState};
use crate::feed::{FeedItem, Filter, Received, Subscription};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;

/// The item types `?type=` may ask for.
const KINDS: [&str; 2] = ["change", "availability"];

/// How often an idle stream sends a comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub async fn stream(
    State(app): State<AppState>,
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
    let receiver = app.feed.subscribe();
    let events =
        futures_util::stream::unfold((receiver, filter), |(mut receiver, filter)| async move {
            let event = next_event(&mut receiver, &filter).await?;
            Some((Ok(event), (receiver, filter)))
        });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// The next event for this subscriber; `None` once the feed is closed (the daemon drains).
async fn next_event(receiver: &mut Subscription, filter: &Filter) -> Option<Event> {
    loop {
        match receiver.recv().await {
            Received::Item(item) if filter.accepts(&item) => return Some(item_event(&item)),
            Received::Item(_) => {}
            Received::Missed(missed) => {
                return Some(
                    Event::default()
                        .event("lagged")
                        .data(serde_json::json!({ "missed": missed }).to_string()),
                );
            }
            Received::Closed => return None,
        }
    }
}

fn item_event(item: &FeedItem) -> Event {
    // A FeedItem is plain data: serializing it cannot fail.
    let data = serde_json::to_string(item).unwrap_or_default();
    Event::default()
        .id(item.id.to_string())
        .event(item.what.name())
        .data(data)
}
