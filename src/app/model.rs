//! The app's runtime view of each account: the last check's messages with
//! their status, staged deletions, progress and the last error. Plain data
//! and pure functions (sorting, filtering), so they are easy to test.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::engine::{
    Action, ApplyReport, CheckReport, MessageSummary, Plan, PreviewNotes, Progress,
};
use crate::mail::Preview;
use crate::store::Status;
use crate::worker::{Failure, JobKind};

/// The selected rows of a list, by row id, and the focused one (what the
/// pane shows and Shift-selection starts from). The rules for clicks and
/// arrow keys are the same in every list, so they live here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub ids: BTreeSet<String>,
    pub focus: Option<String>,
}

impl Selection {
    /// Click, Ctrl+click (toggle) and Shift+click (range, added to the
    /// selection with Ctrl) on the row at `position` of `count` shown rows,
    /// whose ids `id_at` gives. Returns the clicked row's id.
    pub fn click(
        &mut self,
        count: usize,
        id_at: impl Fn(usize) -> String,
        position: usize,
        shift: bool,
        command: bool,
    ) -> String {
        let id = id_at(position);
        if shift {
            let anchor = self
                .focus
                .as_ref()
                .and_then(|f| (0..count).find(|&p| &id_at(p) == f))
                .unwrap_or(position);
            let (from, to) = (anchor.min(position), anchor.max(position));
            if !command {
                self.ids.clear();
            }
            self.ids.extend((from..=to).map(&id_at));
        } else if command {
            if !self.ids.remove(&id) {
                self.ids.insert(id.clone());
            }
            self.focus = Some(id.clone());
        } else {
            self.ids.clear();
            self.ids.insert(id.clone());
            self.focus = Some(id.clone());
        }
        id
    }

    /// A move from the focused row (Shift extends the selection); returns
    /// the position moved to, and its id.
    pub fn step(
        &mut self,
        count: usize,
        id_at: impl Fn(usize) -> String,
        step: Step,
        shift: bool,
    ) -> Option<(usize, String)> {
        if count == 0 {
            return None;
        }
        let current = self
            .focus
            .as_ref()
            .and_then(|f| (0..count).find(|&p| &id_at(p) == f));
        let last = count - 1;
        let next = match (current, step) {
            (_, Step::Home) => 0,
            (_, Step::End) => last,
            (None, _) => 0,
            (Some(p), Step::Down) => (p + 1).min(last),
            (Some(p), Step::Up) => p.saturating_sub(1),
            (Some(p), Step::PageDown) => (p + PAGE_ROWS).min(last),
            (Some(p), Step::PageUp) => p.saturating_sub(PAGE_ROWS),
        };
        let id = id_at(next);
        if !shift {
            self.ids.clear();
        }
        self.ids.insert(id.clone());
        self.focus = Some(id.clone());
        Some((next, id))
    }
}

/// Rows a PageUp or PageDown moves.
pub const PAGE_ROWS: usize = 20;

/// A keyboard move in a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
}

/// What the status column says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RowStatus {
    New,
    /// Kept on the server by choice.
    Seen,
    Downloaded,
}

