//! The drop folder end to end: files written the way 3PLs write them, polled the way the
//! daemon polls (saving each page's cursor and handing it back).

use std::path::Path;

use omnistock_file_feed::fake::{CsvRow, DropWriter, csv_text, edi846_text};
use omnistock_file_feed::folder::{ERRORS_SUFFIX, PROCESSED, REASON_SUFFIX, REJECTED};
use omnistock_file_feed::{Columns, FileFeedConnector, FileFeedSettings, Format};
use omnistock_sdk::{Connector, LocationId, PollPage, StockChange, StockEvent, Unmapped};

const T1: &str = "2026-11-23T10:00:00Z";
const T2: &str = "2026-11-23T10:15:00Z";
const T0: &str = "2026-11-23T09:45:00Z";

fn loc(name: &str) -> LocationId {
    LocationId::new(name).expect("valid location")
}

fn csv_settings(dir: &Path) -> FileFeedSettings {
    FileFeedSettings::new(
        "3pl-east",
        dir,
        Format::Csv(Columns {
            sku: "item".into(),
            quantity: "on_hand".into(),
            location: Some("warehouse".into()),
            time: Some("as_of".into()),
        }),
        None,
    )
    .location("EAST", loc("wh-east"))
}

struct Feed {
    dir: tempfile::TempDir,
    drop: DropWriter,
    connector: FileFeedConnector,
    /// The cursor the daemon saved last.
    cursor: Option<String>,
}

/// Everything one round of polling delivered.
#[derive(Debug, Default)]
struct Delivered {
    events: Vec<StockEvent>,
    unmapped: Vec<Unmapped>,
    pages: usize,
}

impl Feed {
    fn new(settings: impl FnOnce(&Path) -> FileFeedSettings) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let connector = FileFeedConnector::new(settings(dir.path())).expect("valid settings");
        Self {
            drop: DropWriter::new(dir.path()),
            dir,
            connector,
            cursor: None,
        }
    }

    async fn poll_once(&self) -> PollPage {
        self.connector
            .poll(self.cursor.clone())
            .await
            .expect("poll succeeds")
    }

    /// Polls as the daemon does — saving each cursor — until nothing more is waiting;
    /// twice over, since a file must look the same on two looks to be complete.
    async fn drain(&mut self) -> Delivered {
        let mut all = Delivered::default();
        for _ in 0..2 {
            for _ in 0..1000 {
                let page = self.poll_once().await;
                all.pages += 1;
                all.events.extend(page.events);
                all.unmapped.extend(page.unmapped);
                if let Some(cursor) = page.cursor {
                    self.cursor = Some(cursor);
                }
                if !page.more {
                    break;
                }
            }
        }
        all
    }

    fn names_in(&self, sub: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path().join(sub))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn waiting(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("dir")
            .filter_map(|e| {
                let e = e.ok()?;
                e.file_type().ok()?.is_file().then_some(())?;
                e.file_name().into_string().ok()
            })
            .collect();
        names.sort();
        names
    }

    fn reason(&self, name_part: &str) -> String {
        let name = self
            .names_in(REJECTED)
            .into_iter()
            .find(|n| n.contains(name_part) && n.ends_with(REASON_SUFFIX))
            .unwrap_or_else(|| {
                panic!(
                    "no reason file for {name_part}: {:?}",
                    self.names_in(REJECTED)
                )
            });
        std::fs::read_to_string(self.dir.path().join(REJECTED).join(name)).expect("reason")
    }
}

