//! Minimal HTTP/1.1 over std `TcpStream`, for test doubles and their tests: a server
//! loop (one request per connection, a thread each, `Connection: close`), a client
//! ([`http_request`]) and `application/x-www-form-urlencoded` / query string helpers.
//! Loopback only, no TLS, no keep-alive.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

const MAX_BODY: usize = 1 << 20;
const TIMEOUT: Duration = Duration::from_secs(20);

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `k1=v1&k2=v2`, percent-encoded (a form body or a query string).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    parts.join("&")
}

/// Undoes `%XX` and `+` (space); the result must be UTF-8.
pub fn percent_decode(s: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s.as_bytes()[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3).ok_or("truncated %-escape")?;
                let byte =
                    u8::from_str_radix(hex, 16).map_err(|_| format!("bad %-escape %{hex}"))?;
                out.push(byte);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 after %-decoding".to_owned())
}

/// Parses `a=1&b=2` (a query string or form body); a parameter given twice is an error.
pub fn parse_form(s: &str) -> Result<HashMap<String, String>, String> {
    let mut map = HashMap::new();
    for part in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        if map.insert(percent_decode(k)?, percent_decode(v)?).is_some() {
            return Err(format!("parameter {k} given more than once"));
        }
    }
    Ok(map)
}

/// The query parameters of a URL (e.g. a redirect's `Location`); empty if it has none.
pub fn query_params(url: &str) -> HashMap<String, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    parse_form(query.split('#').next().unwrap_or("")).unwrap_or_default()
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let h = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
    h.map(|(_, v)| v.as_str())
}

// ------------------------------------------------------------------------- server

/// A request as the server read it.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The target before `?`.
    pub path: String,
    /// The raw query string (after `?`, still encoded).
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as an `application/x-www-form-urlencoded` form (which the Content-Type
    /// must say).
    pub fn form(&self) -> Result<HashMap<String, String>, String> {
        let ctype = self.header("Content-Type").unwrap_or("");
        if !ctype
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
        {
            return Err(format!(
                "Content-Type must be application/x-www-form-urlencoded, not {ctype:?}"
            ));
        }
        let body = std::str::from_utf8(&self.body).map_err(|_| "body not UTF-8")?;
        parse_form(body)
    }
}

/// A reply the server sends (with `Content-Length` and `Connection: close` added).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Response {
    pub fn json(status: u16, v: &Value) -> Response {
        let ctype = ("Content-Type", "application/json".to_owned());
        let headers = vec![ctype, ("Cache-Control", "no-store".to_owned())];
        Response {
            status,
            headers,
            body: v.to_string(),
        }
    }

    pub fn text(status: u16, text: &str) -> Response {
        let headers = vec![("Content-Type", "text/plain; charset=utf-8".to_owned())];
        Response {
            status,
            headers,
            body: format!("{text}\n"),
        }
    }

    /// 302 to `location`.
    pub fn redirect(location: String) -> Response {
        let headers = vec![("Location", location)];
        Response {
            status: 302,
            headers,
            body: String::new(),
        }
    }

    fn write_to(&self, stream: &mut TcpStream) {
        let reason = match self.status {
            200 => "OK",
            302 => "Found",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Whatever",
        };
        let mut out = format!("HTTP/1.1 {} {reason}\r\n", self.status);
        for (k, v) in &self.headers {
            out += &format!("{k}: {v}\r\n");
        }
        let len = self.body.len();
        out += &format!(
            "Content-Length: {len}\r\nConnection: close\r\n\r\n{}",
            self.body
        );
        let _ = stream.write_all(out.as_bytes());
        let _ = stream.flush();
    }
}

