//! The rules of a `square` channel's own keys (a child of `validate`, whose checker it
//! extends).

use std::collections::BTreeMap;

use omnistock_sdk::{LocationId, Sku};

use super::super::SquareChannel;
use super::super::raw::{RawChannel, RawLocation};
use super::{Checker, FieldPath, known, push_url};

/// The most changes one `BatchChangeInventory` may carry.
const MAX_CHANGES: i64 = 100;
const HOLD_STATES: &[&str] = &["NONE", "WASTE", "SOLD"];

impl Checker<'_, '_> {
    /// A `square` channel's own keys.
    pub(super) fn square(
        &mut self,
        path: &FieldPath,
        raw: &RawChannel,
        known_locations: &BTreeMap<String, RawLocation>,
    ) -> Option<SquareChannel> {
        let mut ok = true;
        let mut required = |this: &mut Self, key: &str, present: bool, example: &str| {
            if !present {
                this.report(
                    path.key(key),
                    format!("missing; a square channel needs it, like {example}"),
                );
                ok = false;
            }
        };
        required(
            self,
            "access_token",
            raw.access_token.is_some(),
            "access_token = { env = \"SQUARE_TOKEN\" }",
        );
        required(
            self,
            "webhook_signature_key",
            raw.webhook_signature_key.is_some(),
            "webhook_signature_key = { env = \"SQUARE_SIGNATURE_KEY\" }",
        );
        required(
            self,
            "square_locations",
            raw.square_locations.is_some(),
            "square_locations = { \"L123\" = \"store-downtown\" }",
        );
        let base_url = self.check(
            &path.key("base_url"),
            push_url(
                raw.base_url
                    .as_deref()
                    .unwrap_or(omnistock_square::settings::DEFAULT_BASE_URL),
            ),
        );
        let notification_url = match &raw.notification_url {
            Some(url) => Some(self.check(&path.key("notification_url"), push_url(url))?),
            None => None,
        };
        let square_version = raw
            .square_version
            .clone()
            .unwrap_or_else(|| omnistock_square::settings::DEFAULT_SQUARE_VERSION.to_owned());
        if !omnistock_square::settings::is_square_version(&square_version) {
            self.report(
                path.key("square_version"),
                format!("{square_version:?} is not a Square-Version (like \"2025-08-20\")"),
            );
            ok = false;
        }
        let hold_state = raw.hold_state.clone().unwrap_or_else(|| "NONE".to_owned());
        if !HOLD_STATES.contains(&hold_state.as_str()) {
            self.report(
                path.key("hold_state"),
                format!(
                    "{hold_state:?} is not a state Square lets an API client write (one of {})",
                    HOLD_STATES.join(", ")
                ),
            );
            ok = false;
        }
        if let Some(n) = raw.max_batch.filter(|n| *n > MAX_CHANGES) {
            self.report(
                path.key("max_batch"),
                format!("{n}: Square takes at most {MAX_CHANGES} changes a call"),
            );
            ok = false;
        }
        let access_token = raw
            .access_token
            .as_ref()
            .and_then(|s| self.secret(&path.key("access_token"), s));
        let webhook_signature_key = raw
            .webhook_signature_key
            .as_ref()
            .and_then(|s| self.secret(&path.key("webhook_signature_key"), s));
        let mut locations = BTreeMap::new();
        for (square, ours) in raw.square_locations.iter().flatten() {
            let at = path.key("square_locations").key(square);
            match (
                known_locations.contains_key(ours),
                LocationId::new(ours.as_str()),
            ) {
                (true, Ok(id)) => {
                    locations.insert(square.clone(), id);
                }
                _ => {
                    self.report(
                        at,
                        format!(
                            "unknown location {ours:?} (known: {})",
                            known(known_locations.keys())
                        ),
                    );
                    ok = false;
                }
            }
        }
        for (i, name) in raw.sells_from.iter().flatten().enumerate() {
            let mapped = raw
                .square_locations
                .iter()
                .flatten()
                .any(|(_, ours)| ours == name);
            if raw.square_locations.is_some() && !mapped {
                self.report(
                    path.key("sells_from").index(i),
                    format!("{name:?} is not in square_locations: no Square location counts it"),
                );
                ok = false;
            }
        }
        let mut variations = BTreeMap::new();
        for (variation, sku) in raw.square_variations.iter().flatten() {
            let at = path.key("square_variations").key(variation);
            if let Some(sku) = self.check(&at, Sku::new(sku.as_str()).map_err(|e| e.to_string())) {
                variations.insert(variation.clone(), sku);
            } else {
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        Some(SquareChannel {
            base_url: base_url?,
            square_version,
            access_token: access_token?,
            webhook_signature_key: webhook_signature_key?,
            notification_url,
            locations,
            variations,
            hold_state,
        })
    }
}
