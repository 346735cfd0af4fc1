//! `[kits.KIT]`: SKUs sold as sets of other SKUs.
//!
//! A kit has no stock of its own: it shows the least its components allow and a sale of it
//! reserves its components (see `src/kits.rs`). So a component cannot be a kit itself (a kit
//! of kits would need its own order of expansion) and a kit cannot contain itself.

use std::collections::BTreeMap;

use omnistock_sdk::Sku;

use super::Kit;
use super::lines::FieldPath;
use super::raw::RawKit;

/// The kits, or every problem with them, each at its field.
pub(super) fn validate(
    path: &FieldPath,
    raw: &BTreeMap<String, RawKit>,
) -> Result<BTreeMap<Sku, Kit>, Vec<(FieldPath, String)>> {
    let mut problems = Vec::new();
    let mut kits = BTreeMap::new();
    for (name, kit) in raw {
        let at = path.key(name);
        let sku = match Sku::new(name.as_str()) {
            Ok(sku) => sku,
            Err(e) => {
                problems.push((at, format!("invalid SKU: {e}")));
                continue;
            }
        };
        let Some(components) = &kit.components else {
            problems.push((
                at.key("components"),
                "required: the SKUs one kit is made of, like components = { MUG = 2, TEA = 1 }"
                    .to_owned(),
            ));
            continue;
        };
        if components.is_empty() {
            problems.push((
                at.key("components"),
                "a kit needs at least one component".to_owned(),
            ));
            continue;
        }
        let mut built = Vec::new();
        for (component, quantity) in components {
            let here = at.key("components").key(component);
            let checked = Sku::new(component.as_str())
                .map_err(|e| format!("invalid SKU: {e}"))
                .and_then(|c| match c == sku {
                    true => Err(format!("kit {name} cannot contain itself")),
                    false if raw.contains_key(component) => Err(format!(
                        "{component} is a kit itself; list its components instead"
                    )),
                    false => Ok(c),
                })
                .and_then(|c| match u32::try_from(*quantity) {
                    Ok(q) if q >= 1 => Ok((c, q)),
                    _ => Err(format!(
                        "{quantity}: a kit takes at least 1 of each component"
                    )),
                });
            match checked {
                Ok(entry) => built.push(entry),
                Err(message) => problems.push((here, message)),
            }
        }
        kits.insert(sku, Kit { components: built });
    }
    if problems.is_empty() {
        Ok(kits)
    } else {
        Err(problems)
    }
}
