//! The settings loader on arbitrary text. It must never panic (bad values
//! become defaults with a notice), and what it returns must survive a save
//! and a load unchanged: parse → `to_toml` → parse gives the same settings
//! and no notices the second time.

#![no_main]

use letterbox::settings::Settings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (settings, _notices) = Settings::parse(&text);
    let saved = settings.to_toml();
    let (again, notices) = Settings::parse(&saved);
    assert_eq!(
        notices,
        Vec::<String>::new(),
        "notices on a saved file:\n{saved}"
    );
    assert_eq!(
        again, settings,
        "the saved file reads back differently:\n{saved}"
    );
    assert_eq!(again.to_toml(), saved, "saving is stable");
});
