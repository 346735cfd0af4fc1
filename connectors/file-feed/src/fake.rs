//! A 3PL's side of a drop folder, for tests and demos: writes snapshot files the way
//! uploaders do — atomically (written under a `.part` name, then renamed), half-written
//! under the final name and finished later, with malformed rows — in CSV or EDI 846.
//!
//! ```ignore
//! let drop = DropWriter::new(dir.path());
//! drop.csv("inv-0001.csv", &[CsvRow::new("MUG", 4, "EAST", "2026-11-23T10:00:00Z")]);
//! ```

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// One CSV row as the 3PL writes it: `item,on_hand,warehouse,as_of`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvRow {
    pub item: String,
    pub on_hand: String,
    pub warehouse: String,
    pub as_of: String,
}

impl CsvRow {
    pub fn new(item: &str, on_hand: i64, warehouse: &str, as_of: &str) -> Self {
        Self {
            item: item.into(),
            on_hand: on_hand.to_string(),
            warehouse: warehouse.into(),
            as_of: as_of.into(),
        }
    }

    /// A row whose quantity is not a number.
    pub fn malformed(item: &str, warehouse: &str, as_of: &str) -> Self {
        Self {
            on_hand: "n/a".into(),
            ..Self::new(item, 0, warehouse, as_of)
        }
    }
}

/// The header [`CsvRow`]s are written under: map `sku = "item"`, `quantity = "on_hand"`,
/// `location = "warehouse"`, `time = "as_of"`.
pub const CSV_HEADER: &str = "item,on_hand,warehouse,as_of";

/// The CSV text of `rows`, with its header.
pub fn csv_text(rows: &[CsvRow]) -> String {
    let mut text = String::with_capacity(32 * (rows.len() + 1));
    text.push_str(CSV_HEADER);
    text.push('\n');
    for r in rows {
        text.push_str(&format!(
            "{},{},{},{}\n",
            r.item, r.on_hand, r.warehouse, r.as_of
        ));
    }
    text
}

/// An EDI 846 interchange reporting `(sku, quantity)` with `QTY*33` at the warehouse `N1`
/// names, dated `date` (`CCYYMMDD`) `time` (`HHMM`), with correct trailer counts.
pub fn edi846_text(warehouse: &str, date: &str, time: &str, items: &[(&str, i64)]) -> String {
    let mut set = vec![
        "ST*846*0001".to_owned(),
        format!("BIA*00*DD*SNAP-{date}{time}*{date}*{time}"),
        format!("N1*WH*Warehouse*92*{warehouse}"),
    ];
    for (n, (sku, quantity)) in items.iter().enumerate() {
        set.push(format!("LIN*{}*SK*{sku}", n + 1));
        set.push(format!("QTY*33*{quantity}*EA"));
    }
    let total: i64 = items.iter().map(|(_, q)| q).sum();
    set.push(format!("CTT*{}*{total}", items.len()));
    set.push(format!("SE*{}*0001", set.len() + 1));
    format!(
        "{}\nGS*IB*THREEPL*OMNISTOCK*{date}*{time}*1*X*004010~\n{}~\nGE*1*1~\nIEA*1*000000001~\n",
        crate::edi846::isa(
            "THREEPL",
            "OMNISTOCK",
            date.get(2..).unwrap_or(date),
            time,
            1
        ),
        set.join("~\n")
    )
}

/// Writes files into one drop folder.
#[derive(Clone, Debug)]
pub struct DropWriter {
    dir: PathBuf,
}

/// A file being uploaded under its final name.
#[derive(Debug)]
pub struct HalfWritten {
    path: PathBuf,
    rest: Vec<u8>,
}

impl HalfWritten {
    /// Writes the rest, as the upload completes.
    pub fn finish(self) -> std::io::Result<()> {
        OpenOptions::new()
            .append(true)
            .open(&self.path)?
            .write_all(&self.rest)
    }
}

impl DropWriter {
    pub fn new(dir: impl AsRef<Path>) -> Self {
        Self {
            dir: dir.as_ref().to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Drops `contents` as `name` atomically: written as `name.part`, then renamed.
    pub fn drop_file(&self, name: &str, contents: &str) -> std::io::Result<()> {
        let part = self.dir.join(format!("{name}.part"));
        std::fs::write(&part, contents)?;
        std::fs::rename(part, self.dir.join(name))
    }

    /// Drops a CSV snapshot of `rows` as `name`, atomically.
    pub fn csv(&self, name: &str, rows: &[CsvRow]) -> std::io::Result<()> {
        self.drop_file(name, &csv_text(rows))
    }

    /// Starts writing `contents` under its final name `name` and stops halfway, as a slow
    /// upload that does not rename does.
    pub fn half_written(&self, name: &str, contents: &str) -> std::io::Result<HalfWritten> {
        let bytes = contents.as_bytes();
        let half = bytes.len() / 2;
        let path = self.dir.join(name);
        std::fs::write(&path, &bytes[..half])?;
        Ok(HalfWritten {
            path,
            rest: bytes[half..].to_vec(),
        })
    }

    /// Starts writing `contents` as `name.part`, stops halfway, and returns a function-like
    /// handle that completes it and renames it to `name`.
    pub fn half_written_then_renamed(
        &self,
        name: &str,
        contents: &str,
    ) -> std::io::Result<PendingRename> {
        let part = format!("{name}.part");
        let upload = self.half_written(&part, contents)?;
        Ok(PendingRename {
            upload,
            from: self.dir.join(part),
            to: self.dir.join(name),
        })
    }
}

/// An upload under a temporary name, to be completed and renamed.
#[derive(Debug)]
pub struct PendingRename {
    upload: HalfWritten,
    from: PathBuf,
    to: PathBuf,
}

impl PendingRename {
    pub fn finish(self) -> std::io::Result<()> {
        self.upload.finish()?;
        std::fs::rename(self.from, self.to)
    }
}
