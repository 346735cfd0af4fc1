//! Segment files: reused rather than deleted, and never read beyond their own records.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::record::{Checksum, encode_record};
use super::*;

const MIB: usize = 1 << 20;

fn wal_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("store");
    std::fs::create_dir_all(&dir).expect("store dir");
    (tmp, dir)
}

fn writes_of(commit_no: u64, value_len: usize) -> Writes {
    let mut writes = Writes::default();
    writes.put(WalTree::Log, &commit_no.to_be_bytes(), &vec![7; value_len]);
    writes
}

fn append(wal: &Wal, commits: impl IntoIterator<Item = u64>, value_len: usize) {
    let mut appender = wal.lock();
    for commit_no in commits {
        appender.append(commit_no, &writes_of(commit_no, value_len));
    }
    assert!(appender.broken.is_none(), "{:?}", appender.broken);
}

/// Opens the log as `Store::open` would with sled holding commits through `durable`, and
/// returns it with the commit numbers it handed over for replay.
fn open_after(dir: &Path, durable: u64) -> (Wal, Vec<u64>) {
    let mut replayed = Vec::new();
    let wal = Wal::open(dir, durable, |records: &[Record]| {
        replayed.extend(records.iter().map(|r| r.commit_no));
        Ok(())
    })
    .expect("opens");
    (wal, replayed)
}

fn file_named(dir: &Path, name: &str) -> PathBuf {
    dir.join(DIR_NAME).join(name)
}

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .ino()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(DIR_NAME))
        .expect("lists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn retired_segments_become_spares_and_the_next_segments_are_made_from_them() {
    let (_tmp, dir) = wal_dir();
    let (wal, _) = open_after(&dir, 0);
    // 15 records of 1 MiB fill a 16 MiB segment: 1..=15 in segment 1, 16..=30 in 2, and
    // segment 3 half full, so segment 4 is being made (from zeros: no spare yet).
    append(&wal, 1..=40, MIB);
    let retired = [
        inode(&file_named(&dir, "00000000000000000001.wal")),
        inode(&file_named(&dir, "00000000000000000002.wal")),
    ];
    wal.retire_through(30);
    assert_eq!(
        names_in(&dir),
        [
            "00000000000000000001.spare",
            "00000000000000000002.spare",
            "00000000000000000003.wal",
            "00000000000000000004.wal",
        ]
    );
    // Segment 3 fills, 4 takes over, and 5 is made from a spare once 4 is half full.
    append(&wal, 41..=60, MIB);
    {
        let mut appender = wal.lock();
        let next = appender.next.take().expect("segment 5 is being made");
        let segment = next.join().expect("joins").expect("made");
        assert_eq!(segment.number, 5);
        assert!(retired.contains(&inode(&segment.path)), "made from a spare");
        appender.next = Some(std::thread::spawn(move || Ok(segment)));
    }
    append(&wal, 61..=70, MIB);
    drop(wal);
    // sled has through 30: the rest comes back, in order, and nothing of the spares' earlier
    // lives does.
    let (_, replayed) = open_after(&dir, 30);
    assert_eq!(replayed, (31..=70).collect::<Vec<_>>());
}

#[test]
fn a_reused_segment_ends_where_its_own_records_end() {
    let (_tmp, dir) = wal_dir();
    let (wal, _) = open_after(&dir, 0);
    append(&wal, [4, 5, 6], 100);
    drop(wal);
    let first = inode(&file_named(&dir, "00000000000000000001.wal"));
    // On open every segment is retired, and the new one is made from it.
    let (wal, replayed) = open_after(&dir, 6);
    assert!(replayed.is_empty());
    assert_eq!(inode(&file_named(&dir, "00000000000000000002.wal")), first);
    // The same size as the earlier life's first record, so its second (commit 5) follows
    // this one at once: with the earlier checksums it would read as the next commit.
    append(&wal, [4], 100);
    drop(wal);
    let (_, replayed) = open_after(&dir, 3);
    assert_eq!(replayed, [4]);
}

#[test]
fn a_spare_renamed_before_its_header_was_written_is_not_read() {
    let (_tmp, dir) = wal_dir();
    let (wal, _) = open_after(&dir, 0);
    append(&wal, [1, 2], 100);
    drop(wal);
    // A crash between the rename and the new header: the file's header names segment 1.
    std::fs::rename(
        file_named(&dir, "00000000000000000001.wal"),
        file_named(&dir, "00000000000000000007.wal"),
    )
    .expect("renames");
    let (_, replayed) = open_after(&dir, 0);
    assert!(replayed.is_empty());
}

#[test]
fn an_earlier_versions_segment_is_replayed() {
    let (_tmp, dir) = wal_dir();
    std::fs::create_dir_all(dir.join(DIR_NAME)).expect("wal dir");
    let mut bytes = b"OMNIWAL1".to_vec();
    bytes.extend_from_slice(&3u64.to_be_bytes());
    for commit_no in [1, 2] {
        bytes.extend(encode_record(
            Checksum::Plain,
            commit_no,
            &writes_of(commit_no, 10),
        ));
    }
    bytes.resize(4096, 0);
    std::fs::write(file_named(&dir, "00000000000000000003.wal"), bytes).expect("writes");
    let (wal, replayed) = open_after(&dir, 0);
    assert_eq!(replayed, [1, 2]);
    // And the next segment comes after it.
    assert_eq!(wal.lock().current.number, 4);
}
