//! "Has new mail arrived, and what is it?": list the mailbox, fetch the
//! heads (TOP) of messages not seen before — cached previews serve the
//! rest — record what is on the server in the ledger, and QUIT. Changes
//! nothing on the server.

use std::sync::Arc;

use crate::mail::Preview;
use crate::net::{
    self, Client, Credentials, Mailbox, Observe, Outcome, RetrSink, StreamError, Transport,
};
use crate::pop3::{Expire, MsgNum};
use crate::store::{AccountStore, Status, now_unix};

use super::apply::{ApplyReport, Plan, apply_in_session, connect_and_login, expired_plan};
use super::listing::{Listing, list};
use super::{Account, Error, Progress};

/// TOP replies collected at once: with the per-reply cap this bounds the
/// memory a check can take, and lets progress be reported as it goes.
pub(crate) const TOP_SLICE: usize = 100;

/// New previews fetched by one check at most: a first check of a huge
/// mailbox shows its newest messages soon and within bounded memory, and
/// later checks fill in the rest (previews are cached by key).
pub const MAX_NEW_PREVIEWS_PER_CHECK: usize = 10_000;

/// The default of [`CheckOptions::retr_preview_max_bytes`]: 1 MB.
pub const DEFAULT_RETR_PREVIEW_MAX_BYTES: u64 = 1_000_000;

#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Body lines asked for with TOP, for the preview.
    pub preview_lines: u32,
    /// Also remove, in the same session, downloaded messages (safe at home)
    /// that have waited on the server longer than this. Needs a store.
    pub expire_after_days: Option<u32>,
    /// On a server without TOP, messages up to this size are retrieved
    /// whole to preview them (and kept, so a download does not fetch them
    /// again); larger ones get no preview. 0 turns this off.
    pub retr_preview_max_bytes: u64,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            preview_lines: 10,
            expire_after_days: None,
            retr_preview_max_bytes: DEFAULT_RETR_PREVIEW_MAX_BYTES,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageSummary {
    /// This session's message number; meaningless in any other session.
    pub number: MsgNum,
    /// The stable identity used everywhere else: the UIDL when the report
    /// says `uidl_supported`, else a key derived from the headers. `None`:
    /// unidentifiable.
    pub key: Option<String>,
    pub size_bytes: u64,
    /// `None` when the server gave none (see `CheckReport::previews`).
    /// Boxed: a mailbox may list a million messages, most without one.
    pub preview: Option<Arc<Preview>>,
    /// The ledger's view, when checked against a store.
    pub status: Option<Status>,
    /// Not downloaded or kept before (always true without a store).
    pub is_new: bool,
    /// Another message on the server has the same identity: left alone.
    pub ambiguous: bool,
}

/// How this server's previews came, and why some are missing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreviewNotes {
    /// The server does not implement TOP.
    pub top_unsupported: bool,
    /// Without TOP, messages up to this size were retrieved whole for
    /// their preview; `None`: none were (see `retrieval_blocked`).
    pub retrieved_up_to_bytes: Option<u64>,
    /// Why no message was retrieved for its preview, on a server without TOP.
    pub retrieval_blocked: Option<RetrievalBlocked>,
    /// Messages left without a preview in this check because there were
    /// more than [`MAX_NEW_PREVIEWS_PER_CHECK`] new ones (or the room for
    /// kept copies was used up).
    pub deferred: usize,
    /// UIDL lines the server sent that could not be used: those messages
    /// are left alone (shortened, control characters escaped).
    pub skipped_uidls: Vec<String>,
}

/// Why a server without TOP gets no previews by download.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetrievalBlocked {
    /// The limit is 0.
    TurnedOff,
    /// Nowhere to keep the copies (a check without a profile): a server
    /// may delete what it sent, and a check must change nothing there.
    NoStore,
    /// The server deletes or expires what was retrieved (RFC 2449 EXPIRE).
    ServerExpires,
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
    pub previews: PreviewNotes,
}