impl RowStatus {
    pub fn label(self) -> &'static str {
        match self {
            RowStatus::New => "New",
            RowStatus::Seen => "Seen",
            RowStatus::Downloaded => "Downloaded",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Row {
    /// `None`: the server gives this message no stable identity, so it
    /// cannot be acted on.
    pub key: Option<String>,
    pub size_bytes: u64,
    pub preview: Option<Preview>,
    pub status: RowStatus,
    /// What the From and Subject columns show, worked out once (sorting and
    /// filtering 10,000 rows happens every frame).
    from: String,
    subject: String,
    from_key: String,
    subject_key: String,
    search: String,
}

impl Row {
    pub fn new(
        key: Option<String>,
        size_bytes: u64,
        preview: Option<Preview>,
        status: RowStatus,
    ) -> Row {
        let from = preview
            .as_ref()
            .map(Preview::from_display)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "(unknown sender)".into());
        let subject = preview
            .as_ref()
            .map(|p| p.subject.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "(no subject)".into());
        let search = format!(
            "{}\n{}\n{}",
            from.to_lowercase(),
            subject.to_lowercase(),
            preview
                .as_ref()
                .map(|p| p.from.to_lowercase())
                .unwrap_or_default()
        );
        Row {
            key,
            size_bytes,
            preview,
            status,
            from_key: from.to_lowercase(),
            subject_key: subject.to_lowercase(),
            from,
            subject,
            search,
        }
    }

    pub fn from(&self) -> &str {
        &self.from
    }

    pub fn subject(&self) -> &str {
        &self.subject
    }

    pub fn date_unix(&self) -> Option<i64> {
        self.preview.as_ref().and_then(|p| p.date_unix)
    }

    pub fn has_attachments(&self) -> bool {
        self.preview.as_ref().is_some_and(|p| p.has_attachments)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SortKey {
    Status,
    From,
    Subject,
    #[default]
    Date,
    Size,
}

/// "Downloaded 2 messages, deleted 3 from the server." — what an Apply
/// did, counted, so the user sees it happened.
pub fn apply_summary(report: &ApplyReport) -> String {
    let count = |n: usize, what: &str| {
        if n == 1 {
            format!("1 message {what}")
        } else {
            format!("{n} messages {what}")
        }
    };
    let mut parts = Vec::new();
    if !report.downloaded.is_empty() {
        parts.push(count(report.downloaded.len(), "downloaded"));
    }
    if !report.already_downloaded.is_empty() {
        parts.push(count(
            report.already_downloaded.len(),
            "already downloaded before, so not downloaded again",
        ));
    }
    if !report.deleted.is_empty() {
        parts.push(count(report.deleted.len(), "deleted from the server"));
    }
    if !report.kept.is_empty() {
        parts.push(count(report.kept.len(), "kept on the server"));
    }
    if !report.vanished.is_empty() {
        parts.push(count(report.vanished.len(), "no longer on the server"));
    }
    if parts.is_empty() {
        return "Nothing needed doing.".to_owned();
    }
    let mut sentence = parts.join("; ");
    if let Some(first) = sentence.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    sentence.push('.');
    sentence
}

fn row_status(status: Option<Status>) -> RowStatus {
    match status {
        Some(Status::Downloaded) => RowStatus::Downloaded,
        Some(Status::Kept) => RowStatus::Seen,
        _ => RowStatus::New,
    }
}

fn row_of(m: MessageSummary) -> Row {
    Row::new(
        m.key.filter(|_| !m.ambiguous),
        m.size_bytes,
        m.preview.map(std::sync::Arc::unwrap_or_clone),
        row_status(m.status),
    )
}

/// Everything the app knows about one account while it runs.
#[derive(Debug, Default)]
pub struct AccountState {
    pub rows: Vec<Row>,
    pub checked: bool,
    pub total: u32,
    pub size_bytes: u64,
    pub last_check_unix: Option<i64>,
    /// The rows are the last session's, read from the record at start (as
    /// of then), not this session's check.
    pub as_of_unix: Option<i64>,
    pub uidl_supported: bool,
    /// The server deletes mail once it is downloaded (EXPIRE 0).
    pub server_deletes_on_download: bool,
    pub login_delay_secs: Option<u32>,
    /// How the last check got its previews, and why some are missing.
    pub preview_notes: PreviewNotes,
    pub busy: Option<JobKind>,
    pub progress: Option<Progress>,
    pub error: Option<Failure>,
    /// Keys staged for deletion on the server.
    pub staged_deletions: BTreeSet<String>,
    /// What the last Apply reported that did not go as asked.
    pub apply_problems: Vec<String>,
    /// What the last Apply, Download or Keep did, in one sentence.
    pub notice: Option<String>,
    /// An automatic check found the machine offline and retries quietly.
    pub quiet_note: Option<String>,
}

impl AccountState {
    pub fn new_count(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.status == RowStatus::New)
            .count()
    }

    pub fn row(&self, key: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.key.as_deref() == Some(key))
    }

    /// A check listed the mailbox: its rows now, the previews as they come
    /// (`heads`), the final word with `checked`.
    pub fn listed(&mut self, rows: &[MessageSummary]) {
        self.rows = rows.iter().cloned().map(row_of).collect();
        self.total = self.rows.len() as u32;
        self.size_bytes = self.rows.iter().map(|r| r.size_bytes).sum();
        self.checked = true;
        self.as_of_unix = None;
        self.keep_staged_present();
    }

    /// Previews that arrived during a check.
    pub fn heads(&mut self, heads: &[(String, std::sync::Arc<Preview>)]) {
        let at: std::collections::HashMap<&str, usize> = self
            .rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.key.as_deref().map(|k| (k, i)))
            .collect();
        let mut updates = Vec::new();
        for (key, preview) in heads {
            if let Some(&i) = at.get(key.as_str()) {
                updates.push((i, Preview::clone(preview)));
            }
        }
        for (i, preview) in updates {
            let row = &self.rows[i];
            self.rows[i] = Row::new(row.key.clone(), row.size_bytes, Some(preview), row.status);
        }
    }

