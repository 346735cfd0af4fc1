//! One parsed snapshot file: its time, its good rows, and its bad rows each with its number
//! and reason. A bad row never costs the good ones; a file whose envelope is broken is
//! refused whole by its format's parser instead.

use std::collections::{BTreeMap, HashMap};

use omnistock_sdk::{LocationId, Sku, Timestamp};

/// A SKU's count at one of our locations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Where it is in the file (the CSV line, the EDI segment of its `LIN`), for messages.
    pub number: usize,
    pub sku: Sku,
    pub location: LocationId,
    pub quantity: i64,
    /// When it was counted.
    pub at: Timestamp,
}

/// A row left out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub number: usize,
    pub reason: String,
}

/// A whole file, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The time of the count: the latest of its rows' times. A snapshot not newer than the
    /// last one applied is refused.
    pub time: Timestamp,
    pub rows: Vec<Row>,
    pub rejected: Vec<RowError>,
}

/// Turns the 3PL's location codes into ours.
#[derive(Clone, Debug)]
pub struct Places<'a> {
    pub locations: &'a BTreeMap<String, LocationId>,
    pub default_location: Option<&'a LocationId>,
}

impl Places<'_> {
    fn resolve(&self, code: Option<&str>) -> Result<LocationId, String> {
        match code.map(str::trim).filter(|c| !c.is_empty()) {
            Some(code) => self
                .locations
                .get(code)
                .cloned()
                .ok_or_else(|| format!("location {code:?} is not in config")),
            None => self
                .default_location
                .cloned()
                .ok_or_else(|| "no location, and no default_location in config".to_owned()),
        }
    }
}

/// Collects rows as a format's parser finds them, checking what every format shares: a
/// usable SKU, a whole non-negative quantity, a known location, one row per SKU and location.
#[derive(Debug)]
pub struct Builder<'a> {
    places: Places<'a>,
    rows: Vec<Row>,
    rejected: Vec<RowError>,
    seen: HashMap<(Sku, LocationId), usize>,
}

/// One row as written, before any check.
#[derive(Clone, Copy, Debug)]
pub struct RawRow<'r> {
    pub number: usize,
    pub sku: &'r str,
    pub quantity: &'r str,
    pub location: Option<&'r str>,
    pub at: Timestamp,
}

impl<'a> Builder<'a> {
    pub fn new(places: Places<'a>) -> Self {
        Self {
            places,
            rows: Vec::new(),
            rejected: Vec::new(),
            seen: HashMap::new(),
        }
    }

    /// Leaves a row out, with why.
    pub fn reject(&mut self, number: usize, reason: impl Into<String>) {
        self.rejected.push(RowError {
            number,
            reason: reason.into(),
        });
    }

    /// Checks one row and keeps it, or rejects it with its reason.
    pub fn row(&mut self, raw: RawRow<'_>) {
        match self.check(raw) {
            Ok(row) => {
                let key = (row.sku.clone(), row.location.clone());
                if let Some(first) = self.seen.get(&key) {
                    let reason = format!(
                        "SKU {} at {} again (first on row {first})",
                        row.sku, row.location
                    );
                    self.reject(raw.number, reason);
                } else {
                    self.seen.insert(key, raw.number);
                    self.rows.push(row);
                }
            }
            Err(reason) => self.reject(raw.number, reason),
        }
    }

    fn check(&self, raw: RawRow<'_>) -> Result<Row, String> {
        let sku = Sku::new(raw.sku.trim()).map_err(|e| e.to_string())?;
        let text = raw.quantity.trim();
        let quantity: i64 = text
            .parse()
            .map_err(|_| format!("quantity {text:?} is not a whole number"))?;
        if quantity < 0 {
            return Err(format!("quantity {quantity} is negative"));
        }
        let location = self.places.resolve(raw.location)?;
        Ok(Row {
            number: raw.number,
            sku,
            location,
            quantity,
            at: raw.at,
        })
    }

    /// The snapshot; `fallback` is its time when it has no row to take one from.
    pub fn finish(self, fallback: Timestamp) -> Snapshot {
        let time = self.rows.iter().map(|r| r.at).max().unwrap_or(fallback);
        Snapshot {
            time,
            rows: self.rows,
            rejected: self.rejected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(name: &str) -> LocationId {
        LocationId::new(name).expect("valid location")
    }

    #[test]
    fn rows_are_checked_one_by_one() {
        let locations = BTreeMap::from([("EAST".to_owned(), loc("wh-east"))]);
        let mut b = Builder::new(Places {
            locations: &locations,
            default_location: None,
        });
        let at = Timestamp::from_millis(1000);
        let raw = |number, sku, quantity, location| RawRow {
            number,
            sku,
            quantity,
            location,
            at,
        };
        b.row(raw(2, "MUG", "4", Some("EAST")));
        b.row(raw(3, "", "4", Some("EAST")));
        b.row(raw(4, "CAP", "four", Some("EAST")));
        b.row(raw(5, "CAP", "-1", Some("EAST")));
        b.row(raw(6, "CAP", "1", Some("WEST")));
        b.row(raw(7, "CAP", "1", None));
        b.row(raw(8, "MUG", "5", Some("EAST")));
        let s = b.finish(Timestamp::EPOCH);
        assert_eq!(s.rows.len(), 1);
        assert_eq!(s.time, at);
        let numbers: Vec<_> = s.rejected.iter().map(|e| e.number).collect();
        assert_eq!(numbers, [3, 4, 5, 6, 7, 8]);
        assert!(s.rejected[4].reason.contains("default_location"), "{s:?}");
        assert!(s.rejected[5].reason.contains("first on row 2"), "{s:?}");
    }
}
