//! CSV snapshots: a header row, then one row per SKU and location, the columns named by the
//! channel's mapping (`sku = "item"`, `quantity = "on_hand"`, …) since every 3PL names them
//! its own way. Quoting and embedded commas are the `csv` crate's job.

use omnistock_sdk::Timestamp;

use crate::settings::Columns;
use crate::snapshot::{Builder, Places, RawRow, Snapshot};

/// Parses a CSV snapshot. A missing mapped column refuses the whole file; a bad row is
/// rejected on its own. `modified` is the time of rows when no time column is mapped.
pub fn parse(
    bytes: &[u8],
    columns: &Columns,
    places: Places<'_>,
    modified: Timestamp,
) -> Result<Snapshot, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| format!("reading the header row: {e}"))?
        .clone();
    let index = |name: &str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                format!(
                    "no column {name:?} in the header row ({})",
                    headers.iter().collect::<Vec<_>>().join(", ")
                )
            })
    };
    let sku = index(&columns.sku)?;
    let quantity = index(&columns.quantity)?;
    let location = columns.location.as_deref().map(index).transpose()?;
    let time = columns.time.as_deref().map(index).transpose()?;

    let mut builder = Builder::new(places);
    let mut record = csv::StringRecord::new();
    loop {
        let number = reader.position().line() as usize;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // Invalid UTF-8 or a broken quote: this row only.
                builder.reject(number, format!("unreadable row: {e}"));
                continue;
            }
        }
        let number = record.position().map_or(number, |p| p.line() as usize);
        if record.iter().all(str::is_empty) {
            continue; // a blank line, often at the end
        }
        let field = |i: usize| record.get(i);
        let (Some(sku), Some(quantity)) = (field(sku), field(quantity)) else {
            builder.reject(
                number,
                format!("{} fields, fewer than the header's", record.len()),
            );
            continue;
        };
        let at = match time {
            None => modified,
            Some(i) => match field(i).map(Timestamp::parse_rfc3339) {
                Some(Ok(at)) => at,
                Some(Err(e)) => {
                    builder.reject(number, e);
                    continue;
                }
                None => {
                    builder.reject(number, "no time field");
                    continue;
                }
            },
        };
        builder.row(RawRow {
            number,
            sku,
            quantity,
            location: location.and_then(field),
            at,
        });
    }
    Ok(builder.finish(modified))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use omnistock_sdk::LocationId;

    use super::*;

    fn columns() -> Columns {
        Columns {
            sku: "item".into(),
            quantity: "on_hand".into(),
            location: Some("warehouse".into()),
            time: Some("as_of".into()),
        }
    }

    fn parse_with(text: &str) -> Result<Snapshot, String> {
        let locations = BTreeMap::from([(
            "EAST".to_owned(),
            LocationId::new("wh-east").expect("valid"),
        )]);
        parse(
            text.as_bytes(),
            &columns(),
            Places {
                locations: &locations,
                default_location: None,
            },
            Timestamp::EPOCH,
        )
    }

    #[test]
    fn mapped_columns_in_any_order_and_case() {
        let s = parse_with(
            "As_Of,Warehouse,On_Hand,Item,extra\n\
             2026-11-23T10:00:00Z,EAST,4,MUG,x\n\
             2026-11-23T10:05:00Z,EAST,\"12\",\"CAP, RED\",y\n",
        )
        .expect("valid file");
        assert_eq!(s.rows.len(), 2, "{s:?}");
        assert_eq!(s.rows[1].sku.as_str(), "CAP, RED");
        assert_eq!(s.rows[1].number, 3);
        assert_eq!(
            s.time,
            Timestamp::parse_rfc3339("2026-11-23T10:05:00Z").expect("time")
        );
    }

    #[test]
    fn bad_rows_are_rejected_with_their_line_and_the_rest_kept() {
        let s = parse_with(
            "item,on_hand,warehouse,as_of\n\
             MUG,4,EAST,2026-11-23T10:00:00Z\n\
             CAP,lots,EAST,2026-11-23T10:00:00Z\n\
             HAT,1,EAST,yesterday\n\
             SHORT\n\
             \n\
             SOCK,2,EAST,2026-11-23T10:00:00Z\n",
        )
        .expect("valid file");
        let skus: Vec<_> = s.rows.iter().map(|r| r.sku.as_str()).collect();
        assert_eq!(skus, ["MUG", "SOCK"]);
        let errors: Vec<_> = s
            .rejected
            .iter()
            .map(|e| (e.number, e.reason.as_str()))
            .collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(errors[0].0, 3);
        assert!(errors[0].1.contains("\"lots\""), "{errors:?}");
        assert_eq!(errors[1].0, 4);
        assert!(errors[1].1.contains("yesterday"), "{errors:?}");
        assert_eq!(errors[2].0, 5);
    }

    #[test]
    fn a_missing_column_refuses_the_file() {
        let err = parse_with("sku,qty\nMUG,1\n").expect_err("no item column");
        assert!(err.contains("no column \"item\""), "{err}");
    }
}