impl CheckReport {
    pub fn new_count(&self) -> usize {
        self.messages.iter().filter(|m| m.is_new).count()
    }

    /// Why a message has no preview, as a sentence for a person.
    pub fn no_preview_reason(&self, size_bytes: u64) -> String {
        self.previews.no_preview_reason(size_bytes)
    }
}

impl PreviewNotes {
    /// Why a message of this size has no preview, as a sentence for a
    /// person.
    pub fn no_preview_reason(&self, size_bytes: u64) -> String {
        const NO_TOP: &str = "This server cannot show a message without sending all of it";
        if self.top_unsupported {
            return match (self.retrieved_up_to_bytes, self.retrieval_blocked) {
                (Some(limit), _) if size_bytes > limit => format!(
                    "{NO_TOP}, so only messages up to {} are previewed.",
                    crate::mail::human_size(limit)
                ),
                (Some(_), _) if self.deferred > 0 => {
                    format!("{NO_TOP}; this one will be previewed by a later check.")
                }
                (_, Some(RetrievalBlocked::ServerExpires)) => format!(
                    "{NO_TOP}, and it deletes mail some time after sending it, so Letterbox does not preview mail you have not downloaded."
                ),
                (_, Some(RetrievalBlocked::NoStore)) => format!(
                    "{NO_TOP}, and previews by download need a place to keep the copies (a profile)."
                ),
                (_, Some(RetrievalBlocked::TurnedOff)) => {
                    format!("{NO_TOP}, and previews by download are turned off.")
                }
                _ => "The server gave no preview of this message.".into(),
            };
        }
        if self.deferred > 0 {
            return "No preview yet: this mailbox holds many new messages, and each check previews the newest ones first.".into();
        }
        "The server gave no preview of this message.".into()
    }

