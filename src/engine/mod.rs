//! The operations a user asks for — check, apply a plan (download, keep,
//! delete), fetch — and the rules that keep mail safe while doing them:
//! messages are matched by UIDL to this session's numbers (never a number
//! from an earlier session), every download is complete, size-checked and
//! synced before the ledger says so, deletions are only sent for what is
//! safe, and QUIT (which commits deletions) only after all of that. Any
//! failure before QUIT drops the connection without it, so the server
//! deletes nothing. It knows nothing about windows or threads of the UI.

mod apply;
mod check;
mod download;
mod listing;
mod probe;

use crate::explain::{Explain, UserMessage};
use crate::net::{self, Credentials, Endpoint};
use crate::store::StoreError;

pub use apply::{Action, ApplyReport, FetchPolicy, Plan, apply, expired_plan, fetch};
pub use check::{
    CheckOptions, CheckReport, DEFAULT_RETR_PREVIEW_MAX_BYTES, MAX_NEW_PREVIEWS_PER_CHECK,
    MessageSummary, PreviewNotes, check, check_with,
};
pub use listing::message_key_from_headers;
pub use probe::{ConnectionReport, preview, test_connection};

/// How to reach and log in to one account's server.
#[derive(Clone, Debug)]
pub struct Account {
    pub endpoint: Endpoint,
    pub credentials: Credentials,
}

/// How far a long operation has come.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    Connecting,
    LoggedIn,
    Listed {
        total: u32,
    },
    Previews {
        done: u32,
        total: u32,
    },
    Downloading {
        done_messages: u32,
        total_messages: u32,
        done_bytes: u64,
        total_bytes: u64,
    },
    Deleting {
        count: u32,
    },
    /// The mailbox as listed, with the previews known already: a check
    /// shows these rows at once, before the new previews arrive.
    Rows(std::sync::Arc<Vec<check::MessageSummary>>),
    /// Previews that just arrived, by message key.
    Heads(std::sync::Arc<Vec<(String, std::sync::Arc<crate::mail::Preview>)>>),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Net(#[from] net::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A message could not be saved on a server that deletes everything
    /// retrieved at the end of the session (EXPIRE 0); the session was
    /// dropped without QUIT so it stays there. A rule of the engine, not
    /// something the connection did.
    #[error(
        "a message could not be saved, and this server deletes retrieved mail when the session ends"
    )]
    ExpireWouldLose,
}

impl Explain for Error {
    fn user_message(&self) -> UserMessage {
        match self {
            Error::Net(e) => e.user_message(),
            Error::Store(e) => e.user_message(),
            Error::ExpireWouldLose => UserMessage {
                headline: "A message could not be saved, and this server deletes every message once it is downloaded.".into(),
                next_step: "Letterbox stopped without letting the server delete anything. Check the details, then try again.".into(),
                detail: self.to_string(),
            },
        }
    }
}

impl Error {
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Net(e) if e.is_transient())
    }

    pub fn net(&self) -> Option<&net::Error> {
        match self {
            Error::Net(e) => Some(e),
            Error::Store(_) | Error::ExpireWouldLose => None,
        }
    }
}