    pub fn checked(&mut self, report: CheckReport, at_unix: i64) {
        self.rows = report.messages.into_iter().map(row_of).collect();
        self.as_of_unix = None;
        self.checked = true;
        self.total = report.total;
        self.size_bytes = report.size_bytes;
        self.last_check_unix = Some(at_unix);
        self.uidl_supported = report.uidl_supported;
        self.server_deletes_on_download = report.expire == Some(crate::pop3::Expire::Days(0));
        self.login_delay_secs = report.login_delay_secs;
        self.preview_notes = report.previews;
        self.error = None;
        self.keep_staged_present();
    }

    /// Staged deletions of messages no longer listed go.
    fn keep_staged_present(&mut self) {
        let present: BTreeSet<&str> = self.rows.iter().filter_map(|r| r.key.as_deref()).collect();
        self.staged_deletions
            .retain(|k| present.contains(k.as_str()));
    }

    /// What the last session saw on the server, read from the record at
    /// start: shown until a check says more, marked as of when it was.
    pub fn last_known(&mut self, last: crate::store::db::LastKnown) {
        if self.checked || self.busy.is_some() {
            return; // a check of this session knows better
        }
        self.rows = last
            .messages
            .into_iter()
            .map(|k| {
                Row::new(
                    Some(k.key),
                    k.size_bytes,
                    k.preview,
                    row_status(Some(k.status)),
                )
            })
            .collect();
        self.total = self.rows.len() as u32;
        self.size_bytes = self.rows.iter().map(|r| r.size_bytes).sum();
        self.checked = true;
        // Until a check says otherwise: no warning about ids from a list
        // that has them.
        self.uidl_supported = true;
        self.as_of_unix = Some(last.at_unix.unwrap_or_default());
    }

    pub fn applied(&mut self, report: &ApplyReport) {
        for key in &report.downloaded {
            if let Some(row) = self.rows.iter_mut().find(|r| r.key.as_deref() == Some(key)) {
                row.status = RowStatus::Downloaded;
            }
        }
        for key in &report.kept {
            if let Some(row) = self.rows.iter_mut().find(|r| r.key.as_deref() == Some(key))
                && row.status == RowStatus::New
            {
                row.status = RowStatus::Seen;
            }
        }
        let gone: BTreeSet<&str> = report
            .deleted
            .iter()
            .chain(&report.vanished)
            .map(String::as_str)
            .collect();
        let removed_bytes: u64 = self
            .rows
            .iter()
            .filter(|r| r.key.as_deref().is_some_and(|k| gone.contains(k)))
            .map(|r| r.size_bytes)
            .sum();
        let before = self.rows.len();
        self.rows
            .retain(|r| !r.key.as_deref().is_some_and(|k| gone.contains(k)));
        self.total = self.total.saturating_sub((before - self.rows.len()) as u32);
        self.size_bytes = self.size_bytes.saturating_sub(removed_bytes);
        self.staged_deletions.retain(|k| !gone.contains(k.as_str()));
        self.notice = Some(apply_summary(report));
        self.apply_problems = report
            .failed
            .iter()
            .map(|(key, reason)| format!("{}: {reason}", self.describe(key)))
            .chain(report.not_deleted.iter().map(|(key, reason)| {
                format!("{} was kept on the server: {reason}", self.describe(key))
            }))
            .collect();
    }