    /// A note for the account as a whole, when its previews are limited.
    pub fn account_note(&self) -> Option<String> {
        if !self.top_unsupported {
            return None;
        }
        Some(match self.retrieved_up_to_bytes {
            Some(limit) => format!(
                "This server cannot show a message without sending all of it: messages up to {} are downloaded to preview them, larger ones show no preview.",
                crate::mail::human_size(limit)
            ),
            None => "This server cannot show a message without sending all of it, so messages show no preview.".into(),
        })
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
    let mut store = store;
    let mailbox = connect_and_login(account, observe, store.as_deref_mut(), progress)?;
    check_logged_in(mailbox, store, options, progress)
}

/// A check over an already connected client (any transport; no new
/// connection is made if a sign-in fallback would need one).
pub fn check_with<T: Transport>(
    client: Client<T>,
    credentials: &Credentials,
    mut store: Option<&mut AccountStore>,
    options: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<CheckReport, Error> {
    let mailbox = super::apply::login(client, credentials, store.as_deref_mut())?;
    progress(Progress::LoggedIn);
    check_logged_in(mailbox, store, options, progress)
}

fn check_logged_in<T: Transport>(
    mut mailbox: Mailbox<T>,
    mut store: Option<&mut AccountStore>,
    options: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<CheckReport, Error> {
    let listing = list(&mut mailbox, options.preview_lines)?;
    progress(Progress::Listed {
        total: listing.total,
    });
    let now = now_unix();
    if let Some(store) = store.as_deref_mut() {
        record_listing(store, &listing, now)?;
    }

    // Heads only for messages without a cached preview.
    let lines = options.preview_lines;
    let mut previews: Vec<Option<Arc<Preview>>> = listing
        .messages
        .iter()
        .map(|m| {
            let cached = store
                .as_deref()
                .zip(m.key.as_deref())
                .and_then(|(store, key)| store.previews.get(key));
            match cached {
                Some(preview) => Some(Arc::clone(preview)),
                None => listing
                    .heads
                    .get(&m.number)
                    .map(|head| Arc::new(Preview::from_bytes(head, lines as usize))),
            }
        })
        .collect();
    let mut notes = PreviewNotes {
        skipped_uidls: listing.skipped.clone(),
        deferred: listing.heads_dropped,
        ..PreviewNotes::default()
    };
    let missing = previews.iter().map(Option::is_none);
    let (wanted, deferred) = previews_wanted(missing, listing.uidl_supported);
    if deferred > 0 {
        notes.deferred = deferred;
    }
    let top_advertised = mailbox.info().capabilities.as_ref().is_some_and(|c| c.top);
    if !wanted.is_empty() {
        // The rows now, with what is known of them: the previews fill in
        // as they arrive.
        let rows = listing
            .messages
            .iter()
            .zip(&previews)
            .map(|(m, p)| summary(m, p.clone(), store.as_deref(), &listing.ambiguous))
            .collect();
        progress(Progress::Rows(Arc::new(rows)));
    }
    let keys: Vec<Option<&str>> = listing.messages.iter().map(|m| m.key.as_deref()).collect();
    // Heads are parsed on a thread of their own while the next slice is on
    // the wire: parsing 10,000 heads costs about as much as receiving them.
    let parsed = std::thread::scope(|scope| -> Result<Vec<(usize, Arc<Preview>)>, Error> {
        let (heads, incoming) = std::sync::mpsc::channel::<(usize, Vec<u8>)>();
        let (parsed_tx, parsed_rx) = std::sync::mpsc::channel::<(usize, Arc<Preview>)>();
        scope.spawn(move || {
            for (i, head) in incoming {
                let preview = Arc::new(Preview::from_bytes(&head, lines as usize));
                if parsed_tx.send((i, preview)).is_err() {
                    break;
                }
            }
        });
        let mut collected: Vec<(usize, Arc<Preview>)> = Vec::with_capacity(wanted.len());
        // What was parsed since the last call, handed on as progress.
        let hand_on = |collected: &mut Vec<(usize, Arc<Preview>)>,
                       progress: &mut dyn FnMut(Progress)| {
            let start = collected.len();
            collected.extend(parsed_rx.try_iter());
            let batch: Vec<(String, Arc<Preview>)> = collected[start..]
                .iter()
                .filter_map(|(i, p)| keys[*i].map(|k| (k.to_owned(), Arc::clone(p))))
                .collect();
            if !batch.is_empty() {
                progress(Progress::Heads(Arc::new(batch)));
            }
        };
        let total = wanted.len() as u32;
        let mut done = 0u32;
        let send = |i: usize, outcome: Outcome<Vec<u8>>| -> bool {
            match outcome {
                Outcome::Ok(head) => {
                    let _ = heads.send((i, head));
                    true
                }
                Outcome::Refused(_) => false,
                Outcome::Failed(_) => true,
            }
        };
        // A first slice on its own: a server that never said it had TOP
        // and refuses the whole slice has not, and is asked no more.
        let (probe, rest) = wanted.split_at(wanted.len().min(TOP_SLICE));
        let numbers: Vec<MsgNum> = probe.iter().map(|&i| listing.messages[i].number).collect();
        let mut answered = false;
        for (&i, outcome) in probe.iter().zip(mailbox.top(&numbers, lines)?) {
            answered |= send(i, outcome);
        }
        done += probe.len() as u32;
        progress(Progress::Previews { done, total });
        hand_on(&mut collected, progress);
        if !answered && !top_advertised && !probe.is_empty() {
            notes.top_unsupported = true;
        } else if !rest.is_empty() {
            // The rest in one run, the progress every slice's worth.
            let numbers: Vec<MsgNum> = rest.iter().map(|&i| listing.messages[i].number).collect();
            mailbox.top_each(&numbers, lines, &mut |at, outcome| {
                send(rest[at], outcome);
                done += 1;
                if done.is_multiple_of(TOP_SLICE as u32) || done == total {
                    progress(Progress::Previews { done, total });
                    hand_on(&mut collected, progress);
                }
            })?;
        }
        drop(heads);
        // The rest, once the parser has finished (a parser that panicked
        // lost only previews, never mail).
        collected.extend(parsed_rx.iter());
        Ok(collected)
    })?;
    for (i, preview) in parsed {
        previews[i] = Some(preview);
    }
    if notes.top_unsupported {
        retrieve_previews(
            &mut mailbox,
            &listing,
            &wanted,
            &mut previews,
            store.as_deref(),
            options,
            &mut notes,
            progress,
        )?;
    }
    // Read now: previews by download ask for the capabilities again.
    let caps = mailbox.info().capabilities.clone();
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
                store.previews.insert(key, Arc::clone(preview));
            }
        }
        let on_server: std::collections::HashSet<&str> = listing.keys().collect();
        store.previews.retain(|k| on_server.contains(k));
        // Copies are kept for new messages only: once kept or downloaded,
        // a message is not previewed again.
        store.retrieved.retain(
            listing
                .keys()
                .filter(|k| store.ledger.get(k).is_some_and(|e| e.status == Status::New)),
        );
        store.ledger.save()?;
        store.previews.save()?;
    }