/// Serves `listener` on a new thread until `stop` is set (and one more connection
/// arrives to notice it): each connection on its own thread, one request each, answered
/// by `handler`. A request that cannot be parsed gets a 400 without reaching `handler`.
pub fn serve<H>(listener: TcpListener, stop: Arc<AtomicBool>, handler: H) -> io::Result<()>
where
    H: Fn(&Request) -> Response + Send + Sync + 'static,
{
    let handler = Arc::new(handler);
    let name = format!("http-{}", listener.local_addr()?.port());
    std::thread::Builder::new().name(name).spawn(move || {
        for conn in listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let (Ok(mut stream), handler) = (conn, handler.clone()) else {
                continue;
            };
            let _ = std::thread::Builder::new().spawn(move || {
                let _ = stream.set_read_timeout(Some(TIMEOUT));
                let _ = stream.set_write_timeout(Some(TIMEOUT));
                let reply = match read_request(&mut stream) {
                    Ok(req) => handler(&req),
                    Err(e) => Response::text(400, &format!("bad request: {e}")),
                };
                reply.write_to(&mut stream);
            });
        }
    })?;
    Ok(())
}

fn read_line(r: &mut impl BufRead) -> Result<String, String> {
    let mut buf = Vec::new();
    let read = r.take(16 * 1024).read_until(b'\n', &mut buf);
    read.map_err(|e| e.to_string())?;
    if !buf.ends_with(b"\n") {
        return Err("line too long, or the connection closed".into());
    }
    let line = String::from_utf8(buf).map_err(|_| "header not UTF-8")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Reads one request: request line, headers, and a body by `Content-Length` or chunked.
fn read_request(stream: &mut TcpStream) -> Result<Request, String> {
    let mut r = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let line = read_line(&mut r)?;
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(format!("bad request line {line:?}"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not HTTP/1.x: {version}"));
    }
    let mut headers = Vec::new();
    loop {
        let h = read_line(&mut r)?;
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').ok_or(format!("bad header {h:?}"))?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
        if headers.len() > 100 {
            return Err("too many headers".into());
        }
    }
    let mut body = Vec::new();
    if find_header(&headers, "Expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let te = find_header(&headers, "Transfer-Encoding").unwrap_or("");
    if te.to_ascii_lowercase().contains("chunked") {
        loop {
            let size_line = read_line(&mut r)?;
            let size = size_line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| "bad chunk size")?;
            if size == 0 {
                while !read_line(&mut r)?.is_empty() {} // trailers
                break;
            }
            if body.len() + size > MAX_BODY {
                return Err("body too large".into());
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])
                .map_err(|e| e.to_string())?;
            read_line(&mut r)?;
        }
    } else if let Some(len) = find_header(&headers, "Content-Length") {
        let len: usize = len.parse().map_err(|_| "bad Content-Length")?;
        if len > MAX_BODY {
            return Err("body too large".into());
        }
        body.resize(len, 0);
        r.read_exact(&mut body).map_err(|e| e.to_string())?;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Request {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body,
    })
}

// ------------------------------------------------------------------------- client

/// A reply read by [`http_request`].
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpReply {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as JSON (panics if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

/// Sends one request to an `http://host:port/path?query` URL and reads the reply to EOF:
/// `form`, if given, as an `application/x-www-form-urlencoded` body. Does not follow
/// redirects. Panics on network errors.
pub fn http_request(method: &str, url: &str, form: Option<&[(&str, &str)]>) -> HttpReply {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("not an http:// URL: {url}"));
    let (host, target) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
    let mut s = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect to {host}: {e}"));
    s.set_read_timeout(Some(TIMEOUT)).expect("set timeout");
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    let body = form.map(form_encode).unwrap_or_default();
    if form.is_some() {
        out += "Content-Type: application/x-www-form-urlencoded\r\n";
    }
    out += &format!("Content-Length: {}\r\n\r\n{body}", body.len());
    s.write_all(out.as_bytes())
        .unwrap_or_else(|e| panic!("send to {url}: {e}"));
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("read from {url}: {e}"));
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers from {url}: {raw:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line.split(' ').nth(1).and_then(|c| c.parse().ok());
    let status = status.unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    HttpReply {
        status,
        headers,
        body: body.to_owned(),
    }
}
