//! Unit tests of the window's model: selection, plans, account state.
use super::*;

#[test]
fn clicks_and_arrows_select_like_every_list() {
    let ids = ["a", "b", "c", "d", "e"];
    let id_at = |p: usize| ids[p].to_owned();
    let set = |s: &Selection| s.ids.iter().cloned().collect::<Vec<_>>().join("");
    let mut s = Selection::default();
    assert_eq!(s.click(5, id_at, 1, false, false), "b");
    assert_eq!((set(&s), s.focus.as_deref()), ("b".into(), Some("b")));
    s.click(5, id_at, 3, true, false);
    assert_eq!(set(&s), "bcd", "Shift selects the range from the focus");
    s.click(5, id_at, 0, false, true);
    assert_eq!(set(&s), "abcd", "Ctrl adds");
    s.click(5, id_at, 2, false, true);
    assert_eq!(set(&s), "abd", "Ctrl removes");
    assert_eq!(s.focus.as_deref(), Some("c"));
    assert_eq!(s.step(5, id_at, Step::Down, false), Some((3, "d".into())));
    assert_eq!(set(&s), "d", "an arrow alone moves the selection");
    s.step(5, id_at, Step::Down, true);
    assert_eq!(set(&s), "de", "Shift+arrow extends it");
    assert_eq!(
        s.step(5, id_at, Step::Down, false),
        Some((4, "e".into())),
        "stops at the end"
    );
    assert_eq!(Selection::default().step(0, id_at, Step::Down, false), None);
    assert_eq!(s.step(5, id_at, Step::Home, false), Some((0, "a".into())));
    assert_eq!(
        s.step(5, id_at, Step::PageDown, false),
        Some((4, "e".into())),
        "a page, at most to the end"
    );
    assert_eq!(s.step(5, id_at, Step::PageUp, true), Some((0, "a".into())));
    assert_eq!(s.step(5, id_at, Step::End, false), Some((4, "e".into())));
    let mut fresh = Selection::default();
    assert_eq!(
        fresh.step(5, id_at, Step::Up, false),
        Some((0, "a".into())),
        "from nothing: the first"
    );
}

fn row(key: &str, from: &str, subject: &str, date: i64, size: u64) -> Row {
    let preview = Preview {
        from: from.into(),
        subject: subject.into(),
        date_unix: Some(date),
        ..Preview::default()
    };
    Row::new(Some(key.into()), size, Some(preview), RowStatus::New)
}

#[test]
fn plans_from_the_selection() {
    let selected = vec![
        ("new".to_owned(), RowStatus::New),
        ("seen".to_owned(), RowStatus::Seen),
        ("home".to_owned(), RowStatus::Downloaded),
    ];
    // Download keeping on the server: what is at home already is not
    // fetched again.
    assert_eq!(
        download_plan(&selected, false).items,
        [
            ("new".to_owned(), Action::DownloadKeep),
            ("seen".to_owned(), Action::DownloadKeep)
        ]
    );
    // Download and remove: everything, the one at home only deleted
    // (the engine sees it is downloaded and sends just the DELE).
    let remove = download_plan(&selected, true).items;
    assert_eq!(remove.len(), 3);
    assert!(remove.iter().all(|(_, a)| *a == Action::DownloadDelete));
    assert_eq!(
        keep_plan(&selected).items,
        [("new".to_owned(), Action::Keep)]
    );
    let staged: BTreeSet<String> = ["b".to_owned(), "a".to_owned()].into();
    assert_eq!(
        deletion_plan(&staged).items,
        [
            ("a".to_owned(), Action::Delete),
            ("b".to_owned(), Action::Delete)
        ]
    );
    assert!(download_plan(&[], true).is_empty());
}

