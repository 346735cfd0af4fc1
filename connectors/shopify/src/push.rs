//! Out to Shopify's numbers: compare-and-set quantities (`inventorySetQuantities`) and deltas
//! (`inventoryAdjustQuantities`), with idempotency keys and user errors sorted per quantity.
//!
//! A Shopify inventory mutation is all or nothing: one stale quantity and none is applied.
//! So a batch is sent, the quantities the user errors name are settled (stale, rejected), and
//! the rest is sent again, under a key of its own, until every quantity is settled.
//!
//! The `@idempotent` key of a mutation is derived from the push requests it carries: their
//! outbox keys *and* their inputs. The same batch sent twice (a retried outbox entry) has the
//! same key, and Shopify applies it once; a recomputed push after a stale compare has other
//! inputs, so a fresh key, instead of `IDEMPOTENCY_KEY_PARAMETER_MISMATCH`.

use std::collections::HashSet;

use omnistock_sdk::{ConnectorError, DeltaRequest, ItemRef, LocationId, PushOutcome, PushRequest};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::connector::ShopifyConnector;
use crate::gid::{Gid, GidKind};
use crate::queries::UserError;
use crate::settings::ApiVersion;

/// How a version of the Admin API spells compare-and-set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `compareQuantity` (2025-10 and earlier); no `@idempotent`.
    CompareQuantity,
    /// `changeFromQuantity` and `@idempotent` (2026-01 and later; mandatory from 2026-04).
    ChangeFrom,
}

impl Form {
    pub fn for_version(version: ApiVersion) -> Self {
        if version.uses_change_from() {
            Self::ChangeFrom
        } else {
            Self::CompareQuantity
        }
    }

    pub fn idempotent(self) -> bool {
        self == Self::ChangeFrom
    }
}

/// How many rounds a batch may take (each settles at least one quantity or changes the key).
const MAX_ROUNDS: usize = 8;

/// The `@idempotent` key of a mutation carrying `parts` (one line per quantity).
pub fn mutation_key(parts: impl IntoIterator<Item = String>, salt: u32) -> String {
    let mut hash = Sha256::new();
    hash.update(salt.to_be_bytes());
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0x1e]);
    }
    let digest = hex::encode(hash.finalize());
    format!("omnistock-{}", &digest[..40])
}

/// The key of a compare-and-set batch: the same requests, the same key.
pub fn set_key(batch: &[&PushRequest], salt: u32) -> String {
    mutation_key(
        batch.iter().map(|r| {
            format!(
                "set\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}",
                r.idempotency_key, r.item, r.location, r.expected, r.target
            )
        }),
        salt,
    )
}

/// The key of a delta batch.
pub fn adjust_key(batch: &[&DeltaRequest], salt: u32) -> String {
    mutation_key(
        batch.iter().map(|r| {
            format!(
                "adjust\x1f{}\x1f{}\x1f{}\x1f{}",
                r.idempotency_key, r.item, r.location, r.by
            )
        }),
        salt,
    )
}

/// The `referenceDocumentUri` our mutations carry, so our own changes are recognized.
pub fn reference_uri(key: &str) -> String {
    format!("omnistock://push/{key}")
}

/// The quantity index a user error's `field` names (`["input", "quantities", "3", …]`).
fn index_of(error: &UserError) -> Option<usize> {
    let field = error.field.as_ref()?;
    let pos = field
        .iter()
        .position(|f| f == "quantities" || f == "changes")?;
    field.get(pos + 1)?.parse().ok()
}

/// Each request's Shopify ids, as pending `(index, item, location)`; a request that cannot be
/// resolved gets its `Rejected` outcome at once.
#[allow(clippy::type_complexity)]
fn resolve_all<'a>(
    connector: &ShopifyConnector,
    requests: impl Iterator<Item = (&'a ItemRef, &'a LocationId)>,
) -> (Vec<Option<PushOutcome>>, Vec<(usize, String, String)>) {
    let mut outcomes = Vec::new();
    let mut pending = Vec::new();
    for (i, (item, location)) in requests.enumerate() {
        match resolve(connector, item, location) {
            Ok((item, location)) => {
                outcomes.push(None);
                pending.push((i, item, location));
            }
            Err(reason) => outcomes.push(Some(PushOutcome::Rejected(reason))),
        }
    }
    (outcomes, pending)
}

fn resolve(
    connector: &ShopifyConnector,
    item: &ItemRef,
    location: &LocationId,
) -> Result<(String, String), String> {
    let item = Gid::parse_or_number(item.as_str(), GidKind::InventoryItem)?;
    let shopify = connector
        .shopify_location(location)
        .ok_or_else(|| format!("location {location} has no Shopify location in config"))?;
    Ok((
        Gid::format(GidKind::InventoryItem, item.id),
        Gid::format(GidKind::Location, shopify),
    ))
}

