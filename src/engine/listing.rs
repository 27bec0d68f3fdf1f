//! What is on the server in this session, and under which stable key:
//! STAT, UIDL and LIST in one pipelined batch. A message's key is its UIDL;
//! for servers without UIDL it is derived from its headers (TOP n 0). A key
//! seen twice is ambiguous and never acted on.

use std::collections::{HashMap, HashSet};

use sha2::Digest as _;

use crate::net::{Error, Mailbox, MailboxListing, Outcome, Transport};
use crate::pop3::MsgNum;

#[derive(Clone, Debug)]
pub(crate) struct Listed {
    /// Valid in this session only.
    pub number: MsgNum,
    /// The UIDL (when the server has UIDL) or a key derived from the
    /// headers; `None` when no identity could be established.
    pub key: Option<String>,
    pub size_bytes: u64,
}

/// What is on the server. Kept compact (one string per message, no
/// copies), because a mailbox can hold a million messages.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub total: u32,
    pub size_bytes: u64,
    pub messages: Vec<Listed>,
    /// When true, each message's key is its UIDL.
    pub uidl_supported: bool,
    /// The server's `-ERR` to UIDL, when it refused it.
    pub uidl_refused: Option<crate::pop3::Status>,
    pub ambiguous: HashSet<String>,
    /// Heads fetched to derive keys (servers without UIDL), reusable as previews.
    pub heads: HashMap<MsgNum, Vec<u8>>,
    /// UIDL lines that could not be used (their messages have no key).
    pub skipped: Vec<String>,
    /// Heads fetched for a key but not kept as previews (beyond the
    /// newest `MAX_NEW_PREVIEWS_PER_CHECK`).
    pub heads_dropped: usize,
    /// Indices into `messages` of the keyed ones, sorted by key.
    by_key: Vec<u32>,
}

impl Listing {
    /// The message with this key in this session, unless it is absent or
    /// ambiguous.
    pub fn find(&self, key: &str) -> Option<&Listed> {
        if self.ambiguous.contains(key) {
            return None;
        }
        let at = self
            .by_key
            .binary_search_by(|&i| self.key_at(i).cmp(key))
            .ok()?;
        Some(&self.messages[self.by_key[at] as usize])
    }

    fn key_at(&self, index: u32) -> &str {
        self.messages[index as usize]
            .key
            .as_deref()
            .unwrap_or_default()
    }

    /// A listing as if the server had sent it: `(number, key, size)` per
    /// message, keys as UIDLs.
    #[cfg(test)]
    pub fn of(messages: &[(u32, Option<&str>, u64)]) -> Listing {
        let mut listing = Listing {
            total: messages.len() as u32,
            size_bytes: messages.iter().map(|m| m.2).sum(),
            uidl_supported: true,
            messages: messages
                .iter()
                .map(|&(number, key, size_bytes)| Listed {
                    number: MsgNum::new(number).expect("message numbers start at 1"),
                    key: key.map(str::to_owned),
                    size_bytes,
                })
                .collect(),
            ..Listing::default()
        };
        listing.index();
        listing
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.messages.iter().filter_map(|m| m.key.as_deref())
    }

    /// Indexes the keys and finds the ones listed more than once.
    fn index(&mut self) {
        let mut by_key: Vec<u32> = (0..self.messages.len() as u32)
            .filter(|&i| self.messages[i as usize].key.is_some())
            .collect();
        by_key.sort_unstable_by(|&a, &b| self.key_at(a).cmp(self.key_at(b)));
        let mut ambiguous = HashSet::new();
        for pair in by_key.windows(2) {
            if self.key_at(pair[0]) == self.key_at(pair[1]) {
                ambiguous.insert(self.key_at(pair[0]).to_owned());
            }
        }
        self.by_key = by_key;
        self.ambiguous = ambiguous;
    }
}

