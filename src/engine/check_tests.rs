//! Unit tests of the check's decisions: which previews to fetch, what a
//! listing records, when a refused UIDL stops the session, and saving a
//! previewed copy whose message left the server.

use super::*;
use crate::store::StorePaths;

fn store() -> (tempfile::TempDir, AccountStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = AccountStore::open(&StorePaths::in_dir(dir.path())).unwrap();
    (dir, store)
}

#[test]
fn previews_go_to_the_newest_messages_without_one() {
    let missing = [true, false, true, true, false];
    let (wanted, deferred) = previews_wanted(missing.into_iter(), true);
    assert_eq!((wanted, deferred), (vec![0, 2, 3], 0));
    let (wanted, deferred) = previews_wanted(missing.into_iter(), false);
    assert_eq!(
        (wanted, deferred),
        (vec![], 0),
        "no UIDL: heads came with the keys"
    );
    let many = MAX_NEW_PREVIEWS_PER_CHECK + 5;
    let (wanted, deferred) = previews_wanted(std::iter::repeat_n(true, many), true);
    assert_eq!(deferred, 5);
    assert_eq!(wanted.len(), MAX_NEW_PREVIEWS_PER_CHECK);
    assert_eq!(wanted.first(), Some(&5), "the oldest wait");
    assert_eq!(wanted.last(), Some(&(many - 1)));
}

#[test]
fn a_listing_records_each_identifiable_message_once() {
    let (_dir, mut store) = store();
    store.ledger.note_on_server("left", 5, 0).status = Status::Downloaded;
    let listing = Listing::of(&[
        (1, Some("a"), 10),
        (2, Some("twin"), 20),
        (3, Some("twin"), 30),
        (4, None, 40),
    ]);
    record_listing(&mut store, &listing, 100).unwrap();
    let a = store.ledger.get("a").expect("a is recorded");
    assert_eq!(
        (a.status, a.size_bytes, a.on_server),
        (Status::New, 10, true)
    );
    assert!(store.ledger.get("twin").is_none(), "never act on a twin");
    let left = store.ledger.get("left").unwrap();
    assert!(!left.on_server, "no longer listed");
    assert_eq!(left.status, Status::Downloaded);
}

#[test]
fn a_refused_uidl_stops_a_mailbox_that_had_uidls() {
    let refused = crate::pop3::Status {
        ok: false,
        code: None,
        text: "try later".into(),
    };
    let mut listing = Listing::of(&[(1, Some("hdr-0123"), 10)]);
    listing.uidl_refused = Some(refused);
    let (_dir, mut store) = store();
    // Only header keys so far: this server never had UIDL.
    store.ledger.note_on_server("hdr-0123", 10, 0);
    assert!(record_listing(&mut store, &listing, 1).is_ok());
    // A UIDL seen before: header keys now would make everything new.
    store.ledger.note_on_server("uidl-1", 10, 0);
    let err = record_listing(&mut store, &listing, 2).expect_err("refused");
    assert!(err.to_string().contains("try later"), "{err}");
}

#[test]
fn a_previewed_copy_of_a_message_gone_from_the_server_is_saved() {
    let (_dir, mut store) = store();
    let body = b"Subject: kept copy\r\n\r\nhello\r\n";
    store.ledger.note_on_server("gone", body.len() as u64, 0);
    store.ledger.note_on_server("stays", 3, 0);
    store.retrieved.put("gone", body).unwrap();
    store.retrieved.put("stays", b"abc").unwrap();
    let listing = Listing::of(&[(1, Some("stays"), 3)]);
    record_listing(&mut store, &listing, 50).unwrap();
    let gone = store.ledger.get("gone").unwrap();
    assert_eq!(gone.status, Status::Downloaded);
    assert_eq!(gone.downloaded_unix, Some(50));
    let file = store
        .maildir
        .find(gone.file.as_deref().unwrap())
        .expect("in the Maildir");
    assert_eq!(std::fs::read(file).unwrap(), body);
    assert!(!store.retrieved.contains("gone"));
    assert!(store.retrieved.contains("stays"), "still on the server");
    assert_eq!(store.ledger.get("stays").unwrap().status, Status::New);
}