/// What one round's user errors settle.
enum Round {
    /// Every pending quantity was applied.
    Applied,
    /// These pending positions are settled; send the rest again.
    Settled(Vec<(usize, PushOutcome)>),
    /// The key was used by an attempt that failed: send the same again under a new key.
    NewKey,
}

fn sort_user_errors(
    errors: Vec<UserError>,
    pending: usize,
    action: &str,
) -> Result<Round, ConnectorError> {
    if errors.is_empty() {
        return Ok(Round::Applied);
    }
    let mut settled = Vec::new();
    let mut new_key = false;
    for error in errors {
        let code = error.code.clone().unwrap_or_default();
        let index = index_of(&error).filter(|i| *i < pending);
        let outcome = match code.as_str() {
            "CHANGE_FROM_QUANTITY_STALE" | "COMPARE_QUANTITY_STALE" => {
                PushOutcome::StaleCompare { actual: None }
            }
            "IDEMPOTENCY_CONCURRENT_REQUEST" => {
                return Err(ConnectorError::Retryable(format!(
                    "{action}: the same push is in flight ({})",
                    error.message
                )));
            }
            "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED" => {
                new_key = true;
                continue;
            }
            "IDEMPOTENCY_KEY_PARAMETER_MISMATCH" => {
                return Err(ConnectorError::Permanent(format!(
                    "{action}: idempotency key reused with other inputs ({})",
                    error.message
                )));
            }
            _ => PushOutcome::Rejected(format!("{code}: {}", error.message)),
        };
        match index {
            Some(i) => settled.push((i, outcome)),
            None if matches!(outcome, PushOutcome::StaleCompare { .. }) => {
                settled.extend((0..pending).map(|i| (i, outcome.clone())));
            }
            None => {
                return Err(ConnectorError::Permanent(format!(
                    "{action}: {code}: {}",
                    error.message
                )));
            }
        }
    }
    if settled.is_empty() && new_key {
        return Ok(Round::NewKey);
    }
    Ok(Round::Settled(settled))
}

/// Sends `inventorySetQuantities` rounds until every request is settled.
pub(crate) async fn push_set(
    connector: &ShopifyConnector,
    batch: &[PushRequest],
) -> Result<Vec<PushOutcome>, ConnectorError> {
    let form = connector.push_form();
    let quantity = |r: &PushRequest, item: &str, location: &str| {
        let mut q =
            json!({ "inventoryItemId": item, "locationId": location, "quantity": r.target });
        match form {
            Form::ChangeFrom => q["changeFromQuantity"] = json!(r.expected),
            Form::CompareQuantity => q["compareQuantity"] = json!(r.expected),
        }
        q
    };
    push_rounds(
        connector,
        Mutation::Set,
        batch,
        |r| (&r.item, &r.location),
        set_key,
        quantity,
    )
    .await
}

/// Sends `inventoryAdjustQuantities` rounds until every delta is settled.
pub(crate) async fn push_adjust(
    connector: &ShopifyConnector,
    batch: &[DeltaRequest],
) -> Result<Vec<PushOutcome>, ConnectorError> {
    let form = connector.push_form();
    let change = |r: &DeltaRequest, item: &str, location: &str| {
        let mut c = json!({ "inventoryItemId": item, "locationId": location, "delta": r.by });
        if form == Form::ChangeFrom {
            // A delta means "whatever it is now": opt out of the compare explicitly, as
            // 2026-04 requires the field on every change.
            c["changeFromQuantity"] = Value::Null;
        }
        c
    };
    push_rounds(
        connector,
        Mutation::Adjust,
        batch,
        |r| (&r.item, &r.location),
        adjust_key,
        change,
    )
    .await
}

/// The two inventory mutations a push sends.
#[derive(Clone, Copy)]
enum Mutation {
    /// `inventorySetQuantities`, its lines under `quantities`.
    Set,
    /// `inventoryAdjustQuantities`, its lines under `changes`.
    Adjust,
}

impl Mutation {
    fn lines_field(self) -> &'static str {
        match self {
            Self::Set => "quantities",
            Self::Adjust => "changes",
        }
    }

    /// What sending `n` lines is called in errors.
    fn action(self, n: usize, channel: impl std::fmt::Display) -> String {
        match self {
            Self::Set => format!("pushing {n} quantities to {channel}"),
            Self::Adjust => format!("adjusting {n} quantities on {channel}"),
        }
    }

    async fn run(
        self,
        connector: &ShopifyConnector,
        input: Value,
        key: &str,
        n: usize,
    ) -> Result<Vec<UserError>, ConnectorError> {
        match self {
            Self::Set => connector.run_set(input, key, n).await,
            Self::Adjust => connector.run_adjust(input, key, n).await,
        }
    }
}

