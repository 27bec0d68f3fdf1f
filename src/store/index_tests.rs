//! Tests of the mail index against a real Maildir in a temporary folder.

use super::*;

fn message(from: &str, subject: &str, date: &str, body: &str) -> Vec<u8> {
    format!("From: {from}\r\nSubject: {subject}\r\nDate: {date}\r\n\r\n{body}\r\n").into_bytes()
}

struct Fixture {
    dir: tempfile::TempDir,
    mail: LocalMail,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(dir.path().join("Maildir").join(sub)).unwrap();
        }
        let mail = LocalMail::new(&dir.path().join("Maildir"));
        Fixture { dir, mail }
    }

    fn deliver(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.mail.root().join("new").join(name), bytes).unwrap();
    }

    fn index_path(&self) -> PathBuf {
        self.dir.path().join("index.sqlite")
    }

    fn sync(&self) -> (MailIndex, SyncReport) {
        let mut index = MailIndex::open(&self.index_path()).unwrap();
        let report = index.sync(&self.mail, &mut |_, _| {}, &|| false).unwrap();
        (index, report)
    }
}

#[test]
fn the_index_follows_the_maildir() {
    let f = Fixture::new();
    f.deliver(
        "1.a",
        &message(
            "Alice <a@x>",
            "Dinner",
            "Tue, 24 Nov 2026 12:00:00 +0000",
            "Pasta at eight",
        ),
    );
    f.deliver(
        "2.b",
        &message(
            "Bob <b@x>",
            "Invoice",
            "Wed, 25 Nov 2026 12:00:00 +0000",
            "Amount due",
        ),
    );
    let (index, report) = f.sync();
    assert_eq!((report.messages, report.indexed), (2, 2));
    let listed = index.list(false).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].subject, "Invoice", "newest first");
    assert_eq!(listed[1].from, "Alice <a@x>");
    assert_eq!(
        index.counts().unwrap(),
        Counts {
            messages: 2,
            unread: 2,
            trashed: 0
        }
    );

    // Another program reads one and deletes the other; a third arrives.
    let alice = f.mail.find("1.a").unwrap().unwrap();
    f.mail.set_seen(&alice, true).unwrap();
    std::fs::remove_file(f.mail.root().join("new/2.b")).unwrap();
    f.deliver(
        "3.c",
        &message(
            "Carol <c@x>",
            "Photos",
            "Thu, 26 Nov 2026 12:00:00 +0000",
            "From the trip",
        ),
    );
    let (index, report) = f.sync();
    assert_eq!(
        (report.indexed, report.removed, report.moved),
        (1, 1, 1),
        "{report:?}"
    );
    let listed = index.list(false).unwrap();
    let subjects: Vec<_> = listed.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(subjects, ["Photos", "Dinner"]);
    assert!(listed[1].location.seen());
    assert_eq!(index.counts().unwrap().unread, 1);

    // Nothing changed: nothing to do.
    let (_, report) = f.sync();
    assert_eq!((report.indexed, report.removed, report.moved), (0, 0, 0));
}

#[test]
fn search_finds_words_in_sender_subject_and_body_as_you_type() {
    let f = Fixture::new();
    f.deliver(
        "1.a",
        &message(
            "Jörg Müller <j@x>",
            "Grüße",
            "Tue, 24 Nov 2026 12:00:00 +0000",
            "Das Fahrrad ist repariert",
        ),
    );
    f.deliver(
        "2.b",
        &message(
            "Bob <b@x>",
            "Invoice 42",
            "Wed, 25 Nov 2026 12:00:00 +0000",
            "Amount due: 10 EUR",
        ),
    );
    let (index, _) = f.sync();
    let subjects = |q: &str| -> Vec<String> {
        index
            .search(q)
            .unwrap()
            .into_iter()
            .map(|m| m.subject)
            .collect()
    };
    assert_eq!(subjects("fahrrad"), ["Grüße"]);
    assert_eq!(subjects("fahr"), ["Grüße"], "the last word is a prefix");
    assert_eq!(subjects("muller"), ["Grüße"], "diacritics do not matter");
    assert_eq!(subjects("invoice amount"), ["Invoice 42"]);
    assert_eq!(subjects("invoice fahrrad"), Vec::<String>::new());
    assert_eq!(subjects("bob"), ["Invoice 42"]);
    // Anything the user types is a word, never query syntax.
    assert!(index.search("\"").unwrap().is_empty());
    assert!(index.search("AND OR NOT (").unwrap().is_empty());
    assert_eq!(
        index.search("   ").unwrap().len(),
        2,
        "no words: everything"
    );
    // Trash is not searched.
    let bob = f.mail.find("2.b").unwrap().unwrap();
    f.mail.set_trashed(&bob, true).unwrap();
    let (index, _) = f.sync();
    assert!(index.search("invoice").unwrap().is_empty());
    assert_eq!(index.list(true).unwrap().len(), 1);
    assert_eq!(index.counts().unwrap().trashed, 1);
}

#[test]
fn a_damaged_index_is_set_aside_and_rebuilt() {
    let f = Fixture::new();
    f.deliver(
        "1.a",
        &message(
            "Alice <a@x>",
            "Dinner",
            "Tue, 24 Nov 2026 12:00:00 +0000",
            "Pasta",
        ),
    );
    drop(f.sync());
    std::fs::write(
        f.index_path(),
        b"this is not a database, it is garbage ".repeat(200),
    )
    .unwrap();
    let (index, report) = f.sync();
    assert_eq!(report.indexed, 1);
    assert_eq!(index.search("pasta").unwrap().len(), 1);
    assert!(f.dir.path().join("index.sqlite.damaged").is_file());
}