fn levels(events: &[StockEvent]) -> Vec<(String, String, i64)> {
    events
        .iter()
        .map(|e| match &e.change {
            StockChange::LevelObserved { location, quantity } => {
                (e.sku.to_string(), location.to_string(), *quantity)
            }
            other => panic!("a file feed only observes levels, got {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn a_good_snapshot_is_applied_once_and_moved_to_processed() {
    let mut feed = Feed::new(csv_settings);
    feed.drop
        .csv(
            "inv-1.csv",
            &[
                CsvRow::new("MUG", 4, "EAST", T1),
                CsvRow::new("CAP", 0, "EAST", T1),
            ],
        )
        .expect("drop");
    let got = feed.drain().await;
    assert_eq!(
        levels(&got.events),
        [
            ("MUG".into(), "wh-east".into(), 4),
            ("CAP".into(), "wh-east".into(), 0)
        ]
    );
    assert!(
        got.events
            .iter()
            .all(|e| e.occurred_at.to_rfc3339() == "2026-11-23T10:00:00.000Z")
    );
    assert!(feed.waiting().is_empty(), "{:?}", feed.waiting());
    let processed = feed.names_in(PROCESSED);
    assert_eq!(processed.len(), 1, "{processed:?}");
    assert!(processed[0].ends_with("-inv-1.csv"), "{processed:?}");
    // Nothing more the next time round.
    assert!(feed.drain().await.events.is_empty());
}

#[tokio::test]
async fn malformed_rows_are_reported_by_row_and_the_good_ones_applied() {
    let mut feed = Feed::new(csv_settings);
    feed.drop
        .csv(
            "inv-1.csv",
            &[
                CsvRow::new("MUG", 4, "EAST", T1),
                CsvRow::malformed("CAP", "EAST", T1),
                CsvRow::new("HAT", 2, "NORTH", T1),
                CsvRow::new("SOCK", 9, "EAST", T1),
            ],
        )
        .expect("drop");
    let got = feed.drain().await;
    let skus: Vec<_> = got.events.iter().map(|e| e.sku.to_string()).collect();
    assert_eq!(skus, ["MUG", "SOCK"]);
    let unmapped: Vec<_> = got
        .unmapped
        .iter()
        .map(|u| format!("{}: {}", u.what, u.reason))
        .collect();
    assert_eq!(unmapped.len(), 2, "{unmapped:?}");
    assert!(
        unmapped[0].starts_with("inv-1.csv row 3: quantity \"n/a\""),
        "{unmapped:?}"
    );
    assert!(
        unmapped[1].starts_with("inv-1.csv row 4: location \"NORTH\""),
        "{unmapped:?}"
    );
    let processed = feed.names_in(PROCESSED);
    let errors = processed
        .iter()
        .find(|n| n.ends_with(ERRORS_SUFFIX))
        .expect("an errors file beside the processed file");
    let text = std::fs::read_to_string(feed.dir.path().join(PROCESSED).join(errors)).expect("read");
    assert!(text.contains("row 3:") && text.contains("row 4:"), "{text}");
}

#[tokio::test]
async fn a_file_of_nothing_but_bad_rows_is_rejected_with_a_reason() {
    let mut feed = Feed::new(csv_settings);
    feed.drop
        .csv("bad.csv", &[CsvRow::malformed("CAP", "EAST", T1)])
        .expect("drop");
    feed.drop
        .drop_file("garbage.csv", "sku;qty\nMUG;1\n")
        .expect("drop");
    let got = feed.drain().await;
    assert!(got.events.is_empty());
    assert!(
        feed.reason("bad.csv").contains("no valid row"),
        "{}",
        feed.reason("bad.csv")
    );
    assert!(feed.reason("garbage.csv").contains("no column \"item\""));
    assert!(feed.waiting().is_empty());
}

#[tokio::test]
async fn a_half_written_file_is_not_read_until_complete() {
    let mut feed = Feed::new(csv_settings);
    let contents = csv_text(&[
        CsvRow::new("MUG", 4, "EAST", T1),
        CsvRow::new("CAP", 7, "EAST", T1),
    ]);
    // Under a temporary name, then renamed: not looked at before the rename.
    let renamed = feed
        .drop
        .half_written_then_renamed("a.csv", &contents)
        .expect("start upload");
    assert!(feed.drain().await.events.is_empty());
    renamed.finish().expect("finish upload");
    assert_eq!(feed.drain().await.events.len(), 2);

    // Under its final name, growing: read only once it stopped changing.
    let contents = csv_text(&[
        CsvRow::new("MUG", 3, "EAST", T2),
        CsvRow::new("CAP", 6, "EAST", T2),
    ]);
    let upload = feed
        .drop
        .half_written("b.csv", &contents)
        .expect("start upload");
    let first_look = feed.poll_once().await;
    assert!(first_look.events.is_empty());
    upload.finish().expect("finish upload");
    let got = feed.drain().await;
    assert_eq!(
        levels(&got.events),
        [
            ("MUG".into(), "wh-east".into(), 3),
            ("CAP".into(), "wh-east".into(), 6)
        ]
    );
    assert!(got.unmapped.is_empty(), "{:?}", got.unmapped);
}

#[tokio::test]
async fn a_duplicate_snapshot_changes_nothing() {
    let mut feed = Feed::new(csv_settings);
    let rows = [CsvRow::new("MUG", 4, "EAST", T1)];
    feed.drop.csv("inv-1.csv", &rows).expect("drop");
    assert_eq!(feed.drain().await.events.len(), 1);
    feed.drop.csv("inv-1-again.csv", &rows).expect("drop");
    assert!(feed.drain().await.events.is_empty());
    assert!(feed.reason("inv-1-again.csv").starts_with("duplicate"));
}

#[tokio::test]
async fn an_older_snapshot_than_the_last_applied_is_refused() {
    let mut feed = Feed::new(csv_settings);
    feed.drop
        .csv("new.csv", &[CsvRow::new("MUG", 4, "EAST", T2)])
        .expect("drop");
    assert_eq!(feed.drain().await.events.len(), 1);
    feed.drop
        .csv("old.csv", &[CsvRow::new("MUG", 9, "EAST", T0)])
        .expect("drop");
    assert!(feed.drain().await.events.is_empty());
    let reason = feed.reason("old.csv");
    assert!(reason.starts_with("stale"), "{reason}");
    assert!(reason.contains("new.csv"), "{reason}");
    // A newer one still goes through.
    feed.drop
        .csv(
            "newer.csv",
            &[CsvRow::new("MUG", 5, "EAST", "2026-11-23T11:00:00Z")],
        )
        .expect("drop");
    assert_eq!(
        levels(&feed.drain().await.events),
        [("MUG".into(), "wh-east".into(), 5)]
    );
}

#[tokio::test]
async fn a_crash_before_the_cursor_is_saved_repeats_the_page_with_the_same_ids() {
    let mut feed = Feed::new(|dir| {
        let mut s = csv_settings(dir);
        s.rows_per_page = 2;
        s
    });
    let rows: Vec<_> = (0..5)
        .map(|n| CsvRow::new(&format!("SKU-{n}"), n, "EAST", T1))
        .collect();
    feed.drop.csv("inv.csv", &rows).expect("drop");
    assert!(
        feed.poll_once().await.events.is_empty(),
        "first look: not complete yet"
    );
    let first = feed.poll_once().await;
    assert_eq!(first.events.len(), 2);
    assert!(first.more);
    // The daemon crashed before saving: the same cursor again gives the same page.
    let again = feed.poll_once().await;
    assert_eq!(again.events, first.events);
    feed.cursor = first.cursor;
    let mut events = first.events;
    loop {
        let page = feed.poll_once().await;
        // The file stays until the cursor covering all of it comes back.
        let done = page.events.is_empty();
        if !done {
            assert_eq!(feed.waiting(), ["inv.csv"]);
        }
        events.extend(page.events);
        feed.cursor = page.cursor.or(feed.cursor.take());
        if done {
            break;
        }
    }
    assert_eq!(events.len(), 5);
    let ids: std::collections::HashSet<_> = events.iter().map(|e| &e.id).collect();
    assert_eq!(ids.len(), 5, "ids are unique");
    assert!(
        feed.waiting().is_empty(),
        "moved once its last cursor came back"
    );
}

#[tokio::test]
async fn a_hundred_thousand_rows_are_applied_in_pages_with_bad_rows_left_out() {
    let mut feed = Feed::new(|dir| {
        let mut s = csv_settings(dir);
        s.rows_per_page = 10_000;
        s
    });
    let rows: Vec<_> = (0..100_000)
        .map(|n| match n % 25_000 {
            7 => CsvRow::malformed(&format!("SKU-{n:06}"), "EAST", T1),
            _ => CsvRow::new(&format!("SKU-{n:06}"), n % 50, "EAST", T1),
        })
        .collect();
    feed.drop.csv("big.csv", &rows).expect("drop");
    let got = feed.drain().await;
    assert_eq!(got.events.len(), 100_000 - 4);
    assert_eq!(got.unmapped.len(), 4, "{:?}", got.unmapped);
    assert_eq!(got.unmapped[0].what, "big.csv row 9");
    assert!(got.pages >= 10, "{} pages", got.pages);
    let ids: std::collections::HashSet<_> = got.events.iter().map(|e| &e.id).collect();
    assert_eq!(ids.len(), got.events.len());
    assert!(feed.waiting().is_empty());
    // Nothing to list: a snapshot is a past moment, never a count now.
    let listed = feed.connector.list(None).await.expect("list");
    assert!(listed.levels.is_empty() && listed.next.is_none());
}

#[tokio::test]
async fn edi_846_snapshots_are_applied_and_a_cut_one_rejected() {
    let mut feed = Feed::new(|dir| {
        FileFeedSettings::new(
            "3pl-east",
            dir,
            Format::Edi846 {
                quantity_qualifier: "33".into(),
            },
            None,
        )
        .location("EAST", loc("wh-east"))
    });
    let good = edi846_text("EAST", "20261123", "1000", &[("MUG", 4), ("CAP", 2)]);
    feed.drop.drop_file("inv-1.edi", &good).expect("drop");
    let got = feed.drain().await;
    assert_eq!(
        levels(&got.events),
        [
            ("MUG".into(), "wh-east".into(), 4),
            ("CAP".into(), "wh-east".into(), 2)
        ]
    );
    let later = edi846_text("EAST", "20261123", "1100", &[("MUG", 3)]);
    let cut = &later[..later.len() - 20];
    feed.drop.drop_file("inv-2.edi", cut).expect("drop");
    assert!(feed.drain().await.events.is_empty());
    assert!(
        feed.reason("inv-2.edi").starts_with("unreadable"),
        "{}",
        feed.reason("inv-2.edi")
    );
}

#[tokio::test]
async fn a_missing_folder_is_a_retryable_error() {
    let feed = Feed::new(|dir| csv_settings(&dir.join("not-mounted")));
    match feed.connector.poll(None).await {
        Err(omnistock_sdk::ConnectorError::Retryable(message)) => {
            assert!(message.contains("not-mounted"), "{message}")
        }
        other => panic!("expected Retryable, got {other:?}"),
    }
}
