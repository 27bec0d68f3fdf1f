//! What is on the server in this session, and under which stable key:
//! STAT, UIDL and LIST in one pipelined batch. A message's key is its UIDL;
//! for servers without UIDL it is derived from its headers (TOP n 0). A key
//! seen twice is ambiguous and never acted on.

use std::collections::{HashMap, HashSet};

use sha2::Digest as _;

use crate::net::{Error, Mailbox, Outcome, Transport};
use crate::pop3::reply::{parse_scan_listing, parse_stat, parse_uidl_listing};
use crate::pop3::{Command, MsgNum, Uidl};

#[derive(Clone, Debug)]
pub(crate) struct Listed {
    /// Valid in this session only.
    pub number: MsgNum,
    /// `None` when no identity could be established.
    pub key: Option<String>,
    pub uid: Option<Uidl>,
    pub size_bytes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub total: u32,
    pub size_bytes: u64,
    pub messages: Vec<Listed>,
    pub uidl_supported: bool,
    pub ambiguous: HashSet<String>,
    /// Heads fetched to derive keys (servers without UIDL), reusable as previews.
    pub heads: HashMap<MsgNum, Vec<u8>>,
    by_key: HashMap<String, usize>,
}

impl Listing {
    /// The message with this key in this session, unless it is absent or
    /// ambiguous.
    pub fn find(&self, key: &str) -> Option<&Listed> {
        if self.ambiguous.contains(key) {
            return None;
        }
        self.by_key.get(key).map(|&i| &self.messages[i])
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.messages.iter().filter_map(|m| m.key.as_deref())
    }
}

/// Lists the mailbox of an open session. Without UIDL, the heads fetched
/// to derive keys carry `head_lines` body lines, so a check can reuse them
/// as previews.
pub(crate) fn list<T: Transport>(
    mailbox: &mut Mailbox<T>,
    head_lines: u32,
) -> Result<Listing, Error> {
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

    let mut listing = Listing {
        total,
        size_bytes,
        uidl_supported: uids.is_some(),
        ..Listing::default()
    };
    if uids.is_none() {
        // No UIDL: the headers are the next best identity.
        let numbers: Vec<MsgNum> = sizes.iter().map(|(n, _)| *n).collect();
        for slice in numbers.chunks(super::check::TOP_SLICE) {
            let tops = mailbox.batch(
                slice
                    .iter()
                    .map(|&msg| Command::Top {
                        msg,
                        lines: head_lines,
                    })
                    .collect(),
            )?;
            for (&number, outcome) in slice.iter().zip(tops) {
                if let Outcome::Ok {
                    body: Some(head), ..
                } = outcome
                {
                    listing.heads.insert(number, head);
                }
            }
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (number, size_bytes) in sizes {
        let uid = uids.as_ref().and_then(|u| u.get(&number).cloned());
        let key = match (&uid, listing.heads.get(&number)) {
            (Some(uid), _) => Some(uid.as_str().to_owned()),
            (None, Some(head)) if !listing.uidl_supported => {
                Some(message_key_from_headers(head, size_bytes))
            }
            _ => None,
        };
        if let Some(key) = &key {
            *seen.entry(key.clone()).or_default() += 1;
            listing.by_key.insert(key.clone(), listing.messages.len());
        }
        listing.messages.push(Listed {
            number,
            key,
            uid,
            size_bytes,
        });
    }
    listing.ambiguous = seen
        .into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|(key, _)| key)
        .collect();
    if !listing.ambiguous.is_empty() {
        tracing::warn!(
            count = listing.ambiguous.len(),
            "the server lists messages with the same identity; they will be left alone"
        );
    }
    Ok(listing)
}

/// A stable identity for servers without UIDL: a hash of the headers that
/// do not change while a message sits on the server, and its size.
pub fn message_key_from_headers(head: &[u8], size_bytes: u64) -> String {
    // Only the header block: a TOP with body lines must give the same key
    // as one without.
    let end = memchr::memmem::find(head, b"\r\n\r\n")
        .map(|i| i + 2)
        .or_else(|| memchr::memmem::find(head, b"\n\n").map(|i| i + 1))
        .unwrap_or(head.len());
    let head = &head[..end];
    let mut hasher = sha2::Sha256::new();
    if let Ok((headers, _)) = mailparse::parse_headers(head) {
        use mailparse::MailHeaderMap as _;
        for name in ["Message-ID", "Date", "From", "Subject"] {
            hasher.update(name.as_bytes());
            hasher.update(b"\0");
            if let Some(header) = headers.get_first_header(name) {
                hasher.update(header.get_value_raw());
            }
            hasher.update(b"\0");
        }
    } else {
        hasher.update(head);
    }
    hasher.update(size_bytes.to_be_bytes());
    let digest = hasher.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("hdr-{hex}")
}

pub(crate) fn refused(command: &'static str, outcome: Outcome) -> Error {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_keys_are_stable_and_distinct() {
        let a =
            b"Message-ID: <1@x>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nReceived: by a\r\n\r\n";
        let a_again =
            b"Received: by b\r\nMessage-ID: <1@x>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n";
        let b = b"Message-ID: <2@x>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n";
        let key = message_key_from_headers(a, 100);
        assert!(key.starts_with("hdr-") && key.len() == 36);
        assert_eq!(
            key,
            message_key_from_headers(a_again, 100),
            "Received lines do not matter"
        );
        assert_ne!(key, message_key_from_headers(b, 100));
        assert_ne!(key, message_key_from_headers(a, 101), "size matters");
        // Even a head mailparse cannot read gives the same key with or
        // without body lines.
        let odd = b" leading space\r\nX: y\r\n\r\n";
        let mut with_body = odd.to_vec();
        with_body.extend_from_slice(b"body line\r\n");
        assert_eq!(
            message_key_from_headers(odd, 5),
            message_key_from_headers(&with_body, 5)
        );
    }
}
