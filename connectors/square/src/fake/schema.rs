//! Request bodies checked against Square's official OpenAPI schemas
//! (`shared/api/square-openapi.json`, `square/connect-api-specification` release 2025-08-20).
//!
//! The schemas a request reaches are copied out of `components.schemas` (the whole file has a
//! dangling `$ref` elsewhere) and made strict before they are compiled: an object refuses
//! properties its schema does not name (Square ignores unknown fields, so a misspelled one
//! would silently do nothing — here it fails the test), and `readOnly` properties are
//! refused in a request. OpenAPI 3.0's `nullable` is left to the validator, which ignores it:
//! we never send `null`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jsonschema::{Draft, Validator};
use serde_json::{Map, Value, json};

/// The request schemas the fake checks, by the path they are posted to.
pub const REQUESTS: &[(&str, &str)] = &[
    (
        "/v2/inventory/changes/batch-create",
        "BatchChangeInventoryRequest",
    ),
    (
        "/v2/inventory/counts/batch-retrieve",
        "BatchRetrieveInventoryCountsRequest",
    ),
    (
        "/v2/inventory/changes/batch-retrieve",
        "BatchRetrieveInventoryChangesRequest",
    ),
];

/// The spec file beside the repository (`../shared/api/square-openapi.json`), or the path in
/// `OMNISTOCK_SQUARE_OPENAPI`.
pub fn default_spec_path() -> PathBuf {
    match std::env::var_os("OMNISTOCK_SQUARE_OPENAPI") {
        Some(path) => PathBuf::from(path),
        None => {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/api/square-openapi.json")
        }
    }
}

/// Compiled validators, one per request path.
pub struct Schemas {
    validators: BTreeMap<&'static str, Validator>,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.validators.keys()).finish()
    }
}

impl Schemas {
    /// Loads the spec and compiles a validator for each of [`REQUESTS`].
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading Square's OpenAPI spec {}: {e}", path.display()))?;
        let spec: Value = serde_json::from_str(&text)
            .map_err(|e| format!("parsing Square's OpenAPI spec {}: {e}", path.display()))?;
        let all = spec
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .ok_or("the spec has no components.schemas")?;
        let mut validators = BTreeMap::new();
        for (route, name) in REQUESTS {
            let mut reached = Map::new();
            reach(all, name, &mut reached)?;
            let strict: Map<String, Value> = reached
                .into_iter()
                .map(|(k, v)| (k, strictify(v)))
                .collect();
            let document = json!({
                "components": { "schemas": strict },
                "allOf": [{ "$ref": format!("#/components/schemas/{name}") }],
            });
            let validator = jsonschema::options()
                .with_draft(Draft::Draft4)
                .build(&document)
                .map_err(|e| format!("compiling the schema of {name}: {e}"))?;
            validators.insert(*route, validator);
        }
        Ok(Self { validators })
    }

    /// Every way `body` breaks the schema of `route`'s request; empty when it conforms or
    /// the route takes no body.
    pub fn check(&self, route: &str, body: &Value) -> Vec<String> {
        match self.validators.get(route) {
            Some(v) => v
                .iter_errors(body)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect(),
            None => Vec::new(),
        }
    }
}

/// Copies `name` and every schema it references into `out`.
fn reach(all: &Map<String, Value>, name: &str, out: &mut Map<String, Value>) -> Result<(), String> {
    if out.contains_key(name) {
        return Ok(());
    }
    let schema = all
        .get(name)
        .ok_or_else(|| format!("the spec has no schema {name}"))?;
    out.insert(name.to_owned(), schema.clone());
    let mut refs = Vec::new();
    collect_refs(schema, &mut refs);
    for r in refs {
        reach(all, &r, out)?;
    }
    Ok(())
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                out.push(name.to_owned());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Objects refuse unnamed and read-only properties; `$ref` siblings (descriptions) dropped.
fn strictify(value: Value) -> Value {
    match value {
        Value::Object(mut map) => {
            if map.contains_key("$ref") {
                map.retain(|k, _| k == "$ref");
                return Value::Object(map);
            }
            if let Some(Value::Object(props)) = map.remove("properties") {
                let writable: Map<String, Value> = props
                    .into_iter()
                    .filter(|(_, p)| p.get("readOnly") != Some(&Value::Bool(true)))
                    .map(|(k, v)| (k, strictify(v)))
                    .collect();
                map.insert("properties".into(), Value::Object(writable));
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            if let Some(items) = map.remove("items") {
                map.insert("items".into(), strictify(items));
            }
            Value::Object(map)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schemas() -> Schemas {
        Schemas::load(&default_spec_path()).expect("the spec loads")
    }

    #[test]
    fn the_spec_example_conforms_and_misspellings_do_not() {
        let schemas = schemas();
        let route = "/v2/inventory/changes/batch-create";
        let good = json!({"idempotency_key":"8fc6a5b0","ignore_unchanged_counts":true,
            "changes":[{"type":"PHYSICAL_COUNT","physical_count":{"catalog_object_id":"W62U",
            "location_id":"C6W5","occurred_at":"2016-11-16T22:25:24.878Z","quantity":"53",
            "reference_id":"1536","state":"IN_STOCK"}}]});
        assert_eq!(schemas.check(route, &good), Vec::<String>::new());
        let mut misspelled = good.clone();
        misspelled["changes"][0]["physical_count"]["quantty"] = json!("53");
        assert!(!schemas.check(route, &misspelled).is_empty());
        let mut read_only = good.clone();
        read_only["changes"][0]["physical_count"]["created_at"] = json!("2016-11-16T22:25:24Z");
        assert!(!schemas.check(route, &read_only).is_empty());
        let mut bad_state = good;
        bad_state["changes"][0]["physical_count"]["state"] = json!("ON_SHELF");
        assert!(!schemas.check(route, &bad_state).is_empty());
        assert!(
            !schemas.check(route, &json!({"changes": []})).is_empty(),
            "key is required"
        );
    }
}
