//! Test helpers shared by the integration tests: a scriptable,
//! fault-injecting POP3 server (`pop3_server`), the real Dovecot launcher
//! (`dovecot`), a mock OAuth 2 identity provider (`oauth_idp`), a minimal HTTP
//! server and client (`http`) and small utilities.

pub mod cli;
pub mod desktop;
pub mod dovecot;
pub mod http;
pub mod notifications;
pub mod oauth_idp;
pub mod pop3_server;
