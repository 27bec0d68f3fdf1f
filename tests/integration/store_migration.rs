//! Moving a store from the JSON files of earlier versions to its SQLite
//! record, with the real binary killed (SIGKILL) at random moments while it
//! does so: whatever the moment, reopening gives exactly the old record —
//! nothing lost, nothing that was downloaded marked new again.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use letterbox::store::{AccountStore, Status, StorePaths};

const ENTRIES: usize = 30_000;

/// A JSON ledger of an earlier version: every third message downloaded.
fn old_ledger() -> String {
    let mut entries = serde_json::Map::new();
    for i in 0..ENTRIES {
        let downloaded = i % 3 == 0;
        entries.insert(
            format!("uid-{i:08}"),
            serde_json::json!({
                "size_bytes": 1000 + i,
                "first_seen_unix": 100,
                "status": if downloaded { "downloaded" } else { "kept" },
                "file": downloaded.then(|| format!("file-{i}")),
                "downloaded_unix": downloaded.then_some(200),
                "on_server": true,
                "deleted_on_server": false,
                "size_mismatch": false,
            }),
        );
    }
    serde_json::json!({"format": "letterbox-ledger", "version": 1, "login": {}, "entries": entries})
        .to_string()
}

fn statuses(dir: &Path) -> BTreeMap<String, (Status, Option<String>)> {
    let store = AccountStore::open(&StorePaths::in_dir(dir)).expect("reopen");
    store
        .ledger
        .entries()
        .map(|(k, e)| (k.to_owned(), (e.status, e.file.clone())))
        .collect()
}

#[test]
fn killed_at_random_points_during_migration_nothing_is_lost() {
    let json = old_ledger();
    // The record as a migration that was never interrupted makes it.
    let reference = tempfile::tempdir().unwrap();
    std::fs::write(reference.path().join("ledger.json"), &json).unwrap();
    let expected = statuses(reference.path());
    assert_eq!(expected.len(), ENTRIES);

    // How long an uninterrupted migration takes with the binary, to kill
    // within it.
    let profile = tempfile::tempdir().unwrap();
    let store = profile.path().join("x@127.0.0.1_1");
    let run = |kill_after: Option<Duration>| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_letterbox"))
            .args([
                "check",
                "--url",
                "pop3s://x@127.0.0.1:1",
                "--timeout-secs",
                "1",
            ])
            .arg("--profile")
            .arg(profile.path())
            .env("LETTERBOX_PASSWORD", "x")
            .env("LETTERBOX_CONFIG_DIR", profile.path().join("no-app"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start letterbox");
        let started = Instant::now();
        match kill_after {
            Some(after) => {
                std::thread::sleep(after);
                let _ = child.kill();
                let _ = child.wait();
            }
            None => {
                let _ = child.wait();
            }
        }
        started.elapsed()
    };
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(store.join("ledger.json"), &json).unwrap();
    let whole = run(None);
    assert!(store.join("store.sqlite").is_file());

    let mut interrupted = 0;
    for round in 0..12u64 {
        std::fs::remove_dir_all(&store).unwrap();
        std::fs::create_dir_all(&store).unwrap();
        std::fs::write(store.join("ledger.json"), &json).unwrap();
        // Spread over the whole run, with a little pseudo-randomness.
        let step = whole.as_millis() as u64 * (round + 1) / 13;
        let jitter = (round * 7919) % 37;
        run(Some(Duration::from_millis(step + jitter)));
        if !store.join("store.sqlite").exists() {
            interrupted += 1;
        }
        let got = statuses(&store);
        assert_eq!(got.len(), ENTRIES, "round {round}: entries lost");
        assert!(got == expected, "round {round}: the record changed");
        assert!(
            !store.join("store.sqlite.migrating").exists(),
            "round {round}: a partial build stays behind"
        );
    }
    // Most rounds must really have cut the migration short, or this test
    // shows nothing.
    assert!(
        interrupted >= 3,
        "only {interrupted} rounds were interrupted"
    );
}
