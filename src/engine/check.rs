//! "Has new mail arrived, and what is it?": list the mailbox, fetch the
//! heads (TOP) of messages not seen before — cached previews serve the
//! rest — record what is on the server in the ledger, and QUIT. Changes
//! nothing on the server.

use crate::mail::Preview;
use crate::net::{Client, Credentials, Observe, Outcome, Transport};
use crate::pop3::{Command, Expire, MsgNum, Uidl};
use crate::store::{AccountStore, Status, now_unix};

use super::apply::{ApplyReport, Plan, apply_in_session, expired_plan};
use super::listing::{Listing, list};
use super::{Account, Error, Progress};

/// TOP replies collected at once: with the per-reply cap this bounds the
/// memory a check can take, and lets progress be reported as it goes.
pub(crate) const TOP_SLICE: usize = 100;

#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Body lines asked for with TOP, for the preview.
    pub preview_lines: u32,
    /// Also remove, in the same session, downloaded messages (safe at home)
    /// that have waited on the server longer than this. Needs a store.
    pub expire_after_days: Option<u32>,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            preview_lines: 10,
            expire_after_days: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct MessageSummary {
    /// This session's message number; meaningless in any other session.
    pub number: MsgNum,
    /// The stable identity used everywhere else (the UIDL, or a key derived
    /// from the headers when the server has no UIDL). `None`: unidentifiable.
    pub key: Option<String>,
    pub uid: Option<Uidl>,
    pub size_bytes: u64,
    /// `None` when the server refused TOP for this message.
    pub preview: Option<Preview>,
    /// The ledger's view, when checked against a store.
    pub status: Option<Status>,
    /// Not downloaded or kept before (always true without a store).
    pub is_new: bool,
    /// Another message on the server has the same identity: left alone.
    pub ambiguous: bool,
}

#[derive(Clone, Debug)]
pub struct CheckReport {
    pub total: u32,
    pub size_bytes: u64,
    pub messages: Vec<MessageSummary>,
    pub uidl_supported: bool,
    /// RFC 2449 EXPIRE: `Days(0)` means the server deletes what is retrieved.
    pub expire: Option<Expire>,
    pub login_delay_secs: Option<u32>,
    /// Old downloaded messages removed from the server in the same session
    /// (`CheckOptions::expire_after_days`).
    pub expired: Option<ApplyReport>,
}

impl CheckReport {
    pub fn new_count(&self) -> usize {
        self.messages.iter().filter(|m| m.is_new).count()
    }
}

/// Connects, logs in, lists the mailbox with previews, and says QUIT.
pub fn check(
    account: &Account,
    store: Option<&mut AccountStore>,
    options: &CheckOptions,
    observe: Observe,
    progress: &mut dyn FnMut(Progress),
) -> Result<CheckReport, Error> {
    progress(Progress::Connecting);
    let client = Client::connect(&account.endpoint, observe)?;
    check_with(client, &account.credentials, store, options, progress)
}

/// A check over an already connected client (any transport).
pub fn check_with<T: Transport>(
    client: Client<T>,
    credentials: &Credentials,
    mut store: Option<&mut AccountStore>,
    options: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<CheckReport, Error> {
    let mut mailbox = super::apply::login(client, credentials, store.as_deref_mut())?;
    progress(Progress::LoggedIn);
    let listing = list(&mut mailbox, options.preview_lines)?;
    progress(Progress::Listed {
        total: listing.total,
    });
    let now = now_unix();
    if let Some(store) = store.as_deref_mut() {
        record_listing(store, &listing, now);
    }

    // Heads only for messages without a cached preview.
    let cached = |key: &Option<String>| -> Option<Preview> {
        let store = store.as_deref()?;
        store.previews.get(key.as_deref()?).cloned()
    };
    let lines = options.preview_lines;
    let mut previews: Vec<Option<Preview>> = listing
        .messages
        .iter()
        .map(|m| {
            cached(&m.key).or_else(|| {
                let head = listing.heads.get(&m.number)?;
                Some(Preview::from_bytes(head, lines as usize))
            })
        })
        .collect();
    // Without UIDL every head was fetched already; a refused TOP stays refused.
    let wanted: Vec<usize> = (0..previews.len())
        .filter(|&i| previews[i].is_none() && listing.uidl_supported)
        .collect();
    let mut done = 0;
    // In slices, so progress can be reported while the pipeline runs.
    for slice in wanted.chunks(TOP_SLICE) {
        let tops = mailbox.batch(
            slice
                .iter()
                .map(|&i| Command::Top {
                    msg: listing.messages[i].number,
                    lines,
                })
                .collect(),
        )?;
        for (&i, outcome) in slice.iter().zip(tops) {
            if let Outcome::Ok { body, .. } = outcome {
                previews[i] = Some(Preview::from_bytes(
                    body.as_deref().unwrap_or_default(),
                    lines as usize,
                ));
            }
        }
        done += slice.len() as u32;
        progress(Progress::Previews {
            done,
            total: wanted.len() as u32,
        });
    }
    let info = mailbox.info().capabilities.clone();
    // "Remove from the server after N days", in the same session: a second
    // login right away would be refused by servers with a LOGIN-DELAY.
    let plan = match (options.expire_after_days, store.as_deref()) {
        (Some(days), Some(store)) => expired_plan(store, now, days),
        _ => Plan::default(),
    };
    let expired = match store.as_deref_mut() {
        Some(store) if !plan.is_empty() => {
            Some(apply_in_session(mailbox, store, &listing, &plan, progress)?)
        }
        _ => {
            mailbox.quit()?;
            None
        }
    };

    if let Some(store) = store.as_deref_mut() {
        for (message, preview) in listing.messages.iter().zip(&previews) {
            if let (Some(key), Some(preview)) = (&message.key, preview)
                && store.previews.get(key).is_none()
            {
                store.previews.insert(key, preview.clone());
            }
        }
        let on_server: std::collections::HashSet<&str> = listing.keys().collect();
        store.previews.retain(|k| on_server.contains(k));
        store.ledger.save()?;
        store.previews.save()?;
    }

    let messages = listing
        .messages
        .iter()
        .zip(previews)
        .map(|(m, preview)| {
            let status = m
                .key
                .as_deref()
                .and_then(|k| store.as_deref().and_then(|s| s.ledger.get(k)))
                .map(|e| e.status);
            MessageSummary {
                number: m.number,
                key: m.key.clone(),
                uid: m.uid.clone(),
                size_bytes: m.size_bytes,
                preview,
                status,
                is_new: store.is_none() || status == Some(Status::New),
                ambiguous: m
                    .key
                    .as_deref()
                    .is_some_and(|k| listing.ambiguous.contains(k)),
            }
        })
        .collect();
    Ok(CheckReport {
        total: listing.total,
        size_bytes: listing.size_bytes,
        messages,
        uidl_supported: listing.uidl_supported,
        expire: info.as_ref().and_then(|c| c.expire),
        login_delay_secs: info.as_ref().and_then(|c| c.login_delay_secs),
        expired,
    })
}

/// Notes every listed message in the ledger and what has left the server.
pub(crate) fn record_listing(store: &mut AccountStore, listing: &Listing, now: i64) {
    for message in &listing.messages {
        if let Some(key) = &message.key
            && !listing.ambiguous.contains(key)
        {
            store.ledger.note_on_server(key, message.size_bytes, now);
        }
    }
    let present: std::collections::HashSet<&str> = listing.keys().collect();
    store.ledger.note_listing_complete(&present);
}
