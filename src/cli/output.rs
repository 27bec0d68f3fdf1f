//! What the commands print: text for people, JSON for scripts, and
//! errors as sentences with their exit code. Server text is escaped.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use crate::engine::{self, Account, ApplyReport, CheckReport};
use crate::explain::Explain as _;
use crate::mail::human_size;
use crate::net::Error as NetError;
use crate::pop3::escape_controls;

use super::*;

/// Prints the error as a sentence, the next step, and the detail.
/// Everything is escaped on the way out: the server's words (and its
/// certificate's) must not reach the terminal as escape sequences.
pub(super) fn fail(error: &engine::Error) -> ExitCode {
    let message = error.user_message();
    let mut text = format!("letterbox: {}\n  {}\n", message.headline, message.next_step);
    if let Some(cert) = error.net().and_then(NetError::certificate) {
        text.push_str(&format!(
            "  certificate subject: {}\n  issuer: {}\n  valid: {} to {}\n  SHA-256 fingerprint: {}\n  (to trust it: --fingerprint {})\n",
            cert.subject, cert.issuer, cert.not_before, cert.not_after, cert.sha256, cert.sha256
        ));
    }
    text.push_str(&format!("  detail: {}", message.detail));
    for line in text.lines() {
        eprintln!("{}", escape_controls(line));
    }
    ExitCode::from(exit_code(error))
}

pub fn exit_code(error: &engine::Error) -> u8 {
    let error = match error {
        // A message could not be saved: a storage problem at home.
        engine::Error::Store(_) | engine::Error::ExpireWouldLose => return exit::STORE,
        engine::Error::Net(e) => e,
    };
    match error {
        NetError::Cancelled => exit::CANCELLED,
        e if e.is_tls() => exit::TLS,
        e if e.is_auth() => exit::AUTH,
        NetError::Resolve { .. }
        | NetError::Connect { .. }
        | NetError::Timeout { .. }
        | NetError::Stalled { .. }
        | NetError::ConnectionClosed
        | NetError::Io(_) => exit::NETWORK,
        NetError::AuthFailed { .. } | NetError::Greeting { .. } | NetError::Server { .. } => {
            exit::SERVER
        }
        NetError::Protocol(_) | NetError::Reply(_) | NetError::Listing(_) => exit::PROTOCOL,
        _ => exit::INTERNAL,
    }
}

#[derive(serde::Serialize)]
pub(super) struct JsonReport<'a> {
    total: u32,
    size_bytes: u64,
    messages: JsonMessages<'a>,
}

/// The messages, turned into JSON one at a time as they are written: a
/// mailbox may list a million of them.
pub(super) struct JsonMessages<'a> {
    report: &'a CheckReport,
    with_new: bool,
}

impl serde::Serialize for JsonMessages<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let report = self.report;
        serializer.collect_seq(report.messages.iter().map(|m| JsonMessage {
            number: m.number.get(),
            uid: m.key.as_deref().filter(|_| report.uidl_supported),
            size: m.size_bytes,
            from: m.preview.as_ref().map(|p| p.from.as_str()),
            subject: m.preview.as_ref().map(|p| p.subject.as_str()),
            date: m.preview.as_ref().map(|p| p.date.as_str()),
            preview: m.preview.as_ref().map(|p| p.text.as_str()),
            new: self.with_new.then_some(m.is_new),
        }))
    }
}

#[derive(serde::Serialize)]
pub(super) struct JsonMessage<'a> {
    number: u32,
    uid: Option<&'a str>,
    size: u64,
    from: Option<&'a str>,
    subject: Option<&'a str>,
    date: Option<&'a str>,
    preview: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new: Option<bool>,
}

pub(super) fn print_json(report: &CheckReport, with_new: bool) -> std::io::Result<()> {
    let json = JsonReport {
        total: report.total,
        size_bytes: report.size_bytes,
        messages: JsonMessages { report, with_new },
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, &json)?;
    writeln!(out)?;
    out.flush()
}

pub(super) fn print_text(report: &CheckReport, account: &Account) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let plural = if report.total == 1 { "" } else { "s" };
    writeln!(
        out,
        "{} on {}: {} message{plural}, {}",
        account.credentials.user,
        account.endpoint.host,
        report.total,
        human_size(report.size_bytes)
    )?;
    if !report.uidl_supported {
        writeln!(out, "(this server does not support UIDL)")?;
    }
    for m in &report.messages {
        writeln!(out)?;
        let mark = match m.status {
            Some(_) if m.is_new => "  new",
            _ => "",
        };
        writeln!(
            out,
            "#{}  {}  {}{mark}",
            m.number,
            m.key
                .as_deref()
                .filter(|_| report.uidl_supported)
                .unwrap_or("-"),
            human_size(m.size_bytes)
        )?;
        match &m.preview {
            Some(p) => {
                writeln!(out, "  From:    {}", p.from)?;
                writeln!(out, "  Subject: {}", p.subject)?;
                writeln!(out, "  Date:    {}", p.date)?;
                for line in p.text.lines() {
                    writeln!(out, "  | {line}")?;
                }
            }
            None => writeln!(out, "  ({})", report.no_preview_reason(m.size_bytes))?,
        }
    }
    out.flush()
}

/// Says on stderr which messages the server listed with an identity that
/// cannot be used; they are left alone.
pub(super) fn warn_unidentifiable(lines: &[String]) {
    for line in lines {
        eprintln!(
            "letterbox: the server listed a message with an identity (UIDL) Letterbox cannot use, so it is left alone on the server: {line}"
        );
    }
}

#[derive(serde::Serialize)]
pub(super) struct FetchJson<'a> {
    downloaded: usize,
    deleted: usize,
    bytes: u64,
    skipped: usize,
    failed: usize,
    maildir: &'a Path,
}

pub(super) fn print_fetch_json(report: &ApplyReport, maildir: &Path) -> std::io::Result<()> {
    let json = FetchJson {
        downloaded: report.downloaded.len(),
        deleted: report.deleted.len(),
        bytes: report.bytes,
        skipped: report.listed.saturating_sub(report.downloaded.len()),
        failed: report.failed.len(),
        maildir,
    };
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &json)?;
    writeln!(out)
}

pub(super) fn print_fetch_text(report: &ApplyReport, maildir: &Path) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Downloaded {} message(s), {} into {}",
        report.downloaded.len(),
        human_size(report.bytes),
        maildir.display()
    )?;
    if !report.deleted.is_empty() {
        writeln!(
            out,
            "Deleted {} message(s) on the server.",
            report.deleted.len()
        )?;
    }
    let skipped = report.listed.saturating_sub(report.downloaded.len());
    if skipped > 0 {
        writeln!(
            out,
            "{skipped} message(s) on the server were not downloaded again: they were downloaded or kept before."
        )?;
    }
    for (key, reason) in &report.not_deleted {
        writeln!(out, "Kept {key} on the server: {reason}.")?;
    }
    Ok(())
}
