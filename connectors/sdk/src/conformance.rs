//! Proof that a connector keeps the [`Connector`] contract: a test suite any connector runs
//! against its own fake, so every connector is held to the same bar.
//!
//! Behind the `conformance` feature: enable it in a connector's `[dev-dependencies]` only.
//!
//! The connector's test implements [`ConformanceFake`] to hand the kit its fake's knobs
//! (signed webhooks, injected failures, the fake's own numbers), then calls [`run`]:
//!
//! ```ignore
//! #[tokio::test]
//! async fn keeps_the_connector_contract() {
//!     let fake = MyFake::start().await;
//!     let connector = MyConnector::new(fake.settings())?;
//!     omnistock_sdk::conformance::run(&connector, &fake).await.assert_all_passed();
//! }
//! ```
//!
//! What it checks, each as its own function too:
//! - [`maps_items`]: listing pages to completion; every level has a SKU or is reported as
//!   unmapped; every level is the fake's number.
//! - [`parses_every_topic`]: each declared webhook topic parses into events, the same events
//!   (same ids) twice, with ids unique within the delivery.
//! - [`rejects_bad_signatures`] and [`rejects_malformed_bodies`]: [`ConnectorError::BadInput`].
//! - [`survives_failures`]: 429 → `RateLimited`, 5xx / garbage / timeout → `Retryable`, and the
//!   next call works.
//! - [`pushes_idempotently`]: the same push twice applies once; a stale compare is reported,
//!   never overwritten.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;

use crate::connector::{Connector, ItemLevel, PushForm, PushOutcome, PushRequest};
use crate::error::ConnectorError;
use crate::ids::{ItemRef, LocationId};

/// A way the fake can be told to misbehave on the next API call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// HTTP 429 with `Retry-After` in seconds.
    RateLimited { retry_after: Duration },
    /// HTTP 500.
    ServerError,
    /// HTTP 200 with a body that is not the API's (an HTML error page, a truncated answer).
    Garbage,
    /// An answer slower than the connector's timeout.
    Timeout,
}

/// What the kit needs from a connector's fake.
#[async_trait]
pub trait ConformanceFake: Send + Sync {
    /// A realistic body the system would send for `topic`, about items the fake holds.
    fn webhook_body(&self, topic: &str) -> Vec<u8>;

    /// The headers of a delivery of `body` under `topic`, signed the way the system signs.
    fn sign_webhook(&self, topic: &str, body: &[u8]) -> Vec<(String, String)>;

    /// A signed delivery of `topic`.
    fn signed_webhook(&self, topic: &str) -> (Vec<(String, String)>, Vec<u8>) {
        let body = self.webhook_body(topic);
        (self.sign_webhook(topic, &body), body)
    }

    /// Makes the next API call fail this way.
    async fn fail_next(&self, failure: Failure);

    /// The failures this fake can produce. Include [`Failure::Timeout`] only if the
    /// connector under test has a timeout short enough for a test.
    fn failures(&self) -> Vec<Failure> {
        vec![
            Failure::RateLimited {
                retry_after: Duration::from_secs(2),
            },
            Failure::ServerError,
            Failure::Garbage,
        ]
    }

    /// The number the fake's system shows for `item` at `location`, if it stocks it there.
    async fn level(&self, item: &ItemRef, location: &LocationId) -> Option<i64>;
}

/// The outcome of every check, by name.
#[derive(Debug, Default)]
pub struct Report {
    pub results: Vec<(&'static str, Result<(), String>)>,
}

impl Report {
    /// The checks that failed, with why.
    pub fn failures(&self) -> Vec<String> {
        self.results
            .iter()
            .filter_map(|(name, r)| r.as_ref().err().map(|e| format!("{name}: {e}")))
            .collect()
    }

