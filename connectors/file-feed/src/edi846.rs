//! EDI X12 846 (Inventory Inquiry/Advice) snapshots, through a small strict segment parser
//! of our own for the subset a 3PL's stock report uses: the `ISA`/`GS`/`ST` envelope, `BIA`
//! (its date and time are the snapshot's), an optional `N1` naming the warehouse, then per
//! item a `LIN` with the SKU (`SK`), a `QTY` with the configured qualifier or `SDQ`
//! quantities per location, and the trailers `CTT`, `SE`, `GE`, `IEA` whose counts must
//! match. A broken envelope or a wrong count refuses the whole file (it may be truncated);
//! an odd item is rejected on its own. Other segments (`DTM`, `REF`, `PID`, `N3`, …) are
//! counted and passed over.
//!
//! Why not a crate: the X12 crates we found are either unmaintained for years or generate
//! typed structs for every transaction set and version (a heavy build for 14 segments), and
//! none checks the trailer counts the way a snapshot needs.

use chrono::{NaiveDate, NaiveTime};
use omnistock_sdk::Timestamp;

use crate::snapshot::{Builder, Places, RawRow, Snapshot};

/// One segment: its position in the interchange (1-based) and its elements, id first.
#[derive(Debug)]
struct Segment<'a> {
    number: usize,
    elements: Vec<&'a str>,
}

impl<'a> Segment<'a> {
    fn id(&self) -> &'a str {
        self.elements.first().copied().unwrap_or("")
    }

    fn get(&self, i: usize) -> Option<&'a str> {
        self.elements
            .get(i)
            .copied()
            .map(str::trim)
            .filter(|e| !e.is_empty())
    }

    fn need(&self, i: usize, what: &str) -> Result<&'a str, String> {
        self.get(i)
            .ok_or_else(|| self.error(&format!("no {what} ({}{i:02})", self.id())))
    }

    fn error(&self, message: &str) -> String {
        format!("segment {} ({}): {message}", self.number, self.id())
    }
}

/// Splits an interchange into segments, with the separators its `ISA` declares.
fn segments(text: &str) -> Result<Vec<Segment<'_>>, String> {
    let text = text.trim_start();
    let bytes = text.as_bytes();
    if !text.starts_with("ISA") || bytes.len() < 106 {
        return Err("not an X12 interchange: it does not start with a 106-character ISA".into());
    }
    let element = bytes[3] as char;
    let terminator = bytes[105] as char;
    if element.is_alphanumeric() || terminator.is_alphanumeric() || element == terminator {
        return Err(format!(
            "ISA declares unusable separators ({element:?} and {terminator:?})"
        ));
    }
    Ok(text
        .split(terminator)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, s)| Segment {
            number: i + 1,
            elements: s.split(element).collect(),
        })
        .collect())
}

/// An `ISA` header with its fixed widths, `*` between elements, `>` between components and
/// `~` after it; `date` is `YYMMDD`, `time` `HHMM`.
#[cfg(any(test, feature = "fake"))]
pub fn isa(sender: &str, receiver: &str, date: &str, time: &str, control: u32) -> String {
    format!(
        "ISA*00*{:10}*00*{:10}*ZZ*{sender:<15}*ZZ*{receiver:<15}*{date}*{time}*U*00401*{control:09}*0*P*>~",
        "", ""
    )
}

fn count(seg: &Segment<'_>, i: usize, what: &str) -> Result<usize, String> {
    let text = seg.need(i, what)?;
    text.parse()
        .map_err(|_| seg.error(&format!("{what} {text:?} is not a number")))
}

