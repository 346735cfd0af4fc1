//! What the daemon's config hands the connector: the drop folder, the file format with its
//! column mapping, and which 3PL location codes are which of our locations.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use omnistock_sdk::LocationId;

/// How the files are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// A CSV file with a header row; the columns are named by the mapping.
    Csv(Columns),
    /// An EDI X12 846 (Inventory Inquiry/Advice) interchange.
    Edi846 {
        /// The `QTY01` qualifier whose quantity is the count (`33` quantity available,
        /// `17` quantity on hand: it depends on the trading partner).
        quantity_qualifier: String,
    },
}

/// Which CSV column holds what, by header name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Columns {
    pub sku: String,
    pub quantity: String,
    /// The 3PL's location code; without it every row is at `default_location`.
    pub location: Option<String>,
    /// When the row was counted (RFC 3339); without it the file's modification time.
    pub time: Option<String>,
}

impl Default for Columns {
    fn default() -> Self {
        Self {
            sku: "sku".into(),
            quantity: "quantity".into(),
            location: None,
            time: None,
        }
    }
}

/// One drop folder, as the config describes it.
#[derive(Clone, Debug)]
pub struct FileFeedSettings {
    /// The channel's name, for messages (`3pl-west`).
    pub channel: String,
    /// The folder the 3PL drops files into; `processed/` and `rejected/` are made inside it.
    pub directory: PathBuf,
    pub format: Format,
    /// The 3PL's location code → our location. A code not in it makes its row rejected,
    /// never guessed.
    pub locations: BTreeMap<String, LocationId>,
    /// Where rows without a location code are counted.
    pub default_location: Option<LocationId>,
    /// How often the folder is looked at.
    pub poll_interval: Duration,
    /// Rows delivered per poll page: a large snapshot spans several pages.
    pub rows_per_page: usize,
}

pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_ROWS_PER_PAGE: usize = 5_000;
pub const DEFAULT_QUANTITY_QUALIFIER: &str = "33";

impl FileFeedSettings {
    /// Settings with the defaults: every row at `default_location`.
    pub fn new(
        channel: impl Into<String>,
        directory: impl Into<PathBuf>,
        format: Format,
        default_location: Option<LocationId>,
    ) -> Self {
        Self {
            channel: channel.into(),
            directory: directory.into(),
            format,
            locations: BTreeMap::new(),
            default_location,
            poll_interval: DEFAULT_POLL_INTERVAL,
            rows_per_page: DEFAULT_ROWS_PER_PAGE,
        }
    }

    /// Maps a 3PL location code to ours.
    pub fn location(mut self, code: impl Into<String>, ours: LocationId) -> Self {
        self.locations.insert(code.into(), ours);
        self
    }

    /// Every problem with the settings, each naming its field.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.directory.as_os_str().is_empty() {
            problems.push("directory: empty".to_owned());
        }
        if self.locations.is_empty() && self.default_location.is_none() {
            problems.push(
                "locations: empty and no default_location: no row could be placed".to_owned(),
            );
        }
        if let Format::Csv(columns) = &self.format {
            if columns.location.is_none() && self.default_location.is_none() {
                problems.push(
                    "columns.location: not set and no default_location: no row could be placed"
                        .to_owned(),
                );
            }
            for (field, name) in [("sku", &columns.sku), ("quantity", &columns.quantity)] {
                if name.trim().is_empty() {
                    problems.push(format!("columns.{field}: empty"));
                }
            }
        }
        if self.rows_per_page == 0 {
            problems.push("rows_per_page: 0".to_owned());
        }
        if self.poll_interval.is_zero() {
            problems.push("poll_interval: 0".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}
