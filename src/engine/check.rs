//! "Has new mail arrived, and what is it?": STAT, UIDL and LIST in one
//! pipelined batch, then TOP for each message, then QUIT. Changes nothing
//! on the server.

use std::collections::HashMap;

use crate::mail::Preview;
use crate::net::{Client, Credentials, Endpoint, Error, Mailbox, Observe, Outcome, Transport};
use crate::pop3::reply::{parse_scan_listing, parse_stat, parse_uidl_listing};
use crate::pop3::{Command, MsgNum, Uidl};

#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Body lines asked for with TOP, for the preview.
    pub preview_lines: u32,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions { preview_lines: 10 }
    }
}

/// How far a long operation has come.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    Connecting,
    LoggedIn,
    Listed { total: u32 },
    Previews { done: u32, total: u32 },
}

#[derive(Clone, Debug)]
pub struct MessageSummary {
    /// This session's message number; meaningless in any other session.
    pub number: MsgNum,
    /// `None` when the server does not support UIDL.
    pub uid: Option<Uidl>,
    pub size_bytes: u64,
    /// `None` when the server refused TOP for this message.
    pub preview: Option<Preview>,
}

#[derive(Clone, Debug)]
pub struct CheckReport {
    pub total: u32,
    pub size_bytes: u64,
    pub messages: Vec<MessageSummary>,
    pub uidl_supported: bool,
}

/// Connects, logs in, lists the mailbox with previews, and says QUIT.
pub fn check(
    endpoint: &Endpoint,
    credentials: &Credentials,
    options: &CheckOptions,
    observe: Observe,
    progress: &mut dyn FnMut(Progress),
) -> Result<CheckReport, Error> {
    progress(Progress::Connecting);
    let client = Client::connect(endpoint, observe)?;
    check_with(client, credentials, options, progress)
}

/// A check over an already connected client (any transport).
pub fn check_with<T: Transport>(
    client: Client<T>,
    credentials: &Credentials,
    options: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<CheckReport, Error> {
    let mut mailbox = client.login(credentials)?;
    progress(Progress::LoggedIn);
    let report = list_with_previews(&mut mailbox, options, progress)?;
    mailbox.quit()?;
    Ok(report)
}

/// The listing part of a check, on an open mailbox.
pub(crate) fn list_with_previews<T: Transport>(
    mailbox: &mut Mailbox<T>,
    options: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<CheckReport, Error> {
    let mut outcomes = mailbox
        .batch(vec![
            Command::Stat,
            Command::Uidl(None),
            Command::List(None),
        ])?
        .into_iter();
    let (Some(stat), Some(uidl), Some(list)) = (outcomes.next(), outcomes.next(), outcomes.next())
    else {
        return Err(Error::ConnectionClosed);
    };
    let (total, size_bytes) = match stat {
        Outcome::Ok { status, .. } => parse_stat(&status)?,
        other => return Err(refused("STAT", other)),
    };
    let uids: Option<HashMap<MsgNum, Uidl>> = match uidl {
        Outcome::Ok { body, .. } => Some(
            parse_uidl_listing(body.as_deref().unwrap_or_default())?
                .into_iter()
                .collect(),
        ),
        Outcome::Refused(_) => None,
        other => return Err(refused("UIDL", other)),
    };
    let sizes = match list {
        Outcome::Ok { body, .. } => parse_scan_listing(body.as_deref().unwrap_or_default())?,
        other => return Err(refused("LIST", other)),
    };
    progress(Progress::Listed { total });

    let numbers: Vec<MsgNum> = sizes.iter().map(|(n, _)| *n).collect();
    let mut previews = Vec::with_capacity(numbers.len());
    let lines = options.preview_lines;
    // In slices, so progress can be reported while the pipeline runs.
    for slice in numbers.chunks(200) {
        let tops = mailbox.batch(
            slice
                .iter()
                .map(|&msg| Command::Top { msg, lines })
                .collect(),
        )?;
        for outcome in tops {
            previews.push(match outcome {
                Outcome::Ok { body, .. } => Some(Preview::from_bytes(
                    body.as_deref().unwrap_or_default(),
                    lines as usize,
                )),
                Outcome::Refused(_) | Outcome::Failed(_) => None,
            });
        }
        progress(Progress::Previews {
            done: previews.len() as u32,
            total: numbers.len() as u32,
        });
    }

    let messages = sizes
        .into_iter()
        .zip(previews)
        .map(|((number, size_bytes), preview)| MessageSummary {
            number,
            uid: uids.as_ref().and_then(|u| u.get(&number).cloned()),
            size_bytes,
            preview,
        })
        .collect();
    Ok(CheckReport {
        total,
        size_bytes,
        messages,
        uidl_supported: uids.is_some(),
    })
}

fn refused(command: &'static str, outcome: Outcome) -> Error {
    match outcome {
        Outcome::Refused(status) => Error::Server {
            command,
            code: status.code,
            text: status.text,
        },
        Outcome::Failed(error) => Error::Reply(error),
        Outcome::Ok { .. } => Error::ConnectionClosed,
    }
}
