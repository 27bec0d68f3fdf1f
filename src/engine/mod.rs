//! The operations a user asks for — check, preview, apply a plan — and the
//! rules that keep mail safe while doing them. It maps UIDLs to this
//! session's message numbers, and (once the store exists) saves and syncs
//! before anything is deleted. It knows nothing about windows or threads.

mod check;

pub use check::{CheckOptions, CheckReport, MessageSummary, Progress, check, check_with};
