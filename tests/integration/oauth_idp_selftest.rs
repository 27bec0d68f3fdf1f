//! Tests of the mock OAuth 2 identity provider (`tests/support/oauth_idp.rs`): the
//! authorization code flow with PKCE, refresh, revocation, the device flow and
//! introspection over real HTTP on loopback; then the private Dovecot's SASL XOAUTH2 and
//! OAUTHBEARER, which ask that provider about each token. Run alone with
//! `cargo test --test integration oauth_idp`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::support::dovecot::Dovecot;
use crate::support::http::{HttpReply, form_encode, http_request, percent_encode, query_params};
use crate::support::oauth_idp::{CLIENT_ID, DEVICE_GRANT, MockIdp, dovecot_idp, pkce_challenge};

const REDIRECT: &str = "http://127.0.0.1:45678/callback";
const VERIFIER: &str = "a-verifier-of-enough-length-0123456789-abcdefghijklmnop";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// GET /authorize with the usual parameters (`extra` added or overriding).
fn authorize(idp: &MockIdp, extra: &[(&str, &str)]) -> HttpReply {
    let challenge = pkce_challenge(VERIFIER);
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("state", "st-1"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("scope", "mail offline_access"),
    ];
    for (k, v) in extra {
        params.retain(|(pk, _)| pk != k);
        params.push((k, v));
    }
    let query = form_encode(&params);
    http_request("GET", &format!("{}?{query}", idp.authorize_url()), None)
}

/// The code from a successful /authorize redirect.
fn code_of(reply: &HttpReply) -> String {
    assert_eq!(reply.status, 302, "{reply:?}");
    let location = reply.header("Location").expect("Location");
    let q = query_params(location);
    q.get("code")
        .unwrap_or_else(|| panic!("no code in {location}"))
        .clone()
}

fn exchange(idp: &MockIdp, code: &str, verifier: &str) -> HttpReply {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("client_id", CLIENT_ID),
        ("code_verifier", verifier),
    ];
    http_request("POST", &idp.token_url(), Some(&form))
}

fn refresh(idp: &MockIdp, refresh_token: &str) -> HttpReply {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", CLIENT_ID),
    ];
    http_request("POST", &idp.token_url(), Some(&form))
}

fn introspect(idp: &MockIdp, token: &str) -> Value {
    let r = http_request("POST", &idp.introspect_url(), Some(&[("token", token)]));
    assert_eq!(r.status, 200, "{r:?}");
    r.json()
}

fn error_of(r: &HttpReply) -> String {
    assert_eq!(r.status, 400, "{r:?}");
    r.json()["error"].as_str().unwrap_or("").to_owned()
}

/// Signs `user` in through the real authorization code flow; returns (access, refresh).
fn sign_in(idp: &MockIdp, user: &str) -> (String, String) {
    let code = code_of(&authorize(idp, &[("login_hint", user)]));
    let r = exchange(idp, &code, VERIFIER);
    assert_eq!(r.status, 200, "{r:?}");
    let j = r.json();
    let s = |k: &str| {
        j[k].as_str()
            .unwrap_or_else(|| panic!("no {k}: {j}"))
            .to_owned()
    };
    (s("access_token"), s("refresh_token"))
}