/// Lists the mailbox of an open session. Without UIDL, the heads fetched
/// to derive keys carry `head_lines` body lines, so a check can reuse them
/// as previews.
pub(crate) fn list<T: Transport>(
    mailbox: &mut Mailbox<T>,
    head_lines: u32,
) -> Result<Listing, Error> {
    let MailboxListing {
        total,
        size_bytes,
        uids,
        uidl_refused,
        sizes,
    } = mailbox.listing()?;
    let mut listing = Listing {
        total,
        size_bytes,
        uidl_supported: uids.is_some(),
        uidl_refused,
        ..Listing::default()
    };
    // UIDs by message number, each moved (not copied) into its message.
    let mut uids: Vec<(MsgNum, Option<String>)> = match uids {
        Some(u) => {
            listing.skipped = u.skipped;
            u.entries
                .into_iter()
                .map(|(n, uid)| (n, Some(uid.into_string())))
                .collect()
        }
        None => Vec::new(),
    };
    uids.sort_unstable_by_key(|(n, _)| *n);
    // A number listed twice in UIDL gives neither entry an identity.
    for i in 1..uids.len() {
        if uids[i - 1].0 == uids[i].0 {
            uids[i - 1].1 = None;
            uids[i].1 = None;
        }
    }
    // No UIDL: the headers are the next best identity. Every head is
    // fetched for its key; only the newest are kept, as previews.
    let mut header_keys: HashMap<MsgNum, String> = HashMap::new();
    if !listing.uidl_supported {
        let sizes_by_number: HashMap<MsgNum, u64> = sizes.iter().copied().collect();
        let numbers: Vec<MsgNum> = sizes.iter().map(|(n, _)| *n).collect();
        let keep_from = numbers
            .len()
            .saturating_sub(super::check::MAX_NEW_PREVIEWS_PER_CHECK);
        for (slice_index, slice) in numbers.chunks(super::check::TOP_SLICE).enumerate() {
            let first = slice_index * super::check::TOP_SLICE;
            let tops = mailbox.top(slice, head_lines)?;
            for (offset, (&number, outcome)) in slice.iter().zip(tops).enumerate() {
                if let Outcome::Ok(head) = outcome {
                    let size = sizes_by_number.get(&number).copied().unwrap_or_default();
                    header_keys.insert(number, message_key_from_headers(&head, size));
                    if first + offset >= keep_from {
                        listing.heads.insert(number, head);
                    } else {
                        listing.heads_dropped += 1;
                    }
                }
            }
        }
    }
    listing.messages.reserve_exact(sizes.len());
    for (number, size_bytes) in sizes {
        let key = if listing.uidl_supported {
            uids.binary_search_by_key(&number, |(n, _)| *n)
                .ok()
                .and_then(|at| uids[at].1.take())
        } else {
            header_keys.remove(&number)
        };
        listing.messages.push(Listed {
            number,
            key,
            size_bytes,
        });
    }
    drop(uids);
    listing.index();
    for shown in &listing.skipped {
        tracing::warn!(line = %shown, "the server listed a message with an unusable identity (UIDL); it is left alone");
    }
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
    format!("{HEADER_KEY_PREFIX}{hex}")
}

/// How keys derived from headers start; a UIDL-based key never does
/// in practice, and nothing depends on it but the check that a server
/// did not stop giving UIDLs.
pub(crate) const HEADER_KEY_PREFIX: &str = "hdr-";

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

    #[test]
    fn a_key_listed_twice_is_ambiguous_and_never_found() {
        let listing = Listing::of(&[
            (1, Some("a"), 10),
            (2, Some("dup"), 20),
            (3, None, 30),
            (4, Some("dup"), 40),
            (5, Some("b"), 50),
        ]);
        assert_eq!(listing.ambiguous, HashSet::from(["dup".to_owned()]));
        assert!(listing.find("dup").is_none());
        assert!(listing.find("gone").is_none());
        let b = listing.find("b").expect("b is listed");
        assert_eq!((b.number.get(), b.size_bytes), (5, 50));
        assert_eq!(listing.find("a").map(|m| m.number.get()), Some(1));
        assert_eq!(listing.keys().collect::<Vec<_>>(), ["a", "dup", "dup", "b"]);
    }
}
