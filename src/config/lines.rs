//! Where a problem sits: field paths (`channels.pos.sells_from[1]`) and their lines in the file.
//!
//! serde forgets where a value came from once it is deserialized, so semantic checks name a
//! field path and this module finds it again in a second, span-keeping parse (`toml_edit`).

use std::fmt;
use std::ops::Range;

use toml_edit::{Document, Item, Table, TableLike, Value};

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// A path from the root of the file to one field: `channels.pos-downtown.sells_from[1]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct FieldPath(Vec<Seg>);

impl FieldPath {
    /// The whole file.
    pub(super) fn root() -> Self {
        Self(Vec::new())
    }

    /// `self.key`.
    pub(super) fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_owned()));
        Self(segs)
    }

    /// `self[index]`.
    pub(super) fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        Self(segs)
    }

    /// The path serde was at when it failed; it stops at a step serde could not name.
    pub(super) fn from_serde(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment;
        let segs = path
            .iter()
            .map_while(|seg| match seg {
                Segment::Seq { index } => Some(Seg::Index(*index)),
                Segment::Map { key } | Segment::Enum { variant: key } => {
                    Some(Seg::Key(key.clone()))
                }
                Segment::Unknown => None,
            })
            .collect();
        Self(segs)
    }
}

/// A key needs quotes in a path when TOML would need them around it.
fn is_bare_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_bare_key(key) {
                        f.write_str(key)?;
                    } else {
                        write!(f, "{key:?}")?;
                    }
                }
                Seg::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// The source text with its spans, to turn offsets and field paths into 1-based lines.
pub(super) struct Lines<'a> {
    source: &'a str,
    doc: Option<Document<&'a str>>,
}

/// Where the walk down a path currently stands.
#[derive(Clone, Copy)]
enum Node<'d> {
    Item(&'d Item),
    Value(&'d Value),
    Table(&'d Table),
}

impl<'d> Node<'d> {
    fn table_like(self) -> Option<&'d dyn TableLike> {
        match self {
            Node::Item(item) => item.as_table_like(),
            Node::Value(value) => value.as_inline_table().map(|t| t as &dyn TableLike),
            Node::Table(table) => Some(table as &dyn TableLike),
        }
    }
}

impl<'a> Lines<'a> {
    /// Keeps `source`; a source that does not parse still maps offsets, but not paths.
    pub(super) fn new(source: &'a str) -> Self {
        Self {
            source,
            doc: Document::parse(source).ok(),
        }
    }

    /// The 1-based line holding byte `offset`.
    pub(super) fn line_of_offset(&self, offset: usize) -> usize {
        let end = offset.min(self.source.len());
        let newlines = self.source.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        newlines + 1
    }

    /// The line of the field at `path`, or of its nearest ancestor written in the file
    /// (a missing key is reported where its table is).
    pub(super) fn line_of(&self, path: &FieldPath) -> Option<usize> {
        self.span_of(path)
            .map(|span| self.line_of_offset(span.start))
    }

    fn span_of(&self, path: &FieldPath) -> Option<Range<usize>> {
        let doc = self.doc.as_ref()?;
        let mut node = Node::Item(doc.as_item());
        let mut best = None;
        for seg in &path.0 {
            match seg {
                Seg::Key(key) => {
                    let Some((k, item)) = node.table_like().and_then(|t| t.get_key_value(key))
                    else {
                        break;
                    };
                    best = k.span().or_else(|| item.span()).or(best);
                    node = Node::Item(item);
                }
                Seg::Index(index) => {
                    let array = match node {
                        Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => {
                            Some(a)
                        }
                        _ => None,
                    };
                    if let Some(value) = array.and_then(|a| a.get(*index)) {
                        best = value.span().or(best);
                        node = Node::Value(value);
                    } else if let Node::Item(Item::ArrayOfTables(tables)) = node {
                        let Some(table) = tables.get(*index) else {
                            break;
                        };
                        best = table.span().or(best);
                        node = Node::Table(table);
                    } else {
                        break;
                    }
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "node_id = \"n\"\n\
        [channels.pos]\n\
        sells_from = [\n  \"a\",\n  \"b\",\n]\n\
        secret = { env = \"X\" }\n";

    #[test]
    fn paths_print_like_toml_keys() {
        let path = FieldPath::root()
            .key("channels")
            .key("pos")
            .key("sells_from")
            .index(1);
        assert_eq!(path.to_string(), "channels.pos.sells_from[1]");
        let quoted = FieldPath::root().key("locations").key("store 1.a");
        assert_eq!(quoted.to_string(), "locations.\"store 1.a\"");
    }

    #[test]
    fn a_path_finds_its_line() {
        let lines = Lines::new(SOURCE);
        let channel = FieldPath::root().key("channels").key("pos");
        assert_eq!(lines.line_of(&FieldPath::root().key("node_id")), Some(1));
        assert_eq!(lines.line_of(&channel), Some(2));
        assert_eq!(lines.line_of(&channel.key("sells_from")), Some(3));
        assert_eq!(lines.line_of(&channel.key("sells_from").index(1)), Some(5));
        assert_eq!(lines.line_of(&channel.key("secret").key("env")), Some(7));
    }

    #[test]
    fn a_missing_field_is_placed_at_its_table() {
        let lines = Lines::new(SOURCE);
        let path = FieldPath::root().key("channels").key("pos").key("buffer");
        assert_eq!(lines.line_of(&path), Some(2));
        assert_eq!(lines.line_of(&FieldPath::root().key("api")), None);
    }
}
