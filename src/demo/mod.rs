//! The embedded demo: a small, correct POP3 server on loopback holding the
//! sample mailbox from `assets/demo/`, so anyone can try Letterbox without
//! an account (`letterbox --demo`, `letterbox demo-server`). It speaks TLS
//! with a bundled self-signed certificate that the demo account pins, so the
//! demo runs the same secure path as a real account. User and password are
//! both `demo`. Deletions happen at QUIT, as on a real server. It only
//! speaks the protocol: the socket is `net`'s loopback listener, so it is
//! never reachable from another machine, and it never reads or writes the
//! user's settings, passwords or mail.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

use crate::net::{Fingerprint, LoopbackListener, ServerStream};
use base64::Engine as _;

pub const USER: &str = "demo";
pub const PASSWORD: &str = "demo";

const CERT_PEM: &[u8] = include_bytes!("../../assets/demo/demo-cert.pem");
const KEY_PEM: &[u8] = include_bytes!("../../assets/demo/demo-key.pem");

/// The SHA-256 fingerprint of the bundled demo certificate.
pub fn certificate_fingerprint() -> Fingerprint {
    Fingerprint::of_der(&pem_to_der(CERT_PEM))
}

fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(pem);
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .unwrap_or_default()
}

#[derive(Clone, Debug)]
struct Message {
    uidl: String,
    bytes: Vec<u8>,
}

/// A running demo server; stops when dropped.
pub struct DemoServer {
    listener: LoopbackListener,
    mailbox: Arc<Mutex<Vec<Message>>>,
    /// The number in the next delivered message's UIDL: UIDLs are never
    /// used twice, even after a deletion.
    next: std::sync::atomic::AtomicUsize,
    /// Connections served to their end so far.
    sessions: Arc<std::sync::atomic::AtomicUsize>,
}

impl DemoServer {
    /// Listens on 127.0.0.1:`port` (0: any free port) with the sample mailbox.
    pub fn start(port: u16, tls: bool) -> io::Result<DemoServer> {
        DemoServer::with_messages(port, tls, sample_mailbox())
    }

