//! Letterbox: check a POP3 mailbox, preview messages on the server, and
//! download, keep or delete each one without ever losing or duplicating mail.
//!
//! The modules are layers, and each depends only on those below it:
//! `app` (egui) and `cli` → `worker` (threads) → `engine` (the safety rules)
//! → `accounts` (settings to an engine account) → `oauth` (the browser
//! sign-in's tokens) → `net` (the only sockets),
//! `store` (the only mail on disk), `mail` (the only bytes-to-text) and
//! `settings` → `fsutil`, `explain` and `civil` (leaves); `net` → `pop3` (sans-IO,
//! no I/O at all). `desktop` (under `app`, beside `worker`) talks to the
//! desktop session. `demo` is a POP3 server on loopback for `--demo`. No
//! module below `app` knows egui exists, and no unsafe code is allowed.
#![forbid(unsafe_code)]

pub mod accounts;
#[cfg(feature = "gui")]
pub mod app;
pub mod civil;
pub mod cli;
pub mod demo;
pub mod desktop;
pub mod engine;
pub mod explain;
pub mod fsutil;
pub mod mail;
pub mod net;
pub mod oauth;
pub mod pop3;
pub mod settings;
pub mod store;
pub mod worker;