    /// "Subject" (from sender) for messages, the key otherwise.
    fn describe(&self, key: &str) -> String {
        match self.row(key) {
            Some(row) => format!("“{}” from {}", row.subject(), row.from()),
            None => key.to_owned(),
        }
    }
}

/// The rows to show, as indices into `rows`: filtered by `filter` (From,
/// Subject or preview text, case-insensitive) and sorted.
pub fn visible_rows(rows: &[Row], filter: &str, sort: SortKey, ascending: bool) -> Vec<usize> {
    let needle = filter.trim().to_lowercase();
    let mut view: Vec<usize> = (0..rows.len())
        .filter(|&i| needle.is_empty() || rows[i].search.contains(&needle))
        .collect();
    view.sort_by(|&a, &b| {
        let (ra, rb) = (&rows[a], &rows[b]);
        let order = match sort {
            SortKey::Status => ra.status.cmp(&rb.status),
            SortKey::From => ra.from_key.cmp(&rb.from_key),
            SortKey::Subject => ra.subject_key.cmp(&rb.subject_key),
            SortKey::Date => ra.date_unix().cmp(&rb.date_unix()),
            SortKey::Size => ra.size_bytes.cmp(&rb.size_bytes),
        }
        .then(a.cmp(&b));
        if ascending { order } else { order.reverse() }
    });
    view
}

/// Download on the selected rows: with `remove`, every one of them (each
/// deleted on the server once safe at home; for one already downloaded,
/// just the deletion), else only those not downloaded yet.
pub fn download_plan(selected: &[(String, RowStatus)], remove: bool) -> Plan {
    let action = if remove {
        Action::DownloadDelete
    } else {
        Action::DownloadKeep
    };
    Plan {
        items: selected
            .iter()
            .filter(|(_, status)| remove || *status != RowStatus::Downloaded)
            .map(|(key, _)| (key.clone(), action))
            .collect(),
    }
}

/// Download on every selected row, downloaded or not (the engine skips
/// and counts those it already has).
pub fn download_plan_all(selected: &[(String, RowStatus)], remove: bool) -> Plan {
    let all: Vec<_> = selected
        .iter()
        .map(|(k, _)| (k.clone(), RowStatus::New))
        .collect();
    download_plan(&all, remove)
}

/// Keep on the selected rows: only new ones change (to "seen").
pub fn keep_plan(selected: &[(String, RowStatus)]) -> Plan {
    Plan {
        items: selected
            .iter()
            .filter(|(_, status)| *status == RowStatus::New)
            .map(|(key, _)| (key.clone(), Action::Keep))
            .collect(),
    }
}

/// Apply of the staged deletions: each deleted on the server, unread or not.
pub fn deletion_plan(staged: &BTreeSet<String>) -> Plan {
    Plan {
        items: staged
            .iter()
            .map(|key| (key.clone(), Action::Delete))
            .collect(),
    }
}

impl AccountState {
    /// Staged deletions of messages that were never downloaded: the
    /// confirmation names them, since they will be gone for good.
    pub fn staged_not_downloaded(&self) -> usize {
        self.staged_deletions
            .iter()
            .filter(|k| {
                self.row(k)
                    .is_none_or(|r| r.status != RowStatus::Downloaded)
            })
            .count()
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