fn time(seg: &Segment<'_>) -> Result<Timestamp, String> {
    let date = seg.need(4, "date")?;
    let date = NaiveDate::parse_from_str(date, "%Y%m%d")
        .map_err(|_| seg.error(&format!("date {date:?} is not CCYYMMDD")))?;
    let time = match seg.get(5) {
        None => NaiveTime::MIN,
        Some(t) => NaiveTime::parse_from_str(t, "%H%M%S")
            .or_else(|_| NaiveTime::parse_from_str(t, "%H%M"))
            .map_err(|_| seg.error(&format!("time {t:?} is not HHMM or HHMMSS")))?,
    };
    // X12 times carry no zone; the 3PL's reports are taken as UTC.
    Ok(Timestamp::from_millis(
        date.and_time(time).and_utc().timestamp_millis(),
    ))
}

/// One `LIN` loop while it is read.
#[derive(Debug, Default)]
struct Item<'a> {
    number: usize,
    sku: Option<&'a str>,
    quantity: Option<&'a str>,
    by_location: Vec<(&'a str, &'a str)>,
}

/// One `ST` … `SE` transaction set while it is read.
#[derive(Debug)]
struct Set<'a> {
    control: &'a str,
    segments: usize,
    items: usize,
    /// The sum of every `QTY02`, for `CTT02`; `None` once one is not a whole number.
    quantity_total: Option<i64>,
    time: Option<Timestamp>,
    location: Option<&'a str>,
    item: Option<Item<'a>>,
}

/// Parses an 846 interchange; `qualifier` is the `QTY01` whose quantity is the count.
pub fn parse(bytes: &[u8], qualifier: &str, places: Places<'_>) -> Result<Snapshot, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not text: {e}"))?;
    let segments = segments(text)?;
    let mut builder = Builder::new(places);
    let mut isa_control = None;
    let mut group: Option<(&str, usize)> = None;
    let mut groups = 0;
    let mut set: Option<Set<'_>> = None;
    let mut latest = None;
    let mut ended = false;
    for seg in &segments {
        if ended {
            return Err(seg.error("after IEA"));
        }
        if let Some(s) = set.as_mut() {
            s.segments += 1;
        }
        match (seg.id(), set.as_mut()) {
            ("ISA", _) if seg.number == 1 => isa_control = Some(seg.need(13, "control number")?),
            ("GS", None) if group.is_none() => group = Some((seg.need(6, "control number")?, 0)),
            ("GE", None) => {
                let (control, sets) = group.take().ok_or_else(|| seg.error("GE without GS"))?;
                check(seg, count(seg, 1, "set count")?, sets, "transaction sets")?;
                check_control(seg, 2, control)?;
                groups += 1;
            }
            ("ST", None) if group.is_some() => {
                let kind = seg.need(1, "transaction set id")?;
                if kind != "846" {
                    return Err(seg.error(&format!("transaction set {kind}, not 846")));
                }
                set = Some(Set {
                    control: seg.need(2, "control number")?,
                    segments: 1,
                    items: 0,
                    quantity_total: Some(0),
                    time: None,
                    location: None,
                    item: None,
                });
            }
            ("BIA", Some(s)) => s.time = Some(time(seg)?),
            ("N1", Some(s)) if s.item.is_none() && s.items == 0 => s.location = seg.get(4),
            ("LIN", Some(s)) => {
                finish_item(s, &mut builder)?;
                if s.time.is_none() {
                    return Err(seg.error("LIN before BIA: the report has no date"));
                }
                s.items += 1;
                // LIN01 is the line's own number; then (qualifier, id) pairs.
                let sku =
                    seg.elements
                        .get(2..)
                        .unwrap_or(&[])
                        .chunks(2)
                        .find_map(|pair| match pair {
                            [q, id] if q.trim() == "SK" => Some(id.trim()),
                            _ => None,
                        });
                s.item = Some(Item {
                    number: seg.number,
                    sku,
                    ..Item::default()
                });
            }
            ("QTY", Some(s)) => {
                let text = seg.need(2, "quantity")?;
                s.quantity_total = s
                    .quantity_total
                    .zip(text.parse::<i64>().ok())
                    .and_then(|(sum, n)| sum.checked_add(n));
                if let Some(item) = s.item.as_mut().filter(|_| seg.get(1) == Some(qualifier)) {
                    item.quantity = Some(text);
                }
            }
            ("SDQ", Some(s)) => {
                if let Some(item) = s.item.as_mut() {
                    for pair in seg.elements.get(3..).unwrap_or(&[]).chunks(2) {
                        if let [location, quantity] = pair {
                            item.by_location.push((location.trim(), quantity.trim()));
                        }
                    }
                }
            }
            ("CTT", Some(s)) => {
                finish_item(s, &mut builder)?;
                check(seg, count(seg, 1, "line count")?, s.items, "LIN loops")?;
                if let Some(total) = seg.get(2) {
                    let total: i64 = total
                        .parse()
                        .map_err(|_| seg.error(&format!("hash total {total:?} is not a number")))?;
                    if Some(total) != s.quantity_total {
                        return Err(seg.error(&format!(
                            "hash total {total} does not match the quantities' sum"
                        )));
                    }
                }
            }
            ("SE", Some(s)) => {
                finish_item(s, &mut builder)?;
                check(seg, count(seg, 1, "segment count")?, s.segments, "segments")?;
                check_control(seg, 2, s.control)?;
                latest = latest.max(s.time);
                set = None;
                if let Some((_, sets)) = group.as_mut() {
                    *sets += 1;
                }
            }
            ("IEA", None) if group.is_none() => {
                check(
                    seg,
                    count(seg, 1, "group count")?,
                    groups,
                    "functional groups",
                )?;
                check_control(
                    seg,
                    2,
                    isa_control.ok_or_else(|| seg.error("no ISA control number"))?,
                )?;
                ended = true;
            }
            (_, Some(_)) => {} // DTM, REF, PID, N3, N4, SCH…: counted, not needed
            (id, None) => return Err(seg.error(&format!("{id} out of place"))),
        }
    }
    if !ended {
        return Err("no IEA: the interchange is cut short".into());
    }
    let time = latest.ok_or("no transaction set")?;
    Ok(builder.finish(time))
}

