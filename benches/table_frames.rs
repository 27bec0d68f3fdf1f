//! How long the app takes to lay out a frame of the message table, with
//! 10,000 messages, while scrolling. Runs the real app (egui_kittest, no
//! GPU) against the demo server. `cargo bench --bench table_frames`.
//!
//! Only the CPU work of building the UI is measured (no rendering): that is
//! the part that grows with the number of messages.

use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use letterbox::app::{App, AppConfig};
use letterbox::demo::DemoServer;
use letterbox::settings::Paths;
use letterbox::settings::secrets::MemoryStore;

fn main() {
    for count in [100, 1_000, 10_000] {
        let per_frame = measure(count);
        println!(
            "{count:>6} messages: median {:>6.2} ms per frame, p95 {:>6.2} ms ({} frames while scrolling)",
            per_frame.0, per_frame.1, per_frame.2
        );
    }
}

fn measure(count: usize) -> (f64, f64, usize) {
    let messages = (1..=count)
        .map(|i| {
            format!(
                "From: Sender {i} <s{i}@example.test>\r\nSubject: Message {i:05} about something\r\nDate: Tue, 24 Nov 2026 12:00:00 +0000\r\n\r\nBody {i}\r\n"
            )
            .into_bytes()
        })
        .collect();
    let server = DemoServer::with_messages(0, true, messages).expect("server");
    let profile = tempfile::tempdir().expect("profile");
    let paths = Paths::in_dir(profile.path());
    let config = AppConfig::demo(paths, Arc::new(MemoryStore::default()), server.port());
    let mut harness = Harness::builder()
        .with_size([1200.0, 800.0])
        .allow_missing_glyphs()
        .build_eframe(move |cc| App::new(cc, config));
    harness.step();
    harness.get_by_label("Check mail").click();
    let done = format!("{count} new");
    let deadline = Instant::now() + Duration::from_secs(120);
    while harness.query_all_by_label_contains(&done).next().is_none() {
        assert!(Instant::now() < deadline, "check did not finish");
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut times = Vec::new();
    for frame in 0..300 {
        let delta = if frame % 100 < 50 { -120.0 } else { 120.0 };
        harness.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, delta),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Unknown,
            modifiers: egui::Modifiers::NONE,
        });
        let start = Instant::now();
        harness.step();
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (
        times[times.len() / 2],
        times[times.len() * 95 / 100],
        times.len(),
    )
}
