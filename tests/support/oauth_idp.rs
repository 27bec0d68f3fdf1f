//! A mock OAuth 2 identity provider on 127.0.0.1, for the tests of signing in with OAuth
//! (authorization code + PKCE, device code, refresh) and of Dovecot's XOAUTH2 /
//! OAUTHBEARER, which asks this provider whether a token is live.
//!
//! ```ignore
//! let idp = MockIdp::start(0); // any free port
//! // a client opens idp.authorize_url()?response_type=code&client_id=..., gets a 302 to
//! // its redirect_uri with ?code=..&state=.., then POSTs the code to idp.token_url().
//! let tokens = idp.issue_tokens("alice", "mail"); // or skip the flow
//! idp.revoke("alice"); // its refresh and access tokens stop working
//! // Dovecot's provider (bound on the port Dovecot's oauth2 passdb asks):
//! let idp = support::oauth_idp::dovecot_idp().expect("Dovecot");
//! ```
//!
//! Endpoints (HTTP/1.1, one request per connection, `Connection: close`; form bodies are
//! `application/x-www-form-urlencoded`; errors are RFC 6749 JSON `{"error": ...}`):
//! * `GET /authorize` — needs the registered [`CLIENT_ID`], a `redirect_uri` on
//!   `http://127.0.0.1:` or `http://localhost:` (else 400, no redirect),
//!   `response_type=code`, `code_challenge` and `code_challenge_method=S256` (else a 302
//!   with `error=`). The user signing in is the one given to [`MockIdp::set_next_user`],
//!   else `login_hint` (neither: 400). Replies 302 to `redirect_uri?code=..&state=..`,
//!   or `error=access_denied` after [`MockIdp::deny_next`].
//! * `POST /token` — `grant_type` `authorization_code` (code single-use: any attempt
//!   uses it up; same `redirect_uri`; `code_verifier` must hash to the challenge),
//!   `refresh_token` (a new access token; the refresh token is only replaced when
//!   rotation is on, and otherwise left out of the reply, as Google does) and
//!   `urn:ietf:params:oauth:grant-type:device_code` (`authorization_pending` until
//!   approved, then tokens once; `access_denied`, `expired_token`). The client id comes
//!   from the form or HTTP Basic auth; no client secret is checked.
//! * `POST /devicecode` — starts a device authorization (RFC 8628).
//! * `GET /device` (a stub page) and `POST /device` with `user_code`, `user` (and
//!   `action=deny` to refuse): what the user's browser does.
//! * `POST /introspect` with `token` (RFC 7662; Dovecot 2.3 sends
//!   `token=..&client_id=&client_secret=`): `{"active":true,"username":..}` for a live
//!   access token, else `{"active":false}`.
//!
//! Secrets are random hex with a prefix per kind — `at-` access tokens, `rt-` refresh
//! tokens, `code-` authorization codes, `dev-` device codes — so tests can grep logs and
//! files for leaks ([`MockIdp::issued_secrets`]).

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The HTTP client the tests talk to the provider with (also at `support::http`).
#[allow(unused_imports)] // unused while no test imports it from here
pub use crate::support::http::http_request;
use crate::support::http::{Request, Response, form_encode, parse_form, percent_decode, serve};

/// The one registered client id; requests naming another are refused.
pub const CLIENT_ID: &str = "letterbox-test-client";
/// The device code grant type.
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// The tokens of one successful grant (see [`MockIdp::issue_tokens`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
}

/// A running mock provider; the server thread stops when it is dropped.
pub struct MockIdp {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

struct State {
    base_url: String,
    expires_in: u64,
    rotate_refresh: bool,
    next_user: Option<String>,
    deny_next: bool,
    codes: HashMap<String, Code>,
    access: HashMap<String, Grant>,
    refresh: HashMap<String, Grant>,
    devices: Vec<Device>,
    token_requests: HashMap<String, usize>,
    introspections: usize,
    authorize_log: Vec<HashMap<String, String>>,
    secrets: Vec<String>,
}

struct Code {
    user: String,
    redirect_uri: String,
    challenge: String,
    scope: String,
    issued: Instant,
}

/// An access token (`exp` in Unix seconds) or a refresh token (`exp` unused).
struct Grant {
    user: String,
    scope: String,
    exp: u64,
    live: bool,
}

struct Device {
    device_code: String,
    user_code: String,
    scope: String,
    expires: Instant,
    status: DeviceStatus,
}

#[derive(PartialEq)]
enum DeviceStatus {
    Pending,
    Approved(String),
    Denied,
    Used,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `n` random bytes from /dev/urandom (on a server thread, a panic here only drops
/// that one connection).
fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    buf
}

fn secret(prefix: &str) -> String {
    let hex: String = random_bytes(20)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{prefix}{hex}")
}

/// A short code to type in, like `BCDF-2345`.
fn user_code() -> String {
    const LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
    let r = random_bytes(8);
    let letters: String = r[..4]
        .iter()
        .map(|b| LETTERS[*b as usize % LETTERS.len()] as char)
        .collect();
    let digits: String = r[4..].iter().map(|b| char::from(b'0' + b % 10)).collect();
    format!("{letters}-{digits}")
}

/// BASE64URL-NOPAD(SHA-256(verifier)): the PKCE S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl MockIdp {
    /// Starts a provider on 127.0.0.1:`port` (0: any free port). Panics if it cannot bind.
    pub fn start(port: u16) -> MockIdp {
        Self::try_start(port)
            .unwrap_or_else(|e| panic!("mock identity provider: cannot bind port {port}: {e}"))
    }

