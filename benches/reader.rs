//! Reading downloaded mail, measured: building the index of a 10,000-message
//! / 50 MiB Maildir from scratch, searching it, opening a 3 MB message with
//! attachments (read, parsed, pictures decoded: all the reader waits for),
//! and the real app's Downloaded view from `App::new` to its first rows.
//! The Maildir comes from the project's generator
//! (`tools/make-mailbox.py --count 10000 --seed 1 --total-mb 50 --profile
//! mixed`). `cargo bench --bench reader`; `bench/reader_bench.py` runs it
//! and measures the real window's memory.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use letterbox::app::{App, AppConfig};
use letterbox::settings::secrets::{MemoryStore, Passwords};
use letterbox::settings::{AccountSettings, Paths, Settings};
use letterbox::store::index::MailIndex;
use letterbox::store::local::LocalMail;

const COUNT: usize = 10_000;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn p95(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[(samples.len() * 95 / 100).min(samples.len() - 1)]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let profile = tempfile::tempdir().expect("profile");
    let paths = Paths::in_dir(profile.path());
    let store = paths.accounts_dir.join("bench");
    let maildir = store.join("Maildir");
    let made = Command::new("python3")
        .arg(root.join("tools/make-mailbox.py"))
        .args(["--maildir"])
        .arg(&maildir)
        .args([
            "--count",
            &COUNT.to_string(),
            "--seed",
            "1",
            "--total-mb",
            "50",
            "--profile",
            "mixed",
        ])
        .status()
        .expect("python3 tools/make-mailbox.py");
    assert!(made.success(), "the mailbox generator failed");
    let mail = LocalMail::new(&maildir);
    let index_path = store.join("index.sqlite");

    // 1. The index from scratch, three times.
    let mut rates = Vec::new();
    for _ in 0..3 {
        let _ = std::fs::remove_file(&index_path);
        let started = Instant::now();
        let mut index = MailIndex::open(&index_path).expect("index");
        let report = index.sync(&mail, &mut |_, _| {}, &|| false).expect("sync");
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(report.indexed, COUNT);
        rates.push(COUNT as f64 / seconds);
    }
    let index = MailIndex::open_read_only(&index_path)
        .expect("open")
        .expect("an index");
    let started = Instant::now();
    let mut again = MailIndex::open(&index_path).expect("index");
    let nothing = again.sync(&mail, &mut |_, _| {}, &|| false).expect("sync");
    let resync_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(nothing.indexed, 0);

    // 2. Search, as typed: common and rare words, a prefix, two words, none.
    let queries = [
        "invoice",
        "meeting schedule",
        "pho",
        "quarter budget review",
        "zzzyzzy",
    ];
    let mut search_rows = Vec::new();
    for query in queries {
        let mut samples = Vec::new();
        let mut hits = 0;
        for _ in 0..30 {
            let started = Instant::now();
            hits = index.search(query).expect("search").len();
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        search_rows.push((query, hits, median(samples.clone()), p95(samples)));
    }
    let started = Instant::now();
    let listed = index.list(false).expect("list").len();
    let list_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(listed, COUNT);

    // 3. A 3 MB message with a picture and a PDF, opened as the reader does.
    let big = big_message();
    let big_path = profile.path().join("big.eml");
    std::fs::write(&big_path, &big).expect("write");
    let wake: letterbox::worker::Wake = Arc::new(|| {});
    let mut open_ms = Vec::new();
    for _ in 0..15 {
        let started = Instant::now();
        let opened = letterbox::worker::reading::open_message(&wake, big_path.clone())
            .block_and_take()
            .expect("open");
        open_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(opened.pictures.len(), 1);
        assert_eq!(opened.view.attachments.len(), 2);
    }

    // 4. The last known list of the server (what the app shows at start):
    //    10,000 messages with their previews, read from the record.
    let record_dir = profile.path().join("record");
    {
        let mut store = letterbox::store::AccountStore::open(
            &letterbox::store::StorePaths::in_dir(&record_dir),
        )
        .expect("store");
        for i in 0..COUNT {
            let key = format!("uid-{i:08}");
            store.ledger.note_on_server(&key, 5000 + i as u64, 1);
            store.previews.insert(
                &key,
                Arc::new(letterbox::mail::Preview {
                    from: format!("Sender {i} <s{i}@example.org>"),
                    subject: format!("Message number {i} about the meeting"),
                    date: "Tue, 24 Nov 2026 12:00:00 +0000".into(),
                    date_unix: Some(1_795_521_600),
                    text: "A few first lines of text, as a preview shows them.\n".repeat(4),
                    ..Default::default()
                }),
            );
        }
        store.ledger.save().expect("save");
        store.previews.save().expect("save");
    }
    let mut known_ms = Vec::new();
    for _ in 0..9 {
        let started = Instant::now();
        let known = letterbox::store::db::Record::last_known(&record_dir).expect("known");
        known_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(known.messages.len(), COUNT);
    }

    // 5. The app: from App::new to the first rows of Downloaded.
    let mut first_rows = Vec::new();
    for _ in 0..5 {
        first_rows.push(first_rows_ms(&paths));
    }

    let kb = (big.len() as f64) / 1000.0;
    println!(
        "Reading downloaded mail: {COUNT} messages, {:.1} MiB (tools/make-mailbox.py --seed 1 --total-mb 50 --profile mixed), this machine",
        dir_mib(&maildir),
    );
    println!("| what | median | limit |");
    println!("|---|---|---|");
    println!(
        "| index from scratch | {:.0} messages/s ({:.2} s) | >= 2,000/s |",
        median(rates.clone()),
        COUNT as f64 / median(rates)
    );
    println!("| index check, nothing new | {resync_ms:.0} ms | |");
    println!("| list all {COUNT} from the index | {list_ms:.1} ms | |");
    for (query, hits, med, p) in &search_rows {
        println!("| search {query:?} ({hits} found) | {med:.1} ms (p95 {p:.1}) | < 50 ms |");
    }
    println!(
        "| open a {kb:.0} KB message (text, picture, PDF) | {:.1} ms | < 100 ms |",
        median(open_ms)
    );
    println!(
        "| Downloaded view: App::new to first rows | {:.0} ms | < 300 ms |",
        median(first_rows)
    );
    println!(
        "| last known server list of {COUNT} with previews, from the record | {:.1} ms | |",
        median(known_ms)
    );
}

fn dir_mib(maildir: &Path) -> f64 {
    let bytes: u64 = std::fs::read_dir(maildir.join("new"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    bytes as f64 / (1024.0 * 1024.0)
}

/// The app on the bench profile: one account whose store holds the
/// Maildir and its index; it never connects anywhere.
fn first_rows_ms(paths: &Paths) -> f64 {
    let mut account = AccountSettings::new("bench");
    account.name = "Bench".into();
    account.host = "127.0.0.1".into();
    account.port = 9;
    account.username = "bench".into();
    let settings = Settings {
        accounts: vec![account],
        ..Settings::default()
    };
    let config = AppConfig {
        paths: paths.clone(),
        passwords: Passwords::new(
            Arc::new(MemoryStore::default()),
            paths.password_file.clone(),
        ),
        fixed_settings: Some(settings),
        note: None,
        native_dialogs: false,
        desktop: Default::default(),
    };
    let started = Instant::now();
    let mut harness = Harness::builder()
        .with_size([1200.0, 800.0])
        .allow_missing_glyphs()
        .build_eframe(move |cc| App::new(cc, config));
    harness.get_by_label_contains("Downloaded").click();
    let deadline = started + Duration::from_secs(60);
    loop {
        harness.step();
        // A row shows its size; the header and sidebar have none in KB.
        if harness.query_all_by_label_contains(" KB").next().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the list never showed");
        std::thread::sleep(Duration::from_millis(1));
    }
    started.elapsed().as_secs_f64() * 1000.0
}

/// About 3 MB: a text part, a 1600x1200 photo-like PNG, and a PDF-sized
/// binary attachment.
fn big_message() -> Vec<u8> {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| {
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        text.as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    let mut png = Vec::new();
    // A sunset-like gradient with some grain: it compresses about as
    // well as a photo saved as PNG.
    let picture = image::RgbImage::from_fn(1600, 1200, |x, y| {
        let grain = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)) >> 29;
        image::Rgb([
            (255 - y / 6) as u8 ^ grain as u8,
            (120 + x / 20) as u8,
            (y / 8) as u8,
        ])
    });
    picture
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    let pdf: Vec<u8> = (0..1_900_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let text = "Here are the photo and the report from the trip.\r\n".repeat(40);
    format!(
        "From: Alice <alice@example.org>\r\nTo: you@example.org\r\nSubject: Photo and report\r\nDate: Tue, 24 Nov 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n--b\r\nContent-Type: image/png; name=trip.png\r\nContent-Disposition: attachment; filename=trip.png\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b\r\nContent-Type: application/pdf; name=report.pdf\r\nContent-Disposition: attachment; filename=report.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        b64(&png),
        b64(&pdf)
    )
    .into_bytes()
}