    /// Panics listing every failed check.
    #[track_caller]
    pub fn assert_all_passed(&self) {
        let failures = self.failures();
        assert!(
            failures.is_empty(),
            "conformance failures:\n  {}",
            failures.join("\n  ")
        );
    }
}

/// Runs every check, in order, and reports them all (one failure does not hide the next).
pub async fn run(connector: &dyn Connector, fake: &dyn ConformanceFake) -> Report {
    let mut report = Report::default();
    report
        .results
        .push(("maps_items", maps_items(connector, fake).await.map(|_| ())));
    report
        .results
        .push(("parses_every_topic", parses_every_topic(connector, fake)));
    report.results.push((
        "rejects_bad_signatures",
        rejects_bad_signatures(connector, fake),
    ));
    report.results.push((
        "rejects_malformed_bodies",
        rejects_malformed_bodies(connector, fake),
    ));
    report.results.push((
        "survives_failures",
        survives_failures(connector, fake).await,
    ));
    report.results.push((
        "pushes_idempotently",
        pushes_idempotently(connector, fake).await,
    ));
    report
}

/// The most pages a listing may take before the kit calls it a loop.
const MAX_PAGES: usize = 10_000;

/// Lists to completion and checks every level: a SKU or a report, and the fake's number.
/// Returns the levels, for the checks that follow.
pub async fn maps_items(
    connector: &dyn Connector,
    fake: &dyn ConformanceFake,
) -> Result<Vec<ItemLevel>, String> {
    let mut levels = Vec::new();
    let mut reported = HashSet::new();
    let mut cursor = None;
    let mut seen_cursors = HashSet::new();
    for _ in 0..MAX_PAGES {
        let report = connector
            .list_report(cursor.clone())
            .await
            .map_err(|e| format!("listing page after {cursor:?}: {e}"))?;
        reported.extend(report.unmapped.into_iter().map(|u| u.what));
        levels.extend(report.page.levels);
        match report.page.next {
            None => {
                if levels.is_empty() {
                    return Err("the listing is empty: give the fake some items".into());
                }
                for level in &levels {
                    if level.sku.is_none()
                        && !reported.iter().any(|w| w.contains(level.item.as_str()))
                    {
                        return Err(format!(
                            "item {} has no SKU and was not reported as unmapped",
                            level.item
                        ));
                    }
                    let held = fake.level(&level.item, &level.location).await;
                    if held != Some(level.available) {
                        return Err(format!(
                            "item {} at {}: listed {}, the fake holds {held:?}",
                            level.item, level.location, level.available
                        ));
                    }
                }
                return Ok(levels);
            }
            Some(next) => {
                if !seen_cursors.insert(next.clone()) {
                    return Err(format!(
                        "cursor {next:?} came back twice: the listing loops"
                    ));
                }
                cursor = Some(next);
            }
        }
    }
    Err(format!("the listing did not end within {MAX_PAGES} pages"))
}

/// Every declared topic parses into events, deterministically, with unique ids.
pub fn parses_every_topic(
    connector: &dyn Connector,
    fake: &dyn ConformanceFake,
) -> Result<(), String> {
    let topics = connector.capabilities().webhook_topics;
    for topic in &topics {
        let (headers, body) = fake.signed_webhook(topic);
        let first = connector
            .parse_webhook_report(&headers, &body)
            .map_err(|e| format!("topic {topic}: {e}"))?;
        if first.events.is_empty() {
            return Err(format!(
                "topic {topic}: no events (unmapped: {:?})",
                first.unmapped
            ));
        }
        let again = connector
            .parse_webhook(&headers, &body)
            .map_err(|e| format!("topic {topic}, parsed again: {e}"))?;
        if again != first.events {
            return Err(format!(
                "topic {topic}: a redelivery gave other events, so dedup cannot work"
            ));
        }
        let ids: HashSet<_> = first.events.iter().map(|e| &e.id).collect();
        if ids.len() != first.events.len() {
            return Err(format!("topic {topic}: two events share an id"));
        }
    }
    Ok(())
}

fn expect_bad_input(
    result: Result<Vec<crate::StockEvent>, ConnectorError>,
    what: &str,
) -> Result<(), String> {
    match result {
        Err(ConnectorError::BadInput(_)) => Ok(()),
        Err(other) => Err(format!("{what}: expected BadInput, got {other:?}")),
        Ok(events) => Err(format!("{what}: accepted, {} events", events.len())),
    }
}

/// A tampered body and a delivery without headers are both [`ConnectorError::BadInput`].
pub fn rejects_bad_signatures(
    connector: &dyn Connector,
    fake: &dyn ConformanceFake,
) -> Result<(), String> {
    for topic in connector.capabilities().webhook_topics {
        let (headers, mut body) = fake.signed_webhook(&topic);
        if let Some(last) = body.iter().rposition(|b| b.is_ascii_digit()) {
            body[last] = if body[last] == b'9' {
                b'1'
            } else {
                body[last] + 1
            };
        } else {
            body.push(b' ');
        }
        expect_bad_input(
            connector.parse_webhook(&headers, &body),
            &format!("topic {topic} with a tampered body"),
        )?;
        let (_, body) = fake.signed_webhook(&topic);
        expect_bad_input(
            connector.parse_webhook(&[], &body),
            &format!("topic {topic} without headers"),
        )?;
    }
    Ok(())
}

/// A correctly signed body that is not JSON of the topic's shape is [`ConnectorError::BadInput`].
pub fn rejects_malformed_bodies(
    connector: &dyn Connector,
    fake: &dyn ConformanceFake,
) -> Result<(), String> {
    for topic in connector.capabilities().webhook_topics {
        for body in [&b"{\"truncated\": "[..], b"[1, 2, 3]", b"\"just a string\""] {
            let headers = fake.sign_webhook(&topic, body);
            expect_bad_input(
                connector.parse_webhook(&headers, body),
                &format!(
                    "topic {topic} with body {:?}",
                    String::from_utf8_lossy(body)
                ),
            )?;
        }
    }
    Ok(())
}

/// Each failure the fake can produce comes back as its class, and the next call works.
pub async fn survives_failures(
    connector: &dyn Connector,
    fake: &dyn ConformanceFake,
) -> Result<(), String> {
    for failure in fake.failures() {
        fake.fail_next(failure.clone()).await;
        let result = connector.list(None).await;
        let ok = match (&failure, &result) {
            (
                Failure::RateLimited { retry_after },
                Err(ConnectorError::RateLimited {
                    retry_after: got, ..
                }),
            ) => {
                if got < retry_after {
                    return Err(format!(
                        "{failure:?}: told to wait only {got:?}, less than the Retry-After"
                    ));
                }
                true
            }
            (
                Failure::ServerError | Failure::Garbage | Failure::Timeout,
                Err(ConnectorError::Retryable(_)),
            ) => true,
            _ => false,
        };
        if !ok {
            return Err(format!("{failure:?}: got {result:?}"));
        }
        connector
            .list(None)
            .await
            .map_err(|e| format!("the call after {failure:?} failed too: {e}"))?;
    }
    Ok(())
}

/// The same push twice applies once; a push with a stale compare is reported, not applied.
pub async fn pushes_idempotently(
    connector: &dyn Connector,
    fake: &dyn ConformanceFake,
) -> Result<(), String> {
    let caps = connector.capabilities();
    let levels = maps_items(connector, fake).await?;
    let level = levels
        .iter()
        .find(|l| l.sku.is_some())
        .ok_or("no mapped level to push to")?;
    let request = PushRequest {
        idempotency_key: format!("conformance-{}-{}", level.item, level.available),
        item: level.item.clone(),
        location: level.location.clone(),
        expected: level.available,
        target: level.available + 1,
    };
    if caps.push_forms.contains(&PushForm::CompareAndSet) {
        for attempt in ["first push", "same push again"] {
            let outcome = connector
                .push(std::slice::from_ref(&request))
                .await
                .map_err(|e| format!("{attempt}: {e}"))?;
            if outcome != [PushOutcome::Applied] {
                return Err(format!("{attempt}: {outcome:?}"));
            }
        }
        let now = fake.level(&request.item, &request.location).await;
        if now != Some(request.target) {
            return Err(format!(
                "after the same push twice the fake holds {now:?}, expected {}",
                request.target
            ));
        }
        let stale = PushRequest {
            idempotency_key: format!("{}-stale", request.idempotency_key),
            expected: request.target + 7,
            target: request.target + 8,
            ..request.clone()
        };
        let outcome = connector
            .push(std::slice::from_ref(&stale))
            .await
            .map_err(|e| format!("stale push: {e}"))?;
        if !matches!(outcome.as_slice(), [PushOutcome::StaleCompare { .. }]) {
            return Err(format!("a stale compare was not reported: {outcome:?}"));
        }
        let after = fake.level(&request.item, &request.location).await;
        if after != Some(request.target) {
            return Err(format!("a stale push changed the number to {after:?}"));
        }
    } else if caps.push_forms.contains(&PushForm::Delta) {
        let delta = crate::connector::DeltaRequest {
            idempotency_key: request.idempotency_key.clone(),
            item: request.item.clone(),
            location: request.location.clone(),
            by: 1,
        };
        for attempt in ["first delta", "same delta again"] {
            let outcome = connector
                .push_deltas(std::slice::from_ref(&delta))
                .await
                .map_err(|e| format!("{attempt}: {e}"))?;
            if outcome != [PushOutcome::Applied] {
                return Err(format!("{attempt}: {outcome:?}"));
            }
        }
        let now = fake.level(&request.item, &request.location).await;
        if now != Some(request.target) {
            return Err(format!(
                "after the same delta twice the fake holds {now:?}, expected {}",
                request.target
            ));
        }
    }
    Ok(())
}
