//! The record: migration from the JSON files of earlier versions (whole,
//! once, and safe at every crash point), incremental writes, and what a
//! record that cannot be read leads to.

use super::*;
use crate::store::{AccountStore, StorePaths};

fn old_ledger(entries: usize) -> String {
    let mut map = serde_json::Map::new();
    for i in 0..entries {
        let status = if i % 3 == 0 { "downloaded" } else { "new" };
        map.insert(
            format!("uid-{i}"),
            serde_json::json!({
                "size_bytes": 1000 + i,
                "first_seen_unix": 100,
                "status": status,
                "file": (i % 3 == 0).then(|| format!("file-{i}")),
                "downloaded_unix": (i % 3 == 0).then_some(200),
                "on_server": true,
                "deleted_on_server": false,
                "size_mismatch": false,
            }),
        );
    }
    serde_json::json!({
        "format": "letterbox-ledger",
        "version": 1,
        "login": {"last_login_unix": 5, "login_delay_secs": 900, "auth_method": "APOP"},
        "entries": map,
    })
    .to_string()
}

fn old_previews() -> String {
    serde_json::json!({
        "uid-1": {"from": "Alice", "to": "", "subject": "Hello", "date": "", "date_unix": null,
                  "message_id": "", "text": "first lines", "has_attachments": false}
    })
    .to_string()
}

/// Everything the record says, in a form to compare.
fn contents(dir: &Path) -> (LoginRecord, BTreeMap<String, Entry>, usize) {
    let store = AccountStore::open(&StorePaths::in_dir(dir)).expect("open");
    let entries: BTreeMap<String, Entry> = store
        .ledger
        .entries()
        .map(|(k, e)| (k.to_owned(), e.clone()))
        .collect();
    let previews = usize::from(store.previews.get("uid-1").is_some());
    (store.ledger.login().clone(), entries, previews)
}

#[test]
fn json_files_are_migrated_once_and_replaced_by_a_stub() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("ledger.json"), old_ledger(30)).unwrap();
    fs::write(dir.path().join("previews.json"), old_previews()).unwrap();
    let (login, entries, previews) = contents(dir.path());
    assert_eq!(entries.len(), 30);
    assert_eq!(entries["uid-3"].status, Status::Downloaded);
    assert_eq!(entries["uid-3"].file.as_deref(), Some("file-3"));
    assert_eq!(entries["uid-4"].status, Status::New);
    assert_eq!(login.login_delay_secs, Some(900));
    assert_eq!(login.auth_method.as_deref(), Some("APOP"));
    assert_eq!(previews, 1);
    assert!(dir.path().join(FILE).is_file());
    assert!(!dir.path().join("previews.json").exists());
    // Earlier versions find a ledger "written by a newer Letterbox".
    let stub: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("ledger.json")).unwrap()).unwrap();
    assert_eq!(stub["format"], "letterbox-ledger");
    assert!(stub["version"].as_u64().unwrap() > 1);
    // Opening again reads the database; the stub is not migrated again.
    let (_, again, _) = contents(dir.path());
    assert_eq!(again, entries);
}

#[test]
fn a_crash_at_any_point_of_the_migration_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let json = old_ledger(50);
    fs::write(dir.path().join("ledger.json"), &json).unwrap();
    let (_, expected, _) = contents(dir.path());

    // 1. Killed while building: a partial `.migrating` file, old files whole.
    let one = tempfile::tempdir().unwrap();
    fs::write(one.path().join("ledger.json"), &json).unwrap();
    fs::write(
        one.path().join(format!("{FILE}.migrating")),
        b"half a database",
    )
    .unwrap();
    assert_eq!(contents(one.path()).1, expected);
    assert!(!one.path().join(format!("{FILE}.migrating")).exists());

    // 2. Killed after the rename, before the stub: the database wins and
    //    the old ledger becomes the stub.
    let two = tempfile::tempdir().unwrap();
    fs::copy(dir.path().join(FILE), two.path().join(FILE)).unwrap();
    fs::write(two.path().join("ledger.json"), &json).unwrap();
    assert_eq!(contents(two.path()).1, expected);
    let stub: serde_json::Value =
        serde_json::from_slice(&fs::read(two.path().join("ledger.json")).unwrap()).unwrap();
    assert_eq!(stub["version"], 2);

    // 3. A stub without its database is not an empty record.
    let three = tempfile::tempdir().unwrap();
    fs::copy(
        dir.path().join("ledger.json"),
        three.path().join("ledger.json"),
    )
    .unwrap();
    let err = AccountStore::open(&StorePaths::in_dir(three.path())).unwrap_err();
    assert!(matches!(err, StoreError::LedgerCorrupt { .. }), "{err:?}");
}