    /// Like [`start`](Self::start), returning the bind error.
    pub fn try_start(port: u16) -> io::Result<MockIdp> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            base_url: format!("http://127.0.0.1:{}", addr.port()),
            expires_in: 3600,
            rotate_refresh: false,
            next_user: None,
            deny_next: false,
            codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            devices: Vec::new(),
            token_requests: HashMap::new(),
            introspections: 0,
            authorize_log: Vec::new(),
            secrets: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let st = state.clone();
        serve(listener, stop.clone(), move |req| route(req, &st))?;
        Ok(MockIdp { addr, state, stop })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }
    pub fn authorize_url(&self) -> String {
        self.base_url() + "/authorize"
    }
    pub fn token_url(&self) -> String {
        self.base_url() + "/token"
    }
    /// The device authorization endpoint (`/devicecode`).
    pub fn device_url(&self) -> String {
        self.base_url() + "/devicecode"
    }
    /// Where the user enters a device's user code (`/device`).
    pub fn verification_url(&self) -> String {
        self.base_url() + "/device"
    }
    pub fn introspect_url(&self) -> String {
        self.base_url() + "/introspect"
    }
    /// The registered client id, [`CLIENT_ID`].
    pub fn client_id(&self) -> &'static str {
        CLIENT_ID
    }

    /// `expires_in` (seconds) of access tokens issued from now on (default 3600); a token
    /// is inactive at introspection once that time has passed (0: at once).
    pub fn set_expires_in(&self, secs: u64) {
        self.state().expires_in = secs;
    }
    /// Whether a refresh grant replaces the refresh token (the old one then stops working).
    pub fn set_rotate_refresh_tokens(&self, on: bool) {
        self.state().rotate_refresh = on;
    }
    /// The user the next `/authorize` signs in as, whatever its `login_hint` (`None`:
    /// back to `login_hint`). Used once.
    pub fn set_next_user(&self, user: Option<&str>) {
        self.state().next_user = user.map(str::to_owned);
    }
    /// The next valid `/authorize` is refused by the user: 302 with `error=access_denied`.
    pub fn deny_next(&self) {
        self.state().deny_next = true;
    }
    /// The user's access tokens become inactive, as if they had expired.
    pub fn expire_access_tokens(&self, user: &str) {
        let past = unix_now().saturating_sub(1);
        let mut st = self.state();
        st.access
            .values_mut()
            .filter(|g| g.user == user)
            .for_each(|g| g.exp = past);
    }
    /// Revokes all of the user's refresh and access tokens (and unused codes).
    pub fn revoke(&self, user: &str) {
        let mut st = self.state();
        let st = &mut *st;
        for g in st.access.values_mut().chain(st.refresh.values_mut()) {
            if g.user == user {
                g.live = false;
            }
        }
        st.codes.retain(|_, c| c.user != user);
    }
    /// Issues tokens for `user` as a successful grant would, without the HTTP flow.
    pub fn issue_tokens(&self, user: &str, scope: &str) -> TokenPair {
        let mut st = self.state();
        let refresh_token = st.new_refresh(user, scope);
        TokenPair {
            access_token: st.new_access(user, scope),
            refresh_token,
        }
    }

    /// Approves a pending device authorization as `user`; false if no such pending code.
    pub fn approve_device(&self, user_code: &str, user: &str) -> bool {
        self.state()
            .set_device(user_code, DeviceStatus::Approved(user.to_owned()))
    }
    /// The user refuses a pending device authorization; false if no such pending code.
    pub fn deny_device(&self, user_code: &str) -> bool {
        self.state().set_device(user_code, DeviceStatus::Denied)
    }
    /// A pending device authorization expires now (polls get `expired_token`).
    pub fn expire_device(&self, user_code: &str) -> bool {
        let mut st = self.state();
        let found = st.devices.iter_mut().find(|d| d.user_code == user_code);
        found.map(|d| d.expires = Instant::now()).is_some()
    }
    /// User codes of device authorizations neither approved, denied nor expired.
    pub fn pending_user_codes(&self) -> Vec<String> {
        let now = Instant::now();
        let st = self.state();
        let pending = st.devices.iter();
        let pending = pending.filter(|d| d.status == DeviceStatus::Pending && d.expires > now);
        pending.map(|d| d.user_code.clone()).collect()
    }

    /// How many `/token` requests named this `grant_type` (successful or not).
    pub fn token_requests(&self, grant_type: &str) -> usize {
        self.state()
            .token_requests
            .get(grant_type)
            .copied()
            .unwrap_or(0)
    }
    /// How many `/introspect` requests came (from Dovecot, usually).
    pub fn introspections(&self) -> usize {
        self.state().introspections
    }
    /// The query parameters of every `/authorize` request so far, in order.
    pub fn authorize_requests(&self) -> Vec<HashMap<String, String>> {
        self.state().authorize_log.clone()
    }
    /// Every code and token handed out so far, and every PKCE verifier
    /// received (to check none leaks into logs or files).
    pub fn issued_secrets(&self) -> Vec<String> {
        self.state().secrets.clone()
    }
}

