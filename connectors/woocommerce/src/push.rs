//! Pushes that never destroy a concurrent sale (DESIGN.md rule 6), in WooCommerce's two ways:
//!
//! - **`inventory_delta`** (where the shop honours it): the server computes
//!   `current + delta`, so a sale a moment earlier stays in the number.
//! - **Blind set** (`stock_quantity`): re-read right before setting; if the number moved from
//!   what the engine read, answer `StaleCompare` (a WooCommerce sale whose order we haven't
//!   seen: the engine re-reads and applies its change on top) — even when it moved to our
//!   target, which is a sale that merely looks like our push; else set, then re-read. A sale
//!   landing in the milliseconds between our re-read and our set is the one loss this form
//!   cannot rule out; the delta form has no such window.
//!
//! Neither form is idempotent on WooCommerce's side, and the engine re-sends a push whose
//! answer it lost. So every update also writes the push's idempotency key into the product's
//! `meta_data` ([`PUSH_KEY_META`]) in the same save, and before sending, an item whose fresh
//! read already carries the key is answered `Applied` without sending it again.
//!
//! Both write through `POST /products/batch` and `/products/<parent>/variations/batch`
//! (at most 100 objects a call), and read the per-item errors inside the HTTP 200.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use omnistock_sdk::{ConnectorError, DeltaRequest, ItemRef, PushOutcome, PushRequest};
use serde_json::{Value, json};

use crate::api::{BatchItem, ManageStock, PUSH_KEY_META, Product};
use crate::connector::WooConnector;
use crate::item::WooItem;

/// What to do with one request once its item has been read.
enum Step {
    /// Answered without a write.
    Done(PushOutcome),
    /// Write `update` to `item`; `before` is the number just read.
    Send {
        item: WooItem,
        before: i64,
        update: Value,
    },
}

/// The item's record, if it is a number we can write.
fn writable<'a>(
    item: &ItemRef,
    records: &'a BTreeMap<WooItem, Product>,
) -> Result<(WooItem, &'a Product, i64), PushOutcome> {
    let parsed = WooItem::parse(item.as_str()).map_err(PushOutcome::Rejected)?;
    let record = records.get(&parsed).ok_or_else(|| {
        PushOutcome::Rejected(format!(
            "{item}: no such product or variation in WooCommerce"
        ))
    })?;
    match (record.manage_stock, record.stock_quantity) {
        (ManageStock::On, Some(now)) => Ok((parsed, record, now)),
        _ => Err(PushOutcome::Rejected(format!(
            "{item}: WooCommerce does not manage its stock"
        ))),
    }
}