#[test]
fn authorization_code_flow_with_pkce() {
    let idp = MockIdp::start(0);
    let state = "a b&c=d/é?+%";
    let r = authorize(&idp, &[("login_hint", "alice"), ("state", state)]);
    let location = r.header("Location").unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{REDIRECT}?code=code-")),
        "{location}"
    );
    assert_eq!(
        query_params(&location)["state"],
        state,
        "state comes back exactly"
    );
    assert!(location.contains(&format!("state={}", percent_encode(state))));
    let seen = idp.authorize_requests().pop().unwrap();
    assert_eq!(seen["scope"], "mail offline_access");
    assert_eq!(seen["code_challenge_method"], "S256");
    assert_eq!(seen["login_hint"], "alice");

    // a wrong verifier is refused, and uses the code up
    let code = code_of(&r);
    assert_eq!(
        error_of(&exchange(&idp, &code, "not-the-verifier")),
        "invalid_grant"
    );
    assert_eq!(error_of(&exchange(&idp, &code, VERIFIER)), "invalid_grant");

    // the right one works, once
    let code = code_of(&authorize(&idp, &[("login_hint", "alice")]));
    let r = exchange(&idp, &code, VERIFIER);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.header("Content-Type")
            .unwrap()
            .starts_with("application/json")
    );
    let j = r.json();
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["expires_in"], 3600);
    assert_eq!(j["scope"], "mail offline_access");
    let access = j["access_token"].as_str().unwrap();
    assert!(access.starts_with("at-") && access.len() > 30, "{access}");
    assert!(j["refresh_token"].as_str().unwrap().starts_with("rt-"));
    assert_eq!(
        error_of(&exchange(&idp, &code, VERIFIER)),
        "invalid_grant",
        "reused code"
    );

    // a different redirect_uri, or another client, is refused
    let code = code_of(&authorize(&idp, &[("login_hint", "alice")]));
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://127.0.0.1:1/other"),
        ("client_id", CLIENT_ID),
        ("code_verifier", VERIFIER),
    ];
    let r = http_request("POST", &idp.token_url(), Some(&form));
    assert_eq!(error_of(&r), "invalid_grant");
    let code = code_of(&authorize(&idp, &[("login_hint", "alice")]));
    form[1].1 = &code;
    form[2].1 = REDIRECT;
    form[3].1 = "someone-else";
    let r = http_request("POST", &idp.token_url(), Some(&form));
    assert_eq!(error_of(&r), "invalid_client");
    assert_eq!(idp.token_requests("authorization_code"), 6);

    // introspection
    let j = introspect(&idp, access);
    assert_eq!(j["active"], true, "{j}");
    assert_eq!(j["username"], "alice");
    assert_eq!(j["client_id"], CLIENT_ID);
    assert!(j["exp"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(
        introspect(&idp, "at-made-up"),
        serde_json::json!({"active": false})
    );
    assert_eq!(idp.introspections(), 2);
    let secrets = idp.issued_secrets();
    assert!(secrets.iter().any(|s| s == access) && secrets.contains(&code));
}

#[test]
fn authorize_checks_and_user_choices() {
    let idp = MockIdp::start(0);
    let error = |r: &HttpReply| {
        assert_eq!(r.status, 302, "{r:?}");
        let q = query_params(r.header("Location").unwrap());
        assert_eq!(q["state"], "st-1");
        assert!(!q.contains_key("code"));
        q["error"].clone()
    };
    let hint = ("login_hint", "bob");
    assert_eq!(
        error(&authorize(
            &idp,
            &[hint, ("code_challenge_method", "plain")]
        )),
        "invalid_request"
    );
    assert_eq!(
        error(&authorize(&idp, &[hint, ("code_challenge", "")])),
        "invalid_request"
    );
    assert_eq!(
        error(&authorize(&idp, &[hint, ("response_type", "token")])),
        "unsupported_response_type"
    );
    for bad in [
        "https://example.com/cb",
        "http://127.0.0.1.evil.example:80/",
        "urn:x",
    ] {
        assert_eq!(
            authorize(&idp, &[hint, ("redirect_uri", bad)]).status,
            400,
            "{bad}"
        );
    }
    assert_eq!(authorize(&idp, &[hint, ("client_id", "other")]).status, 400);
    assert_eq!(authorize(&idp, &[]).status, 400, "nobody signs in");
    let localhost = authorize(&idp, &[hint, ("redirect_uri", "http://localhost:9/cb?x=1")]);
    assert!(
        localhost
            .header("Location")
            .unwrap()
            .starts_with("http://localhost:9/cb?x=1&code=")
    );

    idp.deny_next();
    assert_eq!(error(&authorize(&idp, &[hint])), "access_denied");
    // only once; and set_next_user overrides login_hint, once
    idp.set_next_user(Some("mallory"));
    let (access, _) = sign_in(&idp, "bob");
    assert_eq!(introspect(&idp, &access)["username"], "mallory");
    let (access, _) = sign_in(&idp, "bob");
    assert_eq!(introspect(&idp, &access)["username"], "bob");
}

#[test]
fn refresh_expiry_and_revocation() {
    let idp = MockIdp::start(0);
    let (access, refresh_token) = sign_in(&idp, "carol");
    let r = refresh(&idp, &refresh_token);
    assert_eq!(r.status, 200, "{r:?}");
    let j = r.json();
    let access2 = j["access_token"].as_str().unwrap().to_owned();
    assert_ne!(access2, access);
    assert!(
        j.get("refresh_token").is_none(),
        "kept unless rotating: {j}"
    );
    assert_eq!(introspect(&idp, &access)["active"], true);
    assert_eq!(introspect(&idp, &access2)["active"], true);

    // expired access tokens: inactive, but the refresh token still works
    idp.expire_access_tokens("carol");
    assert_eq!(introspect(&idp, &access)["active"], false);
    assert_eq!(introspect(&idp, &access2)["active"], false);
    let access3 = refresh(&idp, &refresh_token).json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(introspect(&idp, &access3)["active"], true);

    // expires_in 0: dead on arrival
    idp.set_expires_in(0);
    let j = refresh(&idp, &refresh_token).json();
    assert_eq!(j["expires_in"], 0);
    assert_eq!(
        introspect(&idp, j["access_token"].as_str().unwrap())["active"],
        false
    );
    idp.set_expires_in(3600);

    // rotation: a new refresh token, the old one stops working
    idp.set_rotate_refresh_tokens(true);
    let j = refresh(&idp, &refresh_token).json();
    let rotated = j["refresh_token"].as_str().unwrap().to_owned();
    assert!(rotated.starts_with("rt-") && rotated != refresh_token);
    assert_eq!(error_of(&refresh(&idp, &refresh_token)), "invalid_grant");

    // revocation: everything of carol's, nothing of dave's
    let (dave_access, dave_refresh) = sign_in(&idp, "dave");
    idp.revoke("carol");
    let r = refresh(&idp, &rotated);
    assert_eq!(error_of(&r), "invalid_grant");
    assert!(!r.json()["error_description"].as_str().unwrap().is_empty());
    assert_eq!(introspect(&idp, &access3)["active"], false);
    assert_eq!(introspect(&idp, &dave_access)["active"], true);
    assert_eq!(refresh(&idp, &dave_refresh).status, 200);
    assert_eq!(error_of(&refresh(&idp, "rt-unknown")), "invalid_grant");
    assert_eq!(idp.token_requests("refresh_token"), 8);
}

#[test]
fn device_flow() {
    let idp = MockIdp::start(0);
    let start = || {
        let form = [("client_id", CLIENT_ID), ("scope", "mail")];
        let r = http_request("POST", &idp.device_url(), Some(&form));
        assert_eq!(r.status, 200, "{r:?}");
        r.json()
    };
    let poll = |device_code: &str| {
        let form = [
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", CLIENT_ID),
        ];
        http_request("POST", &idp.token_url(), Some(&form))
    };
    let d = start();
    let device_code = d["device_code"].as_str().unwrap().to_owned();
    let user_code = d["user_code"].as_str().unwrap().to_owned();
    assert!(device_code.starts_with("dev-"));
    assert_eq!(user_code.len(), 9, "{user_code}");
    assert_eq!(d["verification_uri"], format!("{}/device", idp.base_url()));
    assert_eq!(d["expires_in"], 300);
    assert_eq!(d["interval"], 1);
    assert_eq!(idp.pending_user_codes(), vec![user_code.clone()]);
    assert_eq!(error_of(&poll(&device_code)), "authorization_pending");
    assert_eq!(error_of(&poll(&device_code)), "authorization_pending");

    // the user's browser approves it
    assert_eq!(
        http_request("GET", &idp.verification_url(), None).status,
        200
    );
    let page =
        |form: &[(&str, &str)]| http_request("POST", &idp.verification_url(), Some(form)).status;
    assert_eq!(page(&[("user_code", "ZZZZ-0000"), ("user", "erin")]), 400);
    assert_eq!(page(&[("user_code", &user_code), ("user", "erin")]), 200);
    assert!(idp.pending_user_codes().is_empty());
    let r = poll(&device_code);
    assert_eq!(r.status, 200, "{r:?}");
    let access = r.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(introspect(&idp, &access)["username"], "erin");
    assert_eq!(error_of(&poll(&device_code)), "invalid_grant", "used once");

    // denied, expired, approved by the test
    let denied = start();
    assert!(idp.deny_device(denied["user_code"].as_str().unwrap()));
    assert_eq!(
        error_of(&poll(denied["device_code"].as_str().unwrap())),
        "access_denied"
    );
    let expired = start();
    assert!(idp.expire_device(expired["user_code"].as_str().unwrap()));
    assert_eq!(
        error_of(&poll(expired["device_code"].as_str().unwrap())),
        "expired_token"
    );
    assert!(!idp.approve_device(expired["user_code"].as_str().unwrap(), "erin"));
    let ok = start();
    assert!(idp.approve_device(ok["user_code"].as_str().unwrap(), "frank"));
    let j = poll(ok["device_code"].as_str().unwrap()).json();
    assert_eq!(
        introspect(&idp, j["access_token"].as_str().unwrap())["username"],
        "frank"
    );
    assert_eq!(idp.token_requests(DEVICE_GRANT), 7);
}

#[test]
fn http_edge_cases() {
    let idp = MockIdp::start(0);
    assert_eq!(
        http_request("GET", &format!("{}/nothing", idp.base_url()), None).status,
        404
    );
    assert_eq!(http_request("GET", &idp.token_url(), None).status, 405);
    let r = http_request(
        "POST",
        &idp.token_url(),
        Some(&[("grant_type", "password")]),
    );
    assert_eq!(error_of(&r), "invalid_client");
    let form = [("grant_type", "password"), ("client_id", CLIENT_ID)];
    assert_eq!(
        error_of(&http_request("POST", &idp.token_url(), Some(&form))),
        "unsupported_grant_type"
    );

    let raw = |request: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", idp.port())).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert!(raw("nonsense\r\n\r\n").starts_with("HTTP/1.1 400 "));
    let json_body =
        "POST /token HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    assert!(raw(json_body).starts_with("HTTP/1.1 400 "));
    assert!(raw("POST /token HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 9\r\n\r\ncode=%zz1").contains("invalid_request"));

    // client id by HTTP Basic auth, body chunked
    let (_, rt) = sign_in(&idp, "gina");
    let body = format!("grant_type=refresh_token&refresh_token={rt}");
    let basic = b64(format!("{CLIENT_ID}:").as_bytes());
    let (a, b) = body.split_at(10);
    let reply = raw(&format!(
        "POST /token HTTP/1.1\r\nAuthorization: Basic {basic}\r\nTransfer-Encoding: chunked\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    ));
    assert!(
        reply.starts_with("HTTP/1.1 200 ") && reply.contains("\"access_token\":\"at-"),
        "{reply}"
    );
    let wrong = b64(b"intruder:secret");
    let reply = raw(&format!(
        "POST /token HTTP/1.1\r\nAuthorization: Basic {wrong}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    assert!(
        reply.starts_with("HTTP/1.1 401 ") && reply.contains("invalid_client"),
        "{reply}"
    );
}

// ----------------------------------------------------------------- against Dovecot

/// A bare POP3 connection to the plain port (plaintext logins are allowed there).
struct Pop(BufReader<TcpStream>);

enum Login {
    Ok(Pop),
    /// Refused: the error challenge (JSON) if Dovecot sent one, and the final -ERR line.
    Refused(Option<Value>, String),
}

impl Pop {
    fn connect(dc: &Dovecot) -> Pop {
        let s = TcpStream::connect((dc.host(), dc.plain_port())).expect("connect to Dovecot");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut p = Pop(BufReader::new(s));
        let greeting = p.line();
        assert!(greeting.starts_with("+OK"), "{greeting}");
        p
    }
    fn line(&mut self) -> String {
        let mut l = String::new();
        self.0.read_line(&mut l).expect("read from Dovecot");
        assert!(l.ends_with("\r\n"), "{l:?}");
        l.trim_end().to_owned()
    }
    fn cmd(&mut self, line: &str) -> String {
        let s = self.0.get_mut();
        s.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        self.line()
    }

    /// `AUTH <mech>`, then the base64 payload after the `+ ` prompt; an error challenge
    /// is answered with `abort` (as RFC 7628 asks), which brings the final -ERR.
    fn sasl(dc: &Dovecot, mech: &str, payload: &[u8], abort: &str) -> Login {
        let mut p = Pop::connect(dc);
        let r = p.cmd(&format!("AUTH {mech}"));
        assert_eq!(r, "+", "prompt for {mech}");
        let r = p.cmd(&b64(payload));
        if r.starts_with("+OK") {
            return Login::Ok(p);
        }
        let Some(challenge) = r.strip_prefix("+ ") else {
            return Login::Refused(None, r);
        };
        let json = base64::engine::general_purpose::STANDARD
            .decode(challenge)
            .expect("base64");
        let json = serde_json::from_slice(&json).expect("a JSON error challenge");
        Login::Refused(Some(json), p.cmd(abort))
    }
}

fn xoauth2(dc: &Dovecot, user: &str, token: &str) -> Login {
    let payload = format!("user={user}\x01auth=Bearer {token}\x01\x01");
    Pop::sasl(dc, "XOAUTH2", payload.as_bytes(), "")
}

fn oauthbearer(dc: &Dovecot, user: &str, token: &str) -> Login {
    let payload = format!("n,a={user},\x01auth=Bearer {token}\x01\x01");
    Pop::sasl(dc, "OAUTHBEARER", payload.as_bytes(), "AQ==")
}

#[track_caller]
fn logged_in(dc: &Dovecot, login: Login) -> Pop {
    match login {
        Login::Ok(p) => p,
        Login::Refused(challenge, line) => panic!(
            "refused: {challenge:?} {line}; see {}",
            dc.log_file().display()
        ),
    }
}

#[track_caller]
fn refused(login: Login) -> (Option<Value>, String) {
    match login {
        Login::Ok(_) => panic!("logged in, but should have been refused"),
        Login::Refused(challenge, line) => {
            assert!(line.starts_with("-ERR"), "{line}");
            (challenge, line)
        }
    }
}

/// The Dovecot and its identity provider, or `None` to skip.
fn setup() -> Option<(&'static Dovecot, &'static MockIdp)> {
    let dc = crate::support::dovecot::dovecot()?;
    Some((dc, dovecot_idp()?))
}

#[test]
fn dovecot_accepts_live_tokens_with_xoauth2_and_oauthbearer() {
    let Some((dc, idp)) = setup() else {
        eprintln!("skipped: Dovecot not available");
        return;
    };
    let user = dc.new_user("oauth-ok");
    user.deliver(b"Subject: hi\r\n\r\nbody\r\n");
    let (access, _) = sign_in(idp, user.name());
    let before = idp.introspections();

    let mut p = logged_in(dc, xoauth2(dc, user.name(), &access));
    assert!(p.cmd("STAT").starts_with("+OK 1 "));
    p.cmd("QUIT");
    let mut p = logged_in(dc, oauthbearer(dc, user.name(), &access));
    assert!(p.cmd("STAT").starts_with("+OK 1 "));
    p.cmd("QUIT");
    // the initial-response form, in one line
    let mut p = Pop::connect(dc);
    let payload = format!("user={}\x01auth=Bearer {access}\x01\x01", user.name());
    let r = p.cmd(&format!("AUTH XOAUTH2 {}", b64(payload.as_bytes())));
    assert!(r.starts_with("+OK"), "{r}");
    assert!(
        idp.introspections() >= before + 3,
        "Dovecot asked the provider"
    );
}

#[test]
fn dovecot_refuses_foreign_expired_and_password_tokens() {
    let Some((dc, idp)) = setup() else {
        eprintln!("skipped: Dovecot not available");
        return;
    };
    let user = dc.new_user("oauth-no");
    let other = dc.new_user("oauth-other");
    let (access, refresh_token) = sign_in(idp, user.name());
    let (other_access, _) = sign_in(idp, other.name());
    // Each refusal is followed by a good login: Dovecot delays logins from an address
    // after failed ones, until one succeeds.
    let good = |token: &str| drop(logged_in(dc, xoauth2(dc, user.name(), token)));

    // another user's (live) token
    let (challenge, _) = refused(xoauth2(dc, user.name(), &other_access));
    let challenge = challenge.expect("XOAUTH2 error challenge");
    assert_eq!(challenge["status"], "401", "{challenge}");
    assert_eq!(challenge["schemes"], "bearer", "{challenge}");
    good(&access);
    let (challenge, _) = refused(oauthbearer(dc, user.name(), &other_access));
    assert_eq!(
        challenge.expect("OAUTHBEARER error challenge")["status"],
        "invalid_token"
    );
    good(&access);

    // the shared password is not a token; it still works as a password
    refused(xoauth2(dc, user.name(), dc.password()));
    let mut p = Pop::connect(dc);
    assert!(p.cmd(&format!("USER {}", user.name())).starts_with("+OK"));
    assert!(p.cmd(&format!("PASS {}", dc.password())).starts_with("+OK"));
    assert!(p.cmd("STAT").starts_with("+OK 0 0"));
    p.cmd("QUIT");

    // an expired token, then a refreshed one
    idp.expire_access_tokens(user.name());
    refused(xoauth2(dc, user.name(), &access));
    let r = refresh(idp, &refresh_token);
    assert_eq!(r.status, 200, "{r:?}");
    let fresh = r.json()["access_token"].as_str().unwrap().to_owned();
    good(&fresh);
    let mut p = logged_in(dc, oauthbearer(dc, user.name(), &fresh));
    assert!(p.cmd("STAT").starts_with("+OK 0 0"));
}
