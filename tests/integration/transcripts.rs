//! Whole client/server conversations replayed through the real client
//! (pop3 core + net driver + engine::check) with no socket. Each fixture in
//! `tests/transcripts/` lists what the server says (`S:`) and exactly what
//! the client must send (`C:`), in causal order; the replay stream hands out
//! server lines only once the client has sent everything before them, as a
//! real server would. `%` lines configure the account, `=` lines give the
//! expected messages, `% expect: error Variant` an expected failure.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::path::Path;
use std::rc::Rc;

use letterbox::engine::{self, CheckOptions};
use letterbox::net::{Client, Credentials, Endpoint, Observe, PlainTransport, Security};
use letterbox::pop3::{AuthMethod, Secret};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Side {
    Client,
    Server,
}

/// A stream that plays the server's side of a transcript and checks the
/// client's side byte for byte.
struct Replay {
    items: Vec<(Side, Vec<u8>)>,
    next: usize,
    unmatched: Vec<u8>,
}

impl Replay {
    fn advance_client(&mut self) -> io::Result<()> {
        while let Some((Side::Client, line)) = self.items.get(self.next) {
            if self.unmatched.starts_with(line) {
                self.unmatched.drain(..line.len());
                self.next += 1;
            } else if line.starts_with(&self.unmatched) {
                return Ok(()); // a partial line; wait for the rest
            } else {
                break;
            }
        }
        if self.unmatched.is_empty() {
            return Ok(());
        }
        let expected = match self.items.get(self.next) {
            Some((Side::Client, line)) => String::from_utf8_lossy(line).into_owned(),
            Some((Side::Server, _)) => "(nothing: it is the server's turn)".into(),
            None => "(nothing: the transcript is over)".into(),
        };
        Err(io::Error::other(format!(
            "client sent {:?}, transcript expects {expected:?}",
            String::from_utf8_lossy(&self.unmatched)
        )))
    }
}

impl Write for Replay {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.unmatched.extend_from_slice(buf);
        self.advance_client()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.items.get_mut(self.next) {
            // One server line per read, to exercise framing across reads.
            Some((Side::Server, line)) => {
                let n = line.len().min(buf.len());
                buf[..n].copy_from_slice(&line[..n]);
                line.drain(..n);
                if line.is_empty() {
                    self.next += 1;
                }
                Ok(n)
            }
            Some((Side::Client, line)) => Err(io::Error::other(format!(
                "client waits for the server, but the transcript expects it to send {:?}",
                String::from_utf8_lossy(line)
            ))),
            None => Ok(0),
        }
    }
}

/// `\xNN` and `\\` escapes, for 8-bit bytes in fixtures.
fn unescape(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') {
            let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).expect("escape");
            out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
            i += 4;
        } else if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

struct Fixture {
    replay: Replay,
    settings: Vec<(String, String)>,
    expected: Vec<String>,
}

fn load(path: &Path) -> Fixture {
    let text = std::fs::read_to_string(path).expect("read transcript");
    let mut items = Vec::new();
    let mut settings = Vec::new();
    let mut expected = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("S: ").or(line.strip_prefix("S:")) {
            let mut bytes = unescape(rest);
            bytes.extend_from_slice(b"\r\n");
            items.push((Side::Server, bytes));
        } else if let Some(rest) = line.strip_prefix("C: ") {
            let mut bytes = unescape(rest);
            bytes.extend_from_slice(b"\r\n");
            items.push((Side::Client, bytes));
        } else if let Some(rest) = line.strip_prefix("% ") {
            let (key, value) = rest.split_once(':').expect("% key: value");
            settings.push((key.trim().to_owned(), value.trim().to_owned()));
        } else if let Some(rest) = line.strip_prefix("= ") {
            expected.push(rest.to_owned());
        } else {
            assert!(
                line.is_empty() || line.starts_with('#'),
                "bad line {line:?}"
            );
        }
    }
    Fixture {
        replay: Replay {
            items,
            next: 0,
            unmatched: Vec::new(),
        },
        settings,
        expected,
    }
}