    let Listing {
        total,
        size_bytes,
        messages,
        uidl_supported,
        ambiguous,
        ..
    } = listing;
    let messages = messages
        .iter()
        .zip(previews)
        .map(|(m, preview)| summary(m, preview, store.as_deref(), &ambiguous))
        .collect();
    Ok(CheckReport {
        total,
        size_bytes,
        messages,
        uidl_supported,
        expire: caps.as_ref().and_then(|c| c.expire),
        login_delay_secs: caps.as_ref().and_then(|c| c.login_delay_secs),
        expired,
        previews: notes,
    })
}

/// A listed message as the report gives it.
fn summary(
    m: &super::listing::Listed,
    preview: Option<Arc<Preview>>,
    store: Option<&AccountStore>,
    ambiguous: &std::collections::HashSet<String>,
) -> MessageSummary {
    let status = m
        .key
        .as_deref()
        .and_then(|k| store.and_then(|s| s.ledger.get(k)))
        .map(|e| e.status);
    MessageSummary {
        number: m.number,
        ambiguous: m.key.as_deref().is_some_and(|k| ambiguous.contains(k)),
        key: m.key.clone(),
        size_bytes: m.size_bytes,
        preview,
        status,
        is_new: store.is_none() || status == Some(Status::New),
    }
}

/// Which messages (by index in the listing) get a TOP in this check, and
/// how many more wait for a later one: those without a preview yet, the
/// newest `MAX_NEW_PREVIEWS_PER_CHECK` of them (the newest mail has the
/// highest numbers). Without UIDL every head was fetched with the listing
/// already, and a refused TOP stays refused: none.
fn previews_wanted(
    missing: impl Iterator<Item = bool>,
    uidl_supported: bool,
) -> (Vec<usize>, usize) {
    if !uidl_supported {
        return (Vec::new(), 0);
    }
    let mut wanted: Vec<usize> = missing
        .enumerate()
        .filter_map(|(i, missing)| missing.then_some(i))
        .collect();
    let deferred = wanted.len().saturating_sub(MAX_NEW_PREVIEWS_PER_CHECK);
    wanted.drain(..deferred);
    (wanted, deferred)
}

/// Most bytes of kept copies (`store::RetrievedCache`) per account: past
/// it, further previews wait for a later check.
pub const MAX_RETRIEVED_BYTES: u64 = 256 * 1024 * 1024;