fn check(seg: &Segment<'_>, said: usize, counted: usize, what: &str) -> Result<(), String> {
    if said == counted {
        Ok(())
    } else {
        Err(seg.error(&format!("says {said} {what}, there are {counted}")))
    }
}

fn check_control(seg: &Segment<'_>, i: usize, expected: &str) -> Result<(), String> {
    let said = seg.need(i, "control number")?;
    if said.trim_start_matches('0') == expected.trim_start_matches('0') {
        Ok(())
    } else {
        Err(seg.error(&format!(
            "control number {said} does not match the header's {expected}"
        )))
    }
}

/// Turns the item being read into rows (or rejections).
fn finish_item(set: &mut Set<'_>, builder: &mut Builder<'_>) -> Result<(), String> {
    let Some(item) = set.item.take() else {
        return Ok(());
    };
    let at = set.time.ok_or("LIN before BIA")?;
    let Some(sku) = item.sku else {
        builder.reject(item.number, "no SK (SKU) in LIN");
        return Ok(());
    };
    let raw = |quantity, location| RawRow {
        number: item.number,
        sku,
        quantity,
        location,
        at,
    };
    if !item.by_location.is_empty() {
        for (location, quantity) in item.by_location {
            builder.row(raw(quantity, Some(location)));
        }
    } else if let Some(quantity) = item.quantity {
        builder.row(raw(quantity, set.location));
    } else {
        builder.reject(item.number, "no QTY with the configured qualifier, no SDQ");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use omnistock_sdk::LocationId;

    use super::*;

    fn interchange(body: &[&str], lins: usize, total: i64) -> String {
        let mut set = vec![
            "ST*846*0001".to_owned(),
            "BIA*00*DD*R-77*20261123*1030".into(),
        ];
        set.push("N1*WH*East DC*92*EAST".into());
        set.extend(body.iter().map(|s| (*s).to_owned()));
        set.push(format!("CTT*{lins}*{total}"));
        set.push(format!("SE*{}*0001", set.len() + 1));
        format!(
            "{}\nGS*IB*THREEPL*OMNISTOCK*20261123*1030*905*X*004010~\n{}~\nGE*1*905~\nIEA*1*000000905~\n",
            isa("THREEPL", "OMNISTOCK", "261123", "1000", 905),
            set.join("~\n")
        )
    }

    #[test]
    fn the_isa_header_has_its_fixed_width() {
        assert_eq!(isa("A", "B", "261123", "1000", 1).len(), 106);
    }

    fn parse_text(text: &str) -> Result<Snapshot, String> {
        let locations = BTreeMap::from([
            (
                "EAST".to_owned(),
                LocationId::new("wh-east").expect("valid"),
            ),
            (
                "WEST".to_owned(),
                LocationId::new("wh-west").expect("valid"),
            ),
        ]);
        parse(
            text.as_bytes(),
            "33",
            Places {
                locations: &locations,
                default_location: None,
            },
        )
    }

    #[test]
    fn a_good_report_gives_its_rows_at_the_bia_time() {
        let text = interchange(
            &[
                "LIN*1*SK*MUG*UP*012345678905",
                "QTY*33*12*EA",
                "QTY*17*15*EA",
                "LIN*2*SK*CAP",
                "SDQ*EA*92*EAST*3*WEST*4",
                "QTY*33*7*EA",
            ],
            2,
            34,
        );
        let s = parse_text(&text).expect("valid report");
        let rows: Vec<_> = s
            .rows
            .iter()
            .map(|r| (r.sku.as_str(), r.location.as_str(), r.quantity))
            .collect();
        assert_eq!(
            rows,
            [
                ("MUG", "wh-east", 12),
                ("CAP", "wh-east", 3),
                ("CAP", "wh-west", 4)
            ]
        );
        assert_eq!(s.time.to_rfc3339(), "2026-11-23T10:30:00.000Z");
        assert!(s.rejected.is_empty(), "{s:?}");
    }

    #[test]
    fn odd_items_are_rejected_alone() {
        let text = interchange(
            &[
                "LIN*1*UP*012345678905",
                "QTY*33*1*EA",
                "LIN*2*SK*CAP",
                "QTY*17*5*EA",
                "LIN*3*SK*MUG",
                "QTY*33*2*EA",
            ],
            3,
            8,
        );
        let s = parse_text(&text).expect("envelope is fine");
        assert_eq!(s.rows.len(), 1);
        assert_eq!(s.rejected.len(), 2, "{s:?}");
        assert!(s.rejected[0].reason.contains("no SK"), "{s:?}");
    }

    #[test]
    fn wrong_trailer_counts_refuse_the_file() {
        let lines = &["LIN*1*SK*MUG", "QTY*33*12*EA"];
        let bad_ctt = interchange(lines, 2, 12);
        assert!(parse_text(&bad_ctt).expect_err("CTT").contains("LIN loops"));
        let bad_hash = interchange(lines, 1, 13);
        assert!(
            parse_text(&bad_hash)
                .expect_err("hash")
                .contains("hash total")
        );
        let good = interchange(lines, 1, 12);
        let bad_se = good.replace("SE*7*0001", "SE*6*0001");
        assert!(
            parse_text(&bad_se).expect_err("SE").contains("segments"),
            "{bad_se}"
        );
        let bad_iea = good.replace("IEA*1*000000905", "IEA*1*000000906");
        assert!(
            parse_text(&bad_iea)
                .expect_err("IEA")
                .contains("control number")
        );
        let cut = &good[..good.find("GE*").expect("GE")];
        assert!(parse_text(cut).expect_err("cut").contains("no IEA"));
        assert!(parse_text("hello").expect_err("not EDI").contains("ISA"));
    }
}