impl Drop for MockIdp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    fn keep(&mut self, s: String) -> String {
        self.secrets.push(s.clone());
        s
    }
    fn new_access(&mut self, user: &str, scope: &str) -> String {
        let token = self.keep(secret("at-"));
        let exp = unix_now() + self.expires_in;
        let (user, scope) = (user.to_owned(), scope.to_owned());
        let grant = Grant {
            user,
            scope,
            exp,
            live: true,
        };
        self.access.insert(token.clone(), grant);
        token
    }
    fn new_refresh(&mut self, user: &str, scope: &str) -> String {
        let token = self.keep(secret("rt-"));
        let (user, scope) = (user.to_owned(), scope.to_owned());
        let grant = Grant {
            user,
            scope,
            exp: 0,
            live: true,
        };
        self.refresh.insert(token.clone(), grant);
        token
    }
    /// The JSON of a successful token reply; `refresh` is included when given.
    fn token_reply(&mut self, user: &str, scope: &str, refresh: Option<String>) -> Value {
        let mut v = json!({
            "access_token": self.new_access(user, scope),
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": scope,
        });
        if let Some(r) = refresh {
            v["refresh_token"] = json!(r);
        }
        v
    }
    fn set_device(&mut self, user_code: &str, status: DeviceStatus) -> bool {
        let now = Instant::now();
        let pending = self.devices.iter_mut().find(|d| {
            d.user_code.eq_ignore_ascii_case(user_code)
                && d.status == DeviceStatus::Pending
                && d.expires > now
        });
        pending.map(|d| d.status = status).is_some()
    }
}

// ----------------------------------------------------------------- the endpoints

fn oauth_error(error: &str, description: &str) -> Response {
    Response::json(
        400,
        &json!({"error": error, "error_description": description}),
    )
}

fn route(req: &Request, state: &Mutex<State>) -> Response {
    let known = [
        "/authorize",
        "/token",
        "/devicecode",
        "/device",
        "/introspect",
    ];
    let form = || req.form().map_err(|e| oauth_error("invalid_request", &e));
    let mut st = lock(state);
    let result = match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/authorize") => match parse_form(&req.query) {
            Ok(q) => Ok(authorize(&mut st, q)),
            Err(e) => Ok(Response::text(400, &e)),
        },
        ("POST", "/token") => form().map(|f| token(&mut st, req, &f)),
        ("POST", "/devicecode") => form().map(|f| device_start(&mut st, &f, req)),
        ("GET", "/device") => Ok(Response::text(200, "Enter the code shown on your device.")),
        ("POST", "/device") => form().map(|f| device_page(&mut st, &f)),
        ("POST", "/introspect") => form().map(|f| introspect(&mut st, &f)),
        (_, p) if known.contains(&p) => Ok(Response::text(405, "method not allowed")),
        _ => Ok(Response::text(404, "not found")),
    };
    result.unwrap_or_else(|e| e)
}