/// Previews on a server without TOP: messages up to the size limit are
/// retrieved whole (never a larger one just for a preview), streamed so
/// only one is in memory at a time, and kept — durably, so that a server
/// that deletes what it sent without saying so loses nothing: the copy of
/// a message that vanishes goes into the Maildir (`record_listing`). So
/// only with a store, and not on a server that announces it deletes or
/// expires what was retrieved (RFC 2449 EXPIRE, asked again after login,
/// where it may differ): there a preview would start the clock on mail the
/// user never downloaded.
#[allow(clippy::too_many_arguments)]
fn retrieve_previews<T: Transport>(
    mailbox: &mut Mailbox<T>,
    listing: &Listing,
    wanted: &[usize],
    previews: &mut [Option<Arc<Preview>>],
    store: Option<&AccountStore>,
    options: &CheckOptions,
    notes: &mut PreviewNotes,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), Error> {
    let max_bytes = options.retr_preview_max_bytes;
    let Some(store) = store else {
        notes.retrieval_blocked = Some(RetrievalBlocked::NoStore);
        return Ok(());
    };
    if max_bytes == 0 {
        notes.retrieval_blocked = Some(RetrievalBlocked::TurnedOff);
        return Ok(());
    }
    let expire = mailbox.refresh_capabilities()?.and_then(|c| c.expire);
    if matches!(expire, Some(Expire::Days(_))) {
        notes.retrieval_blocked = Some(RetrievalBlocked::ServerExpires);
        return Ok(());
    }
    notes.retrieved_up_to_bytes = Some(max_bytes);
    let mut room = MAX_RETRIEVED_BYTES.saturating_sub(store.retrieved.total_bytes());
    let mut targets: Vec<usize> = Vec::new();
    for &i in wanted.iter().rev() {
        let size = listing.messages[i].size_bytes;
        if previews[i].is_some() || size > max_bytes || listing.messages[i].key.is_none() {
            continue;
        }
        if size > room {
            notes.deferred += 1;
            continue;
        }
        room -= size;
        targets.push(i);
    }
    targets.reverse();
    let numbers: Vec<MsgNum> = targets
        .iter()
        .map(|&i| listing.messages[i].number)
        .collect();
    let mut sink = PreviewSink {
        listing,
        targets: &targets,
        previews,
        store,
        lines: options.preview_lines as usize,
        max_bytes,
        buffer: Vec::new(),
        overflow: false,
        done: 0,
        progress,
    };
    match mailbox.retr_stream(&numbers, &mut sink) {
        Ok(()) => Ok(()),
        Err(StreamError::Net(e)) => Err(e.into()),
        Err(StreamError::Sink(PreviewStop::Store(e))) => Err(e.into()),
        Err(StreamError::Sink(PreviewStop::Oversize { max_bytes })) => {
            Err(net::Error::Reply(crate::pop3::ReplyError::TooLarge {
                command: "RETR",
                max_bytes,
            })
            .into())
        }
    }
}

struct PreviewSink<'a> {
    listing: &'a Listing,
    targets: &'a [usize],
    previews: &'a mut [Option<Arc<Preview>>],
    store: &'a AccountStore,
    lines: usize,
    max_bytes: u64,
    /// The message being received; only one at a time.
    buffer: Vec<u8>,
    /// The server sent more than the limit (more than it announced).
    overflow: bool,
    done: u32,
    progress: &'a mut dyn FnMut(Progress),
}

/// Why retrieving previews stopped. Either way the session ends without
/// QUIT, so a server that deletes what it sent deletes nothing.
enum PreviewStop {
    /// A copy could not be kept.
    Store(crate::store::StoreError),
    /// The server sent more than the limit (more than it announced).
    Oversize { max_bytes: u64 },
}

impl RetrSink for PreviewSink<'_> {
    type Error = PreviewStop;

    fn data(&mut self, _index: usize, chunk: &[u8]) -> Result<(), Self::Error> {
        if self.buffer.len() as u64 + chunk.len() as u64 > self.max_bytes {
            self.overflow = true;
            self.buffer = Vec::new();
        }
        if !self.overflow {
            self.buffer.extend_from_slice(chunk);
        }
        Ok(())
    }

    fn end(&mut self, index: usize, outcome: Outcome) -> Result<(), Self::Error> {
        let bytes = std::mem::take(&mut self.buffer);
        let overflow = std::mem::replace(&mut self.overflow, false);
        let message_index = self.targets[index];
        let listed = &self.listing.messages[message_index];
        if matches!(outcome, Outcome::Ok { .. }) {
            if overflow {
                return Err(PreviewStop::Oversize {
                    max_bytes: self.max_bytes,
                });
            }
            self.previews[message_index] = Some(Arc::new(Preview::from_bytes(&bytes, self.lines)));
            // Every retrieved message is kept, durably, before going on.
            if let Some(key) = listed.key.as_deref() {
                self.store
                    .retrieved
                    .put(key, &bytes)
                    .map_err(PreviewStop::Store)?;
            }
        }
        self.done += 1;
        (self.progress)(Progress::Previews {
            done: self.done,
            total: self.targets.len() as u32,
        });
        Ok(())
    }
}

