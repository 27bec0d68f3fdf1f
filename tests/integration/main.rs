//! The one integration-test binary: one module per topic, shared helpers in
//! `tests/support/`.

#[path = "../support/mod.rs"]
#[allow(dead_code)]
mod support;

mod check;
mod dovecot_check;
mod dovecot_selftest;
mod pop3_server_selftest;
mod transcripts;