#[test]
fn a_damaged_old_ledger_is_set_aside_not_migrated_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("ledger.json"),
        b"{\"format\": \"letterbox-ledger\", \"vers",
    )
    .unwrap();
    let err = AccountStore::open(&StorePaths::in_dir(dir.path())).unwrap_err();
    assert!(matches!(err, StoreError::LedgerCorrupt { .. }), "{err:?}");
    assert!(!dir.path().join(FILE).exists());
    assert!(matches!(
        AccountStore::open(&StorePaths::in_dir(dir.path())),
        Err(StoreError::LedgerSetAside { .. })
    ));
}

/// Bytes in the record's files: the database and its WAL.
fn record_bytes(dir: &Path) -> u64 {
    [FILE, "store.sqlite-wal"]
        .iter()
        .filter_map(|f| fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

#[test]
fn a_save_with_nothing_changed_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let paths = StorePaths::in_dir(dir.path());
    let mut store = AccountStore::open(&paths).unwrap();
    for i in 0..2000 {
        store.ledger.note_on_server(&format!("uid-{i}"), 100, 1);
    }
    store.ledger.save().unwrap();
    drop(store);
    // Reopen (a new session), note the same listing, save: no write.
    let mut store = AccountStore::open(&paths).unwrap();
    let wal = dir.path().join("store.sqlite-wal");
    let before = (
        record_bytes(dir.path()),
        fs::metadata(&wal).ok().and_then(|m| m.modified().ok()),
    );
    for i in 0..2000 {
        store.ledger.note_on_server(&format!("uid-{i}"), 100, 2);
    }
    store.ledger.save().unwrap();
    store.previews.save().unwrap();
    let after = (
        record_bytes(dir.path()),
        fs::metadata(&wal).ok().and_then(|m| m.modified().ok()),
    );
    assert_eq!(before, after, "nothing was written");
    // One change writes one row, not the whole ledger.
    store.ledger.get_mut("uid-7").unwrap().status = Status::Kept;
    store.ledger.save().unwrap();
    let grown = record_bytes(dir.path()) - before.0;
    assert!(grown < 64 * 1024, "{grown} bytes for one row");
    drop(store);
    assert_eq!(contents(dir.path()).1["uid-7"].status, Status::Kept);
}

#[test]
fn another_reader_can_peek_while_the_store_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let paths = StorePaths::in_dir(dir.path());
    let mut store = AccountStore::open(&paths).unwrap();
    let entry = store.ledger.note_on_server("uid-1", 10, 1);
    entry.status = Status::Downloaded;
    entry.file = Some("f1".into());
    store.ledger.save().unwrap();
    let peeked = Record::peek_entries(dir.path()).expect("readable");
    assert_eq!(peeked["uid-1"].file.as_deref(), Some("f1"));
    assert!(Record::peek_entries(&dir.path().join("nowhere")).is_none());
}

#[test]
fn the_last_known_list_is_read_without_the_store() {
    let dir = tempfile::tempdir().unwrap();
    assert!(Record::last_known(dir.path()).is_none());
    let paths = StorePaths::in_dir(dir.path());
    let mut store = AccountStore::open(&paths).unwrap();
    store.ledger.note_on_server("here", 10, 1);
    store.ledger.note_on_server("home", 20, 1).status = Status::Downloaded;
    store.ledger.note_on_server("gone", 30, 1);
    let present: std::collections::HashSet<&str> = ["here", "home"].into_iter().collect();
    store.ledger.note_listing_complete(&present);
    store.ledger.save().unwrap();
    store.previews.insert(
        "here",
        std::sync::Arc::new(Preview {
            subject: "Hello".into(),
            ..Preview::default()
        }),
    );
    store.previews.save().unwrap();
    // Read while the store is open (and locked) by its owner.
    store.ledger.login_mut().last_login_unix = Some(77);
    store.ledger.save().unwrap();
    let last = Record::last_known(dir.path()).expect("a record");
    assert_eq!(last.at_unix, Some(77));
    let mut known = last.messages;
    known.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(known.len(), 2, "what left the server is not listed");
    assert_eq!(known[0].key, "here");
    assert_eq!(known[0].preview.as_ref().unwrap().subject, "Hello");
    assert_eq!(
        (known[1].key.as_str(), known[1].status, known[1].size_bytes),
        ("home", Status::Downloaded, 20)
    );
    assert!(known[1].preview.is_none());
}