fn authorize(st: &mut State, q: HashMap<String, String>) -> Response {
    st.authorize_log.push(q.clone());
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    if get("client_id") != CLIENT_ID {
        return Response::text(400, &format!("unknown client_id {:?}", get("client_id")));
    }
    let redirect_uri = get("redirect_uri");
    let loopback = ["http://127.0.0.1:", "http://localhost:"];
    if !loopback.iter().any(|p| redirect_uri.starts_with(p)) {
        return Response::text(400, &format!("redirect_uri not allowed: {redirect_uri:?}"));
    }
    let back = |params: &[(&str, &str)]| {
        let mut params = params.to_vec();
        if let Some(state) = q.get("state") {
            params.push(("state", state));
        }
        let sep = if redirect_uri.contains('?') { '&' } else { '?' };
        Response::redirect(format!("{redirect_uri}{sep}{}", form_encode(&params)))
    };
    if get("response_type") != "code" {
        return back(&[("error", "unsupported_response_type")]);
    }
    if get("code_challenge").is_empty() || get("code_challenge_method") != "S256" {
        let why = "PKCE with code_challenge_method=S256 is required";
        return back(&[("error", "invalid_request"), ("error_description", why)]);
    }
    if std::mem::take(&mut st.deny_next) {
        return back(&[
            ("error", "access_denied"),
            ("error_description", "the user said no"),
        ]);
    }
    let user = st
        .next_user
        .take()
        .unwrap_or_else(|| get("login_hint").to_owned());
    if user.is_empty() {
        return Response::text(
            400,
            "nobody signs in: give login_hint or call set_next_user",
        );
    }
    let code = st.keep(secret("code-"));
    let grant = Code {
        user,
        redirect_uri: redirect_uri.to_owned(),
        challenge: get("code_challenge").to_owned(),
        scope: get("scope").to_owned(),
        issued: Instant::now(),
    };
    st.codes.insert(code.clone(), grant);
    back(&[("code", &code)])
}

/// The client id of a token request: the form's `client_id`, or HTTP Basic auth.
fn client_of(req: &Request, f: &HashMap<String, String>) -> Result<(), Response> {
    let basic = req
        .header("Authorization")
        .and_then(|v| v.strip_prefix("Basic "));
    let decoded = basic.and_then(|b| {
        base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .ok()
    });
    let from_basic = decoded
        .and_then(|d| String::from_utf8(d).ok())
        .and_then(|s| {
            s.split_once(':')
                .and_then(|(id, _)| percent_decode(id).ok())
        });
    let id = f.get("client_id").cloned().or(from_basic.clone());
    if id.as_deref() == Some(CLIENT_ID) {
        return Ok(());
    }
    let mut r = oauth_error("invalid_client", &format!("unknown client_id {id:?}"));
    if from_basic.is_some() {
        r.status = 401;
        r.headers
            .push(("WWW-Authenticate", "Basic realm=\"mock-idp\"".into()));
    }
    Err(r)
}

fn token(st: &mut State, req: &Request, f: &HashMap<String, String>) -> Response {
    let grant_type = f.get("grant_type").cloned().unwrap_or_default();
    *st.token_requests.entry(grant_type.clone()).or_default() += 1;
    if let Err(r) = client_of(req, f) {
        return r;
    }
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    match grant_type.as_str() {
        "authorization_code" => {
            let Some(code) = st.codes.remove(get("code")) else {
                return oauth_error("invalid_grant", "unknown or already used code");
            };
            if code.issued.elapsed() > CODE_LIFETIME {
                return oauth_error("invalid_grant", "the code has expired");
            }
            if code.redirect_uri != get("redirect_uri") {
                return oauth_error("invalid_grant", "redirect_uri differs from /authorize");
            }
            // The verifier is the client's secret: kept for the leak checks.
            if !get("code_verifier").is_empty() {
                st.secrets.push(get("code_verifier").to_owned());
            }
            if pkce_challenge(get("code_verifier")) != code.challenge {
                return oauth_error("invalid_grant", "code_verifier does not match");
            }
            let refresh = st.new_refresh(&code.user, &code.scope);
            Response::json(200, &st.token_reply(&code.user, &code.scope, Some(refresh)))
        }
        "refresh_token" => {
            let old = get("refresh_token");
            let Some((user, scope)) = st
                .refresh
                .get(old)
                .filter(|g| g.live)
                .map(|g| (g.user.clone(), g.scope.clone()))
            else {
                return oauth_error("invalid_grant", "the refresh token is invalid or revoked");
            };
            let replacement = st.rotate_refresh.then(|| {
                if let Some(g) = st.refresh.get_mut(old) {
                    g.live = false;
                }
                st.new_refresh(&user, &scope)
            });
            Response::json(200, &st.token_reply(&user, &scope, replacement))
        }
        DEVICE_GRANT => {
            let now = Instant::now();
            let Some(d) = st
                .devices
                .iter_mut()
                .find(|d| d.device_code == get("device_code"))
            else {
                return oauth_error("invalid_grant", "unknown device_code");
            };
            let (error, why) = match &d.status {
                DeviceStatus::Pending if d.expires <= now => {
                    ("expired_token", "the code has expired")
                }
                DeviceStatus::Pending => ("authorization_pending", "the user has not answered yet"),
                DeviceStatus::Denied => ("access_denied", "the user said no"),
                DeviceStatus::Used => ("invalid_grant", "the device code was already used"),
                DeviceStatus::Approved(user) => {
                    let (user, scope) = (user.clone(), d.scope.clone());
                    d.status = DeviceStatus::Used;
                    let refresh = st.new_refresh(&user, &scope);
                    return Response::json(200, &st.token_reply(&user, &scope, Some(refresh)));
                }
            };
            oauth_error(error, why)
        }
        other => oauth_error("unsupported_grant_type", &format!("grant_type {other:?}")),
    }
}