#[test]
fn reading_never_needs_the_writer_and_sees_committed_batches() {
    let f = Fixture::new();
    assert!(
        MailIndex::open_read_only(&f.index_path())
            .unwrap()
            .is_none()
    );
    for i in 0..600 {
        f.deliver(
            &format!("{i}.m"),
            &message(
                "A <a@x>",
                &format!("Message {i}"),
                "Tue, 24 Nov 2026 12:00:00 +0000",
                "x",
            ),
        );
    }
    let mut index = MailIndex::open(&f.index_path()).unwrap();
    let path = f.index_path();
    let mut seen_while_syncing = Vec::new();
    index
        .sync(
            &f.mail,
            &mut |done, total| {
                assert_eq!(total, 600);
                if done > 0 && done < total {
                    let reader = MailIndex::open_read_only(&path).unwrap().unwrap();
                    seen_while_syncing.push(reader.list(false).unwrap().len());
                }
            },
            &|| false,
        )
        .unwrap();
    assert_eq!(seen_while_syncing, [256, 512]);
}

#[test]
fn a_cancelled_sync_keeps_what_it_committed() {
    let f = Fixture::new();
    for i in 0..600 {
        f.deliver(&format!("{i}.m"), &message("A <a@x>", "S", "", "x"));
    }
    let mut index = MailIndex::open(&f.index_path()).unwrap();
    let batches = std::cell::Cell::new(0);
    let result = index.sync(&f.mail, &mut |_, _| {}, &|| {
        batches.set(batches.get() + 1);
        batches.get() > 1
    });
    assert!(matches!(result, Err(IndexError::Cancelled)));
    assert_eq!(index.list(false).unwrap().len(), 256);
    let report = index.sync(&f.mail, &mut |_, _| {}, &|| false).unwrap();
    assert_eq!(report.indexed, 344);
}

#[test]
fn queries_quote_every_word() {
    assert_eq!(fts_query("  "), None);
    assert_eq!(fts_query("a"), Some("\"a\"*".into()));
    assert_eq!(
        fts_query("say \"hi\" now"),
        Some("\"say\" \"\"\"hi\"\"\" \"now\"*".into())
    );
}

#[test]
fn a_reader_can_open_the_index_after_the_writer_closed_it() {
    let f = Fixture::new();
    f.deliver("1.a", &message("A <a@x>", "Hello", "", "x"));
    drop(f.sync());
    // The last writer's close checkpointed the WAL away.
    assert!(!f.dir.path().join("index.sqlite-wal").exists());
    let reader = MailIndex::open_read_only(&f.index_path())
        .unwrap()
        .expect("an index");
    assert_eq!(reader.list(false).unwrap().len(), 1);
    // A file that is not an index yet reads as none, not as an error.
    let fresh = f.dir.path().join("fresh.sqlite");
    rusqlite::Connection::open(&fresh)
        .unwrap()
        .execute_batch("CREATE TABLE x(y)")
        .unwrap();
    assert!(MailIndex::open_read_only(&fresh).unwrap().is_none());
}

#[test]
fn damage_inside_the_file_is_found_by_readers_and_by_the_next_sync() {
    let f = Fixture::new();
    for i in 0..300 {
        f.deliver(
            &format!("{i}.m"),
            &message("A <a@x>", &format!("Subject {i}"), "", &"words ".repeat(50)),
        );
    }
    drop(f.sync());
    // Keep SQLite's header, ruin every page after the first.
    let mut bytes = std::fs::read(f.index_path()).unwrap();
    assert!(bytes.len() > 8192, "{}", bytes.len());
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i * 7 % 251) as u8;
    }
    std::fs::write(f.index_path(), &bytes).unwrap();

    // A reader meets the damage when it opens the file or when it searches.
    let found = MailIndex::open_read_only(&f.index_path())
        .and_then(|reader| reader.expect("an index").search("words"));
    assert!(
        found.as_ref().is_err_and(IndexError::is_damage),
        "{found:?}"
    );

    // The writer sets it aside and indexes every message again.
    let mut index = MailIndex::open(&f.index_path()).unwrap();
    let report = index.sync(&f.mail, &mut |_, _| {}, &|| false).unwrap();
    assert!(f.dir.path().join("index.sqlite.damaged").is_file());
    assert_eq!(report.indexed, 300);
    assert_eq!(index.search("words").unwrap().len(), 300);

    // A reader's own rebuild starts afresh too.
    let rebuilt = MailIndex::rebuild(&f.index_path()).unwrap();
    assert!(rebuilt.list(false).unwrap().is_empty());
}

#[test]
fn two_writers_can_sync_one_index_at_once() {
    let f = Fixture::new();
    for i in 0..700 {
        f.deliver(
            &format!("{i}.m"),
            &message("A <a@x>", &format!("S {i}"), "", "x"),
        );
    }
    let path = f.index_path();
    let indexed: Vec<usize> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut index = MailIndex::open(&path).expect("open");
                    index
                        .sync(&f.mail, &mut |_, _| {}, &|| false)
                        .expect("sync")
                        .indexed
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let index = MailIndex::open_read_only(&path).unwrap().unwrap();
    assert_eq!(index.list(false).unwrap().len(), 700);
    assert_eq!(
        indexed.iter().sum::<usize>(),
        700,
        "each message indexed once: {indexed:?}"
    );
    assert_eq!(index.search("x").unwrap().len(), 700);
}
