//! The one integration-test binary: one module per topic, shared helpers in
//! `tests/support/`.

#[path = "../support/mod.rs"]
#[allow(dead_code)]
mod support;

mod account_store;
mod background;
mod check;
mod dovecot_check;
mod dovecot_fetch;
mod dovecot_selftest;
mod everyday_ui;
mod fetch_cli;
mod fetch_faults;
mod free_space_ui;
mod fuzz_regressions;
mod house;
mod oauth;
mod oauth_idp_selftest;
mod pop3_server_selftest;
mod properties;
mod reader_ui;
mod reading_cli;
mod real_servers;
mod schedule_ui;
mod screen_reader;
mod smoke;
mod store_migration;
mod transcripts;
mod tray;
mod ui;
mod worker;