/// Sends `batch` as `mutation` rounds until every request is settled: each round carries the
/// pending requests (`line` builds each from its Shopify ids) under `key`'s key for them; the
/// user errors settle some, the rest go again.
async fn push_rounds<R>(
    connector: &ShopifyConnector,
    mutation: Mutation,
    batch: &[R],
    target: impl Fn(&R) -> (&ItemRef, &LocationId),
    key: fn(&[&R], u32) -> String,
    line: impl Fn(&R, &str, &str) -> Value,
) -> Result<Vec<PushOutcome>, ConnectorError> {
    let (mut outcomes, mut pending) = resolve_all(connector, batch.iter().map(target));
    let mut salt = 0;
    for _ in 0..MAX_ROUNDS {
        if pending.is_empty() {
            break;
        }
        let requests: Vec<&R> = pending.iter().map(|(i, ..)| &batch[*i]).collect();
        let key = key(&requests, salt);
        let lines: Vec<Value> = pending
            .iter()
            .map(|(i, item, location)| line(&batch[*i], item, location))
            .collect();
        let mut input = json!({
            "name": "available",
            "reason": "correction",
            "referenceDocumentUri": reference_uri(&key),
        });
        input[mutation.lines_field()] = Value::Array(lines);
        let action = mutation.action(pending.len(), &connector.settings.channel);
        let errors = mutation.run(connector, input, &key, pending.len()).await?;
        match sort_user_errors(errors, pending.len(), &action)? {
            Round::Applied => {
                for (i, ..) in pending.drain(..) {
                    outcomes[i] = Some(PushOutcome::Applied);
                }
            }
            Round::NewKey => salt += 1,
            Round::Settled(settled) => {
                let done: HashSet<usize> = settled.iter().map(|(pos, _)| *pos).collect();
                for (pos, outcome) in settled {
                    outcomes[pending[pos].0].get_or_insert(outcome);
                }
                let mut pos = 0;
                pending.retain(|_| {
                    let keep = !done.contains(&pos);
                    pos += 1;
                    keep
                });
            }
        }
    }
    finish(outcomes, pending.len(), connector)
}

fn finish(
    outcomes: Vec<Option<PushOutcome>>,
    unsettled: usize,
    connector: &ShopifyConnector,
) -> Result<Vec<PushOutcome>, ConnectorError> {
    if unsettled > 0 {
        return Err(ConnectorError::Retryable(format!(
            "pushing to {}: {unsettled} quantities still unsettled after {MAX_ROUNDS} rounds",
            connector.settings.channel
        )));
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| PushOutcome::Rejected("not sent".into())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(key: &str, expected: i64) -> PushRequest {
        PushRequest {
            idempotency_key: key.into(),
            item: ItemRef::new("gid://shopify/InventoryItem/1").expect("id"),
            location: LocationId::new("wh").expect("id"),
            expected,
            target: expected + 1,
        }
    }

    #[test]
    fn keys_follow_the_requests_and_their_inputs() {
        let a = request("outbox-1", 5);
        let b = request("outbox-1", 6);
        assert_eq!(set_key(&[&a], 0), set_key(&[&a.clone()], 0));
        assert_ne!(
            set_key(&[&a], 0),
            set_key(&[&b], 0),
            "recomputed push, new key"
        );
        assert_ne!(set_key(&[&a], 0), set_key(&[&a], 1));
        assert!(set_key(&[&a], 0).len() <= 64);
    }

    #[test]
    fn user_errors_are_sorted_by_quantity() {
        let errors = vec![
            UserError {
                code: Some("CHANGE_FROM_QUANTITY_STALE".into()),
                field: Some(vec![
                    "input".into(),
                    "quantities".into(),
                    "1".into(),
                    "changeFromQuantity".into(),
                ]),
                message: "stale".into(),
            },
            UserError {
                code: Some("ITEM_NOT_STOCKED_AT_LOCATION".into()),
                field: Some(vec![
                    "input".into(),
                    "quantities".into(),
                    "2".into(),
                    "locationId".into(),
                ]),
                message: "not stocked".into(),
            },
        ];
        match sort_user_errors(errors, 3, "x").expect("settles") {
            Round::Settled(s) => {
                assert_eq!(s.len(), 2);
                assert_eq!(s[0], (1, PushOutcome::StaleCompare { actual: None }));
                assert!(
                    matches!(&s[1], (2, PushOutcome::Rejected(m)) if m.starts_with("ITEM_NOT_STOCKED"))
                );
            }
            _ => panic!("expected settled"),
        }
    }
}