/// Notes every listed message in the ledger and what has left the server.
/// A message that left the server while its only copy was one retrieved
/// for a preview (a server that deletes what it sent, without saying so)
/// is moved into the Maildir first: it is then downloaded, not lost.
pub(crate) fn record_listing(
    store: &mut AccountStore,
    listing: &Listing,
    now: i64,
) -> Result<(), Error> {
    refuse_identity_switch(store, listing)?;
    rescue_retrieved(store, listing, now)?;
    for message in &listing.messages {
        if let Some(key) = &message.key
            && !listing.ambiguous.contains(key)
        {
            store.ledger.note_on_server(key, message.size_bytes, now);
        }
    }
    let present: std::collections::HashSet<&str> = listing.keys().collect();
    store.ledger.note_listing_complete(&present);
    Ok(())
}

/// A server that gave UIDLs before and refuses UIDL now (a passing
/// `[SYS/TEMP]`, say) would make every message look new under keys taken
/// from the headers, and a fetch would download the whole mailbox again:
/// the session stops instead, and the server's words are reported.
fn refuse_identity_switch(store: &AccountStore, listing: &Listing) -> Result<(), Error> {
    let Some(status) = &listing.uidl_refused else {
        return Ok(());
    };
    let had_uidls = store
        .ledger
        .entries()
        .any(|(key, _)| !key.starts_with(super::listing::HEADER_KEY_PREFIX));
    if had_uidls {
        return Err(net::Error::Server {
            command: "UIDL",
            code: status.code.clone(),
            text: status.text.clone(),
        }
        .into());
    }
    Ok(())
}

/// Delivers the kept copies of messages gone from the server into the
/// Maildir, with the same record-then-write order as any download.
fn rescue_retrieved(store: &mut AccountStore, listing: &Listing, now: i64) -> Result<(), Error> {
    let present: std::collections::HashSet<&str> = listing.keys().collect();
    let vanished: Vec<(String, u64)> = store
        .ledger
        .entries()
        .filter(|(key, e)| e.on_server && !e.is_downloaded() && !present.contains(key))
        .filter(|(key, _)| store.retrieved.contains(key))
        .map(|(key, e)| (key.to_owned(), e.size_bytes))
        .collect();
    for (key, size_bytes) in vanished {
        let Some(bytes) = store.retrieved.get(&key) else {
            continue;
        };
        let size_mismatch = bytes.len() as u64 != size_bytes;
        let name = store.maildir.unique_name(size_bytes);
        if let Some(entry) = store.ledger.get_mut(&key) {
            entry.status = Status::Saving;
            entry.file = Some(name.clone());
        }
        store.ledger.save()?;
        let path = store.maildir.root().join("tmp").join(&name);
        let mut file = store.maildir.create_tmp(&name)?;
        std::io::Write::write_all(&mut file, &bytes)
            .map_err(|e| crate::store::StoreError::io("save", &path, e))?;
        drop(file);
        store.maildir.sync_tmp(&[name.as_str()])?;
        store.maildir.commit(&name)?;
        store.maildir.sync_new()?;
        if let Some(entry) = store.ledger.get_mut(&key) {
            entry.status = Status::Downloaded;
            entry.downloaded_unix = Some(now);
            entry.size_mismatch = size_mismatch;
        }
        store.ledger.save()?;
        store.retrieved.remove(&key);
        tracing::info!(%key, "a message left the server after its preview; its copy was saved");
    }
    Ok(())
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