fn device_start(st: &mut State, f: &HashMap<String, String>, req: &Request) -> Response {
    if let Err(r) = client_of(req, f) {
        return r;
    }
    let (device_code, user_code) = (st.keep(secret("dev-")), user_code());
    let base = st.base_url.clone();
    let reply = json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": format!("{base}/device"),
        "verification_uri_complete": format!("{base}/device?user_code={user_code}"),
        "expires_in": 300,
        "interval": 1,
    });
    st.devices.push(Device {
        device_code,
        user_code,
        scope: f.get("scope").cloned().unwrap_or_default(),
        expires: Instant::now() + Duration::from_secs(300),
        status: DeviceStatus::Pending,
    });
    Response::json(200, &reply)
}

fn device_page(st: &mut State, f: &HashMap<String, String>) -> Response {
    let code = f.get("user_code").map(String::as_str).unwrap_or("");
    let user = f.get("user").map(String::as_str).unwrap_or("");
    let status = match f.get("action").map(String::as_str) {
        Some("deny") => DeviceStatus::Denied,
        _ if user.is_empty() => return Response::text(400, "say which user signs in (user=...)"),
        _ => DeviceStatus::Approved(user.to_owned()),
    };
    if st.set_device(code, status) {
        Response::text(200, "Done. You can close this window.")
    } else {
        Response::text(400, "no such pending code")
    }
}

fn introspect(st: &mut State, f: &HashMap<String, String>) -> Response {
    st.introspections += 1;
    let token = f.get("token").map(String::as_str).unwrap_or("");
    let live = st
        .access
        .get(token)
        .filter(|g| g.live && g.exp > unix_now());
    let reply = match live {
        Some(g) => json!({
            "active": true,
            "username": g.user,
            "sub": g.user,
            "scope": g.scope,
            "exp": g.exp,
            "client_id": CLIENT_ID,
            "token_type": "Bearer",
        }),
        None => json!({"active": false}),
    };
    Response::json(200, &reply)
}

// ------------------------------------------------------ the provider Dovecot asks

/// The provider Dovecot's oauth2 passdb asks: started once per test process on
/// [`Dovecot::oauth_idp_port`](crate::support::dovecot::Dovecot::oauth_idp_port). `None`
/// when there is no Dovecot (the test should skip). If the port is taken (another test
/// process holds it, e.g. under cargo-nextest) it retries for up to 60 s. Tests share it:
/// give each its own user ([`Dovecot::new_user`](crate::support::dovecot::Dovecot::new_user)).
pub fn dovecot_idp() -> Option<&'static MockIdp> {
    static IDP: OnceLock<Option<MockIdp>> = OnceLock::new();
    IDP.get_or_init(|| {
        let dc = crate::support::dovecot::dovecot()?;
        let port = dc.oauth_idp_port(); // panics, saying to restart, for an old instance
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match MockIdp::try_start(port) {
                Ok(idp) => return Some(idp),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => {
                    panic!("cannot bind the mock identity provider on Dovecot's port {port}: {e}")
                }
            }
        }
    })
    .as_ref()
}