    pub fn with_messages(port: u16, tls: bool, messages: Vec<Vec<u8>>) -> io::Result<DemoServer> {
        let next = std::sync::atomic::AtomicUsize::new(messages.len() + 1);
        let mailbox = Arc::new(Mutex::new(
            messages
                .into_iter()
                .enumerate()
                .map(|(i, bytes)| Message {
                    uidl: format!("demo-{:04}", i + 1),
                    bytes,
                })
                .collect(),
        ));
        let shared = mailbox.clone();
        let sessions = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = sessions.clone();
        let listener = LoopbackListener::start(port, tls.then_some((CERT_PEM, KEY_PEM)), {
            move |stream| {
                serve(stream, &shared);
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })?;
        Ok(DemoServer {
            listener,
            mailbox,
            next,
            sessions,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.port()
    }

    /// New mail arrives: the message is added at the end of the mailbox,
    /// with a UIDL never used before. Returns that UIDL.
    pub fn deliver(&self, bytes: Vec<u8>) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let uidl = format!("demo-{n:04}");
        let mut mailbox = self.mailbox.lock().unwrap_or_else(|e| e.into_inner());
        mailbox.push(Message {
            uidl: uidl.clone(),
            bytes,
        });
        uidl
    }

    /// How many connections the server has served to their end (the
    /// client quit or hung up).
    pub fn sessions(&self) -> usize {
        self.sessions.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The UIDLs still on the server.
    pub fn uidls(&self) -> Vec<String> {
        self.mailbox
            .lock()
            .map(|m| m.iter().map(|m| m.uidl.clone()).collect())
            .unwrap_or_default()
    }
}

/// The sample messages shipped in `assets/demo/`, plus one large message
/// made at run time (a big attachment is a normal part of real mailboxes).
pub fn sample_mailbox() -> Vec<Vec<u8>> {
    let mut messages: Vec<Vec<u8>> = SAMPLES.iter().map(|m| m.to_vec()).collect();
    messages.insert(messages.len().min(12), large_message());
    messages
}

include!(concat!(env!("OUT_DIR"), "/demo_samples.rs"));

/// The sample messages already downloaded when `--demo` starts (kept on
/// the server), so the Downloaded view is not empty on a first try: the
/// welcome letter, the newsletter, the Greek postcard and the HTML-only
/// café mail. The photo and the invoice are left for the user to download.
pub const SEEDED: [&str; 4] = ["demo-0001", "demo-0004", "demo-0007", "demo-0018"];

/// Checks the demo mailbox and downloads [`SEEDED`] into the demo profile
/// with the real engine, as a user's Check mail and Download would.
/// Returns how many were downloaded.
pub fn seed_downloads(
    paths: &crate::settings::Paths,
    settings: &crate::settings::Settings,
) -> Result<usize, String> {
    use crate::engine::{Action, Plan};
    let account_settings = settings.accounts.first().ok_or("no demo account")?;
    let account = crate::accounts::to_account(
        account_settings,
        crate::pop3::Secret::new(PASSWORD.to_owned()),
    )?;
    let home =
        crate::accounts::stores::store_for_account(paths, account_settings, &settings.general);
    let mut store = home.open().map_err(|e| e.to_string())?;
    // A check first, as a user would: the previews are kept, so the list
    // shows at once when the demo starts.
    let options = crate::engine::CheckOptions {
        preview_lines: settings.general.preview_lines,
        expire_after_days: None,
        retr_preview_max_bytes: 1_000_000,
    };
    crate::engine::check(
        &account,
        Some(&mut store),
        &options,
        crate::net::Observe::default(),
        &mut |_| {},
    )
    .map_err(|e| e.to_string())?;
    let plan = Plan {
        items: SEEDED
            .iter()
            .map(|key| ((*key).to_owned(), Action::DownloadKeep))
            .collect(),
    };
    let report = crate::engine::apply(
        &account,
        &mut store,
        &plan,
        crate::net::Observe::default(),
        &mut |_| {},
    )
    .map_err(|e| e.to_string())?;
    Ok(report.downloaded.len())
}

/// The settings of the demo: one account pointed at the demo server on
/// `port`, pinned to the bundled certificate, password kept for the session.
pub fn demo_settings(port: u16) -> crate::settings::Settings {
    let mut account = crate::settings::AccountSettings::new("demo");
    account.name = "Demo".into();
    account.email = "you@letterbox.example".into();
    account.host = "127.0.0.1".into();
    account.port = port;
    account.username = USER.into();
    account.password_storage = crate::settings::PasswordStorage::AskEachSession;
    account.trusted_fingerprint = Some(certificate_fingerprint().to_string());
    account.quota_mb = Some(10);
    crate::settings::Settings {
        general: crate::settings::General::default(),
        accounts: vec![account],
    }
}

/// The message that "arrives" a little after the demo starts, for its
/// automatic check to find and tell.
pub fn arriving_message() -> Vec<u8> {
    let date = crate::store::ledger::now_unix();
    format!(
        "From: Letterbox Demo <demo@letterbox.example>\r\n\
         To: you@letterbox.example\r\n\
         Subject: New mail, just arrived\r\n\
         Date: {}\r\n\
         Message-ID: <arrived-{date}@letterbox.example>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         This message reached the demo mailbox while Letterbox was running.\r\n\
         An automatic check found it, and your desktop showed a notification.\r\n\
         \r\n\
         Close the window and Letterbox can keep checking in the background.\r\n",
        crate::mail::rfc5322_date(date)
    )
    .into_bytes()
}

fn large_message() -> Vec<u8> {
    let mut m = b"From: Grandpa Joe <joe@family.example>\r\n\
To: you@letterbox.example\r\n\
Subject: All the holiday photos (big attachment)\r\n\
Date: Sun, 22 Nov 2026 18:03:00 +0100\r\n\
Message-ID: <holiday-photos@family.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"photos\"\r\n\
\r\n\
--photos\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Here are all the photos from the holidays in one file. It is a big one,\r\n\
so you may want to look at it before downloading it on a slow connection.\r\n\
\r\n\
Love, Joe\r\n\
--photos\r\n\
Content-Type: application/zip; name=\"holiday-photos.zip\"\r\n\
Content-Disposition: attachment; filename=\"holiday-photos.zip\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n"
        .to_vec();
    // About 3 MB of deterministic pseudo-random data, base64 in 76-column lines.
    let mut state: u32 = 0x1234_5678;
    let raw: Vec<u8> = (0..2_300_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
    for line in encoded.as_bytes().chunks(76) {
        m.extend_from_slice(line);
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b"--photos--\r\n");
    m
}

fn serve(stream: Box<dyn ServerStream>, mailbox: &Mutex<Vec<Message>>) {
    let mut session = Session {
        reader: BufReader::new(stream),
        out: Vec::new(),
        logged_in: false,
        user: None,
        view: Vec::new(),
        deleted: Vec::new(),
    };
    let _ = session.run(mailbox);
}

struct Session {
    reader: BufReader<Box<dyn ServerStream>>,
    out: Vec<u8>,
    logged_in: bool,
    user: Option<String>,
    /// The mailbox as it was at login: message numbers refer to this.
    view: Vec<Message>,
    deleted: Vec<bool>,
}

impl Session {
    fn run(&mut self, mailbox: &Mutex<Vec<Message>>) -> io::Result<()> {
        self.line("+OK Letterbox demo server ready");
        self.flush()?;
        let mut raw = Vec::new();
        loop {
            raw.clear();
            let n = (&mut self.reader).take(1024).read_until(b'\n', &mut raw)?;
            if n == 0 {
                return Ok(()); // dropped: nothing is deleted
            }
            let line = String::from_utf8_lossy(&raw).trim_end().to_owned();
            let (keyword, args) = line.split_once(' ').unwrap_or((&line, ""));
            let keyword = keyword.to_ascii_uppercase();
            if keyword == "QUIT" {
                if self.logged_in
                    && let Ok(mut shared) = mailbox.lock()
                {
                    let gone: Vec<&str> = self
                        .view
                        .iter()
                        .zip(&self.deleted)
                        .filter(|(_, d)| **d)
                        .map(|(m, _)| m.uidl.as_str())
                        .collect();
                    shared.retain(|m| !gone.contains(&m.uidl.as_str()));
                }
                self.line("+OK Bye");
                return self.flush();
            }
            if self.logged_in {
                self.transaction(&keyword, args);
            } else {
                self.authorization(&keyword, args, mailbox)?;
            }
            // Answer everything the client pipelined before writing.
            if self.reader.buffer().is_empty() {
                self.flush()?;
            }
        }
    }

    fn line(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    fn flush(&mut self) -> io::Result<()> {
        let stream = self.reader.get_mut();
        stream.write_all(&self.out)?;
        stream.flush()?;
        self.out.clear();
        Ok(())
    }

    fn multiline(&mut self, body: &[u8]) {
        let stuffed = crate::pop3::dot_stuff(body, crate::pop3::LineStarts::AfterAnyLf);
        self.out.extend_from_slice(&stuffed);
    }

    fn login(&mut self, mailbox: &Mutex<Vec<Message>>) {
        self.logged_in = true;
        self.view = mailbox.lock().map(|m| m.clone()).unwrap_or_default();
        self.deleted = vec![false; self.view.len()];
        self.line("+OK Logged in");
    }

    fn authorization(
        &mut self,
        keyword: &str,
        args: &str,
        mailbox: &Mutex<Vec<Message>>,
    ) -> io::Result<()> {
        match keyword {
            "CAPA" => {
                self.line("+OK Capability list follows");
                for cap in [
                    "TOP",
                    "UIDL",
                    "USER",
                    "PIPELINING",
                    "RESP-CODES",
                    "AUTH-RESP-CODE",
                    "SASL PLAIN",
                    "IMPLEMENTATION Letterbox-demo",
                ] {
                    self.line(cap);
                }
                self.line(".");
            }
            "USER" => {
                self.user = Some(args.trim().to_owned());
                self.line("+OK");
            }
            "PASS" => {
                if self.user.as_deref() == Some(USER) && args == PASSWORD {
                    self.login(mailbox);
                } else {
                    self.line(
                        "-ERR [AUTH] Wrong user name or password (the demo uses demo / demo)",
                    );
                }
            }
            "AUTH" => {
                let (mechanism, initial) = args.split_once(' ').unwrap_or((args, ""));
                if !mechanism.eq_ignore_ascii_case("PLAIN") {
                    self.line("-ERR Only PLAIN is supported");
                    return Ok(());
                }
                let response = if initial.is_empty() {
                    self.line("+ ");
                    self.flush()?;
                    let mut raw = Vec::new();
                    (&mut self.reader).take(1024).read_until(b'\n', &mut raw)?;
                    String::from_utf8_lossy(&raw).trim().to_owned()
                } else {
                    initial.to_owned()
                };
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(response)
                    .unwrap_or_default();
                let expected = format!("\0{USER}\0{PASSWORD}");
                if decoded == expected.as_bytes() {
                    self.login(mailbox);
                } else {
                    self.line(
                        "-ERR [AUTH] Wrong user name or password (the demo uses demo / demo)",
                    );
                }
            }
            _ => self.line("-ERR Log in first"),
        }
        Ok(())
    }

    /// The message with this number in this session, unless deleted.
    fn message(&self, arg: &str) -> Option<usize> {
        let n: usize = arg.trim().parse().ok()?;
        let i = n.checked_sub(1)?;
        (i < self.view.len() && !self.deleted[i]).then_some(i)
    }

    fn transaction(&mut self, keyword: &str, args: &str) {
        let mut words = args.split_whitespace();
        let first = words.next().unwrap_or("");
        match keyword {
            "CAPA" => {
                self.line("+OK");
                for cap in [
                    "TOP",
                    "UIDL",
                    "PIPELINING",
                    "RESP-CODES",
                    "IMPLEMENTATION Letterbox-demo",
                ] {
                    self.line(cap);
                }
                self.line(".");
            }
            "STAT" => {
                let live = self.live();
                let size: usize = live.iter().map(|&i| self.view[i].bytes.len()).sum();
                self.line(&format!("+OK {} {size}", live.len()));
            }
            "LIST" | "UIDL" => {
                let value = |s: &Session, i: usize| {
                    if keyword == "LIST" {
                        s.view[i].bytes.len().to_string()
                    } else {
                        s.view[i].uidl.clone()
                    }
                };
                if first.is_empty() {
                    self.line("+OK");
                    for i in self.live() {
                        let text = format!("{} {}", i + 1, value(self, i));
                        self.line(&text);
                    }
                    self.line(".");
                } else if let Some(i) = self.message(first) {
                    let text = format!("+OK {} {}", i + 1, value(self, i));
                    self.line(&text);
                } else {
                    self.line("-ERR No such message");
                }
            }
            "RETR" => match self.message(first) {
                Some(i) => {
                    self.line(&format!("+OK {} octets", self.view[i].bytes.len()));
                    let bytes = self.view[i].bytes.clone();
                    self.multiline(&bytes);
                }
                None => self.line("-ERR No such message"),
            },
            "TOP" => {
                let lines: Option<usize> = words.next().and_then(|n| n.parse().ok());
                match (self.message(first), lines) {
                    (Some(i), Some(lines)) => {
                        let head = top(&self.view[i].bytes, lines);
                        self.line("+OK");
                        self.multiline(&head);
                    }
                    _ => self.line("-ERR No such message"),
                }
            }
            "DELE" => match self.message(first) {
                Some(i) => {
                    self.deleted[i] = true;
                    self.line("+OK Marked for deletion");
                }
                None => self.line("-ERR No such message"),
            },
            "RSET" => {
                self.deleted.iter_mut().for_each(|d| *d = false);
                self.line("+OK");
            }
            "NOOP" => self.line("+OK"),
            _ => self.line("-ERR Unknown command"),
        }
    }

    fn live(&self) -> Vec<usize> {
        (0..self.view.len()).filter(|&i| !self.deleted[i]).collect()
    }
}

/// The header, the blank line, and the first `lines` body lines.
fn top(message: &[u8], lines: usize) -> Vec<u8> {
    let end_of_head = memchr::memmem::find(message, b"\r\n\r\n").map_or(message.len(), |i| i + 4);
    let mut out = message[..end_of_head].to_vec();
    let mut rest = &message[end_of_head..];
    for _ in 0..lines {
        if rest.is_empty() {
            break;
        }
        let cut = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        out.extend_from_slice(&rest[..cut]);
        rest = &rest[cut..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_cuts_after_the_head() {
        let m = b"Subject: x\r\n\r\n1\r\n2\r\n3\r\n";
        assert_eq!(top(m, 0), b"Subject: x\r\n\r\n");
        assert_eq!(top(m, 2), b"Subject: x\r\n\r\n1\r\n2\r\n");
        assert_eq!(top(m, 9), m);
    }

    #[test]
    fn sample_mailbox_is_there_and_parses() {
        let messages = sample_mailbox();
        assert!(messages.len() >= 15, "{}", messages.len());
        assert!(
            messages.iter().any(|m| m.len() > 2_000_000),
            "one large message"
        );
        for m in &messages {
            let preview = crate::mail::Preview::from_bytes(m, 3);
            assert!(!preview.subject.is_empty(), "every sample has a subject");
        }
        assert_eq!(certificate_fingerprint().to_string().len(), 95);
    }
}