/// What to do for one request on `item` with idempotency key `key`: answered at once if the
/// item cannot be written or already carries the key (a re-send of a push that applied),
/// else what `decide` says given the number just read: an answer, or the field and value to
/// write (with the key, in the same save).
fn step(
    item: &ItemRef,
    key: &str,
    records: &BTreeMap<WooItem, Product>,
    decide: impl FnOnce(i64) -> Result<(&'static str, i64), PushOutcome>,
) -> Step {
    let (item, record, before) = match writable(item, records) {
        Err(outcome) => return Step::Done(outcome),
        Ok(writable) => writable,
    };
    if record.last_push_key() == Some(key) {
        return Step::Done(PushOutcome::Applied);
    }
    match decide(before) {
        Err(outcome) => Step::Done(outcome),
        Ok((field, value)) => Step::Send {
            item,
            before,
            update: json!({ "id": item.id(), field: value, "meta_data": key_meta(key) }),
        },
    }
}

fn key_meta(key: &str) -> Value {
    json!([{ "key": PUSH_KEY_META, "value": key }])
}

fn endpoint(item: WooItem) -> String {
    match item.parent() {
        None => "/products".to_owned(),
        Some(parent) => format!("/products/{parent}/variations"),
    }
}

/// Delta pushes in a row that may leave the number unchanged before the shop is taken to
/// ignore `inventory_delta`.
pub(crate) const UNMOVED_LIMIT: u32 = 3;

impl WooConnector {
    /// The records of the items named by `refs` (unparseable ones are left out).
    async fn fresh(&self, refs: &[&ItemRef]) -> Result<BTreeMap<WooItem, Product>, ConnectorError> {
        let items: Vec<WooItem> = refs
            .iter()
            .filter_map(|i| WooItem::parse(i.as_str()).ok())
            .collect();
        self.records(&items).await
    }

    /// Applies `inventory_delta` changes.
    pub async fn push_delta(
        &self,
        batch: &[DeltaRequest],
    ) -> Result<Vec<PushOutcome>, ConnectorError> {
        let action = format!(
            "pushing {} deltas to {}",
            batch.len(),
            self.settings.channel
        );
        let answers = self
            .read_and_write(
                batch,
                |r| (&r.item, &r.idempotency_key),
                |request, _| match request.by {
                    0 => Err(PushOutcome::Applied),
                    by => Ok(("inventory_delta", by)),
                },
                &action,
            )
            .await?;
        Ok(answers
            .into_iter()
            .map(|(outcome, sent)| match sent {
                Some((before, Some(after))) if after == before => self.unmoved(before, outcome),
                Some((_, Some(_))) => {
                    self.unmoved_deltas.store(0, Ordering::Relaxed);
                    outcome
                }
                _ => outcome,
            })
            .collect())
    }

    /// A delta push after which the number is where it was. Either a change of the opposite
    /// amount (a sale, a restock) crossed it — the push applied, and reporting it as failed
    /// would dead-letter a good push — or the shop ignores `inventory_delta` (it honours it
    /// only when `stock_quantity` is absent, older versions not at all; `connect` checks
    /// before the switch is turned on). One crossing is likely, several in a row are not: the
    /// `UNMOVED_LIMIT`-th in a row is rejected, loudly, and every one after it until a delta
    /// moves the number again.
    fn unmoved(&self, before: i64, outcome: PushOutcome) -> PushOutcome {
        let in_a_row = self.unmoved_deltas.fetch_add(1, Ordering::Relaxed) + 1;
        if in_a_row < UNMOVED_LIMIT {
            tracing::warn!(channel = %self.settings.channel, number = before, in_a_row, "A delta push left the number unchanged; taken as a change crossing it.");
            return outcome;
        }
        tracing::error!(channel = %self.settings.channel, in_a_row, "WooCommerce ignored inventory_delta: set inventory_delta = false for this channel.");
        PushOutcome::Rejected(format!(
            "{} ignored inventory_delta ({in_a_row} pushes in a row left the number unchanged, \
             now {before}): set inventory_delta = false",
            self.settings.channel
        ))
    }

    /// Sets `stock_quantity` where the number is still what the engine read.
    pub async fn push_set(
        &self,
        batch: &[PushRequest],
    ) -> Result<Vec<PushOutcome>, ConnectorError> {
        let action = format!(
            "setting {} quantities on {}",
            batch.len(),
            self.settings.channel
        );
        let answers = self
            .read_and_write(
                batch,
                |r| (&r.item, &r.idempotency_key),
                |request, now| {
                    if now == request.expected {
                        Ok(("stock_quantity", request.target))
                    } else {
                        Err(PushOutcome::StaleCompare { actual: Some(now) })
                    }
                },
                &action,
            )
            .await?;
        let written: Vec<&ItemRef> = batch
            .iter()
            .zip(&answers)
            .filter(|(_, (outcome, sent))| sent.is_some() && *outcome == PushOutcome::Applied)
            .map(|(request, _)| &request.item)
            .collect();
        if !written.is_empty() {
            self.re_read(batch, &written).await;
        }
        Ok(answers.into_iter().map(|(outcome, _)| outcome).collect())
    }

    /// The re-read after a set: a number already below our target is a sale that came right
    /// after it, kept (its order will arrive as a reservation). Only logged: the set is done,
    /// and a failed re-read must not make the engine send it again.
    async fn re_read(&self, batch: &[PushRequest], written: &[&ItemRef]) {
        let after = match self.fresh(written).await {
            Ok(after) => after,
            Err(e) => {
                tracing::warn!(channel = %self.settings.channel, "Re-reading after a set: {e}.");
                return;
            }
        };
        for request in batch {
            let now = WooItem::parse(request.item.as_str())
                .ok()
                .and_then(|i| after.get(&i))
                .and_then(|p| p.stock_quantity);
            if let Some(now) = now.filter(|n| *n != request.target) {
                tracing::debug!(channel = %self.settings.channel, item = %request.item, target = request.target, now, "WooCommerce number moved right after our set.");
            }
        }
    }

    /// Reads the items of `batch` (`target`: each request's item and idempotency key), makes
    /// each request's [`step`] with `decide`, and sends the writes ([`WooConnector::write`]).
    async fn read_and_write<R>(
        &self,
        batch: &[R],
        target: impl Fn(&R) -> (&ItemRef, &String),
        decide: impl Fn(&R, i64) -> Result<(&'static str, i64), PushOutcome>,
        action: &str,
    ) -> Result<Vec<(PushOutcome, Option<(i64, Option<i64>)>)>, ConnectorError> {
        let items: Vec<&ItemRef> = batch.iter().map(|r| target(r).0).collect();
        let records = self.fresh(&items).await?;
        let steps = batch
            .iter()
            .map(|request| {
                let (item, key) = target(request);
                step(item, key, &records, |now| decide(request, now))
            })
            .collect();
        self.write(steps, action).await
    }

    /// Sends the writes of `steps`, grouped by batch endpoint; one outcome per step, with
    /// (number before, number in the answer) for those sent.
    async fn write(
        &self,
        steps: Vec<Step>,
        action: &str,
    ) -> Result<Vec<(PushOutcome, Option<(i64, Option<i64>)>)>, ConnectorError> {
        let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for step in &steps {
            if let Step::Send { item, update, .. } = step {
                groups
                    .entry(endpoint(*item))
                    .or_default()
                    .push(update.clone());
            }
        }
        let mut answers: BTreeMap<(String, u64), BatchItem> = BTreeMap::new();
        for (path, updates) in groups {
            for chunk in updates.chunks(crate::connector::MAX_BATCH) {
                for answer in self
                    .rest
                    .batch_update(&path, chunk.to_vec(), action)
                    .await?
                {
                    let id = match &answer {
                        BatchItem::Saved(p) => p.id,
                        BatchItem::Failed { id, .. } => *id,
                    };
                    answers.insert((path.clone(), id), answer);
                }
            }
        }
        steps
            .into_iter()
            .map(|step| match step {
                Step::Done(outcome) => Ok((outcome, None)),
                Step::Send { item, before, .. } => {
                    match answers.remove(&(endpoint(item), item.id())) {
                        Some(BatchItem::Saved(p)) => {
                            Ok((PushOutcome::Applied, Some((before, p.stock_quantity))))
                        }
                        Some(BatchItem::Failed { error, .. }) => Ok((
                            PushOutcome::Rejected(format!("{item}: {error}")),
                            Some((before, None)),
                        )),
                        None => Err(ConnectorError::Retryable(format!(
                            "{action}: WooCommerce's answer has nothing for {item}"
                        ))),
                    }
                }
            })
            .collect()
    }
}