fn setting<'a>(fixture: &'a Fixture, key: &str) -> Option<&'a str> {
    fixture
        .settings
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// One `=` line: number, uid or `-`, size, "subject" or `-`, "preview" or `-`.
fn describe(m: &engine::MessageSummary, uidl_supported: bool) -> String {
    let quoted = |s: &str| format!("{s:?}");
    format!(
        "{} {} {} {} {}",
        m.number,
        m.key
            .as_deref()
            .filter(|_| uidl_supported)
            .map_or("-".to_owned(), str::to_owned),
        m.size_bytes,
        m.preview
            .as_ref()
            .map_or("-".to_owned(), |p| quoted(&p.subject)),
        m.preview
            .as_ref()
            .map_or("-".to_owned(), |p| quoted(&p.text)),
    )
}

/// Wraps the replay so the test can see how far it got after the client,
/// which owns the stream, is gone.
struct Counting {
    replay: Replay,
    reached: Rc<Cell<usize>>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.replay.read(buf);
        self.reached.set(self.replay.next);
        n
    }
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.replay.write(buf);
        self.reached.set(self.replay.next);
        n
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn run(path: &Path) {
    let fixture = load(path);
    let security = match setting(&fixture, "security").unwrap_or("tls") {
        "tls" => Security::Tls,
        "starttls" => Security::StartTls,
        "none" => Security::None,
        other => panic!("security {other}"),
    };
    let endpoint = Endpoint::new("pop.example.test", 995, security);
    let credentials = Credentials {
        user: setting(&fixture, "user").unwrap_or("alice").to_owned(),
        secret: Secret::new(setting(&fixture, "password").unwrap_or("secret").to_owned()),
        method: match setting(&fixture, "auth").unwrap_or("auto") {
            "auto" => AuthMethod::Auto,
            "login" => AuthMethod::Login,
            "plain" => AuthMethod::Plain,
            other => panic!("auth {other}"),
        },
        allow_cleartext: setting(&fixture, "allow-plaintext") == Some("yes"),
        remembered: None,
    };
    let options = CheckOptions {
        preview_lines: setting(&fixture, "preview-lines").map_or(10, |n| n.parse().expect("lines")),
        expire_after_days: None,
        ..CheckOptions::default()
    };
    let expect_error = setting(&fixture, "expect")
        .and_then(|e| e.strip_prefix("error "))
        .map(str::to_owned);
    let expected = fixture.expected.clone();
    let total = fixture.replay.items.len();
    let reached = Rc::new(Cell::new(0));
    let transport = PlainTransport {
        inner: Counting {
            replay: fixture.replay,
            reached: reached.clone(),
        },
        encrypted: security == Security::Tls,
    };
    let result = Client::over(transport, &endpoint, Observe::default())
        .map_err(engine::Error::from)
        .and_then(|client| engine::check_with(client, &credentials, None, &options, &mut |_| {}));
    match (result, expect_error) {
        (Ok(report), None) => {
            let got: Vec<String> = report
                .messages
                .iter()
                .map(|m| describe(m, report.uidl_supported))
                .collect();
            assert_eq!(got, expected, "{}", path.display());
        }
        (Err(error), Some(variant)) => {
            let debug = match &error {
                engine::Error::Net(e) => format!("{e:?}"),
                other => format!("{other:?}"),
            };
            assert!(
                debug.starts_with(&variant),
                "{}: expected {variant}, got {debug}",
                path.display()
            );
        }
        (Ok(report), Some(variant)) => {
            panic!("{}: expected {variant}, got {report:?}", path.display())
        }
        (Err(error), None) => panic!("{}: {error:?}", path.display()),
    }
    assert_eq!(
        reached.get(),
        total,
        "{}: the conversation stopped before the end of the transcript",
        path.display()
    );
}

#[test]
fn every_transcript_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("transcripts dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 7, "fixtures missing: {paths:?}");
    for path in &paths {
        run(path);
    }
}

#[test]
fn a_deviating_client_is_caught() {
    // The replay itself must fail when the client says something else, or
    // the fixtures prove nothing.
    let mut replay = Replay {
        items: vec![
            (Side::Server, b"+OK\r\n".to_vec()),
            (Side::Client, b"CAPA\r\n".to_vec()),
        ],
        next: 0,
        unmatched: Vec::new(),
    };
    let mut buf = [0u8; 16];
    assert_eq!(replay.read(&mut buf).unwrap(), 5);
    assert!(replay.write(b"QUIT\r\n").is_err());
    assert!(
        replay.read(&mut buf).is_err(),
        "server must not speak out of turn"
    );
}
