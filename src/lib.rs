//! Letterbox: check a POP3 mailbox, preview messages on the server, and
//! download, keep or delete each one without ever losing or duplicating mail.
#![forbid(unsafe_code)]

pub mod accounts;
#[cfg(feature = "gui")]
pub mod app;
pub mod cli;
pub mod demo;
pub mod engine;
pub mod explain;
pub mod fsutil;
pub mod mail;
pub mod net;
pub mod pop3;
pub mod settings;
pub mod store;
pub mod worker;