#[test]
fn confirmation_counts_deletions_never_downloaded() {
    let mut state = AccountState {
        rows: vec![row("a", "x@y", "one", 1, 10), row("b", "x@y", "two", 2, 10)],
        ..AccountState::default()
    };
    state.rows[1].status = RowStatus::Downloaded;
    state.staged_deletions = ["a".to_owned(), "b".to_owned(), "gone".to_owned()].into();
    // "gone" is no longer listed: counted as never downloaded, to be safe.
    assert_eq!(state.staged_not_downloaded(), 2);
}

#[test]
fn filter_and_sort() {
    let rows = vec![
        row("a", "Zoe <z@x>", "Lunch", 30, 100),
        row("b", "adam@x", "Invoice", 10, 300),
        row("c", "Bob <b@x>", "lunch again", 20, 200),
    ];
    assert_eq!(visible_rows(&rows, "", SortKey::Date, false), [0, 2, 1]);
    assert_eq!(visible_rows(&rows, "", SortKey::From, true), [1, 2, 0]);
    assert_eq!(visible_rows(&rows, "LUNCH", SortKey::Size, true), [0, 2]);
    assert_eq!(visible_rows(&rows, "bob", SortKey::Size, true), [2]);
    assert!(visible_rows(&rows, "nothing", SortKey::Size, true).is_empty());
}

#[test]
fn apply_updates_rows_and_counts() {
    let mut state = AccountState {
        rows: vec![
            row("a", "x", "one", 1, 100),
            row("b", "x", "two", 2, 50),
            row("c", "x", "three", 3, 10),
        ],
        total: 3,
        size_bytes: 160,
        ..AccountState::default()
    };
    state.staged_deletions.insert("b".into());
    let report = ApplyReport {
        downloaded: vec!["a".into()],
        deleted: vec!["b".into()],
        kept: vec!["c".into()],
        failed: vec![("zzz".into(), "refused".into())],
        ..ApplyReport::default()
    };
    state.applied(&report);
    assert_eq!(state.rows.len(), 2);
    assert_eq!(state.total, 2);
    assert_eq!(state.size_bytes, 110);
    assert_eq!(state.row("a").unwrap().status, RowStatus::Downloaded);
    assert_eq!(state.row("c").unwrap().status, RowStatus::Seen);
    assert!(state.staged_deletions.is_empty());
    assert_eq!(state.apply_problems, ["zzz: refused"]);
    assert_eq!(state.new_count(), 0);
}

#[test]
fn the_last_known_list_shows_until_a_check() {
    use crate::store::db::{Known, LastKnown};
    let known = |key: &str, status| Known {
        key: key.into(),
        size_bytes: 10,
        status,
        preview: None,
    };
    let mut state = AccountState::default();
    state.last_known(LastKnown {
        at_unix: Some(1_700_000_000),
        messages: vec![known("a", Status::Downloaded), known("b", Status::Kept)],
    });
    assert!(state.checked && state.uidl_supported, "no id warning");
    assert_eq!((state.rows.len(), state.size_bytes), (2, 20));
    assert_eq!(state.as_of_unix, Some(1_700_000_000));
    assert_eq!(state.rows[0].status, RowStatus::Downloaded);
    let mut busy = AccountState {
        checked: true,
        ..AccountState::default()
    };
    busy.last_known(LastKnown {
        at_unix: None,
        messages: vec![known("c", Status::New)],
    });
    assert!(busy.rows.is_empty(), "a check of this session knows better");
}

#[test]
fn download_of_downloaded_rows_fetches_nothing_unless_others_go_too() {
    let selected = vec![
        ("a".to_owned(), RowStatus::Downloaded),
        ("b".to_owned(), RowStatus::New),
    ];
    let keys = |plan: &Plan| {
        plan.items
            .iter()
            .map(|(k, _)| k.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(&download_plan(&selected[..1], false)),
        Vec::<String>::new()
    );
    assert_eq!(keys(&download_plan(&selected, false)), ["b"]);
    // With another to fetch, both go, and the engine counts the one it has.
    assert_eq!(keys(&download_plan_all(&selected, false)), ["a", "b"]);
}
