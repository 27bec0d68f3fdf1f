//! Test helpers shared by the integration tests: a scriptable,
//! fault-injecting POP3 server (`pop3_server`), the real Dovecot launcher
//! (`dovecot`) and small utilities.

pub mod cli;
pub mod desktop;
pub mod dovecot;
pub mod notifications;
pub mod pop3_server;
