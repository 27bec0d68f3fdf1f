//! Authentication: choosing a mechanism, and the client side of each one
//! (USER/PASS and APOP from RFC 1939; SASL PLAIN, LOGIN, CRAM-MD5 and
//! XOAUTH2 through AUTH, RFC 5034). Produces commands and response lines;
//! never sends anything itself. Every credential stays inside a `Secret`.

use std::fmt;

use base64::Engine as _;
use hmac::{KeyInit as _, Mac as _};
use md5::Digest as _;

use super::command::{AuthLine, Command, SaslResponse};
use super::reply::Capabilities;
use super::types::{Arg, ArgError, Secret, check_line_safe};

/// How to log in. `Auto` picks the strongest mechanism both sides support.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum AuthMethod {
    #[default]
    Auto,
    /// SASL CRAM-MD5: the password never crosses the wire.
    CramMd5,
    /// SASL PLAIN: the password in clear (inside TLS).
    Plain,
    /// SASL LOGIN: like PLAIN, in two steps; some old servers only offer it.
    Login,
    /// SASL XOAUTH2: an OAuth 2 access token instead of a password
    /// (Microsoft's and Google's form).
    XOAuth2,
    /// SASL OAUTHBEARER (RFC 7628): the standard form of the same.
    OAuthBearer,
    /// RFC 1939 APOP: an MD5 digest of the greeting's timestamp and the password.
    Apop,
    /// RFC 1939 USER and PASS: the password in clear (inside TLS).
    UserPass,
}

impl AuthMethod {
    pub fn sasl_name(self) -> Option<&'static str> {
        match self {
            AuthMethod::CramMd5 => Some("CRAM-MD5"),
            AuthMethod::Plain => Some("PLAIN"),
            AuthMethod::Login => Some("LOGIN"),
            AuthMethod::XOAuth2 => Some("XOAUTH2"),
            AuthMethod::OAuthBearer => Some("OAUTHBEARER"),
            AuthMethod::Auto | AuthMethod::Apop | AuthMethod::UserPass => None,
        }
    }

    /// Strongest first; what `Auto` tries. XOAUTH2 and OAUTHBEARER are
    /// never chosen automatically: they need a token, not a password.
    const AUTO_ORDER: [AuthMethod; 5] = [
        AuthMethod::CramMd5,
        AuthMethod::Plain,
        AuthMethod::Login,
        AuthMethod::Apop,
        AuthMethod::UserPass,
    ];
}

impl AuthMethod {
    /// Methods that prove the password without sending it (APOP,
    /// CRAM-MD5). Servers often announce them without having the secret
    /// they need for this user, so a refusal means "try another method",
    /// not "wrong password".
    pub fn is_challenge_response(self) -> bool {
        matches!(self, AuthMethod::Apop | AuthMethod::CramMd5)
    }

    /// Whether the secret is an OAuth 2 access token.
    pub fn is_oauth(self) -> bool {
        matches!(self, AuthMethod::XOAuth2 | AuthMethod::OAuthBearer)
    }

    pub const ALL: [AuthMethod; 8] = [
        AuthMethod::Auto,
        AuthMethod::CramMd5,
        AuthMethod::Plain,
        AuthMethod::Login,
        AuthMethod::XOAuth2,
        AuthMethod::OAuthBearer,
        AuthMethod::Apop,
        AuthMethod::UserPass,
    ];

    /// The inverse of `Display`, for remembering a method by name.
    pub fn from_name(name: &str) -> Option<AuthMethod> {
        AuthMethod::ALL.into_iter().find(|m| m.to_string() == name)
    }

    /// Its name in the settings file and on the command line.
    pub fn key(self) -> &'static str {
        match self {
            AuthMethod::Auto => "automatic",
            AuthMethod::CramMd5 => "cram-md5",
            AuthMethod::Plain => "plain",
            AuthMethod::Login => "login",
            AuthMethod::XOAuth2 => "xoauth2",
            AuthMethod::OAuthBearer => "oauthbearer",
            AuthMethod::Apop => "apop",
            AuthMethod::UserPass => "user-pass",
        }
    }

    /// Other names `from_key` accepts: the command line's earlier ones.
    pub fn key_aliases(self) -> &'static [&'static str] {
        match self {
            AuthMethod::Auto => &["auto"],
            AuthMethod::UserPass => &["user"],
            _ => &[],
        }
    }

    pub fn from_key(key: &str) -> Option<AuthMethod> {
        AuthMethod::ALL
            .into_iter()
            .find(|m| m.key() == key || m.key_aliases().contains(&key))
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthMethod::Auto => "automatic",
            AuthMethod::Apop => "APOP",
            AuthMethod::UserPass => "USER/PASS",
            other => other.sasl_name().unwrap_or("?"),
        })
    }
}

/// What the server offers, as far as the choice of a mechanism goes.
#[derive(Clone, Debug, Default)]
pub struct ServerOffer<'a> {
    /// `None` when CAPA failed or is not supported (an RFC 1939-only server).
    pub capabilities: Option<&'a Capabilities>,
    /// The APOP timestamp from the greeting, if it had a valid one.
    pub apop_timestamp: Option<&'a str>,
    /// Whether the connection is encrypted (implicit TLS or after STLS).
    pub encrypted: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChooseError {
    #[error(
        "the connection is not encrypted, and this account does not allow signing in without encryption"
    )]
    CleartextRefused,
    #[error("the server offers no sign-in method Letterbox supports (it offers: {offered})")]
    NoCommonMethod { offered: String },
    #[error("APOP needs a time stamp in the server's greeting, and this server sent none")]
    NoApopTimestamp,
}

/// Picks the method to log in with: the first of [`candidate_methods`].
pub fn choose_method(
    wanted: AuthMethod,
    offer: &ServerOffer<'_>,
    allow_cleartext: bool,
) -> Result<AuthMethod, ChooseError> {
    candidate_methods(wanted, offer, allow_cleartext, None).map(|list| list[0])
}

/// The methods to try, in order; never empty. An explicit choice is the
/// only candidate. `Auto` lists every method both sides support, strongest
/// first, with `remembered` (what worked last time) moved to the front.
///
/// Over an unencrypted connection nothing is tried without the account's
/// explicit permission (`allow_cleartext`): PLAIN, LOGIN and USER/PASS
/// send the password itself, and an eavesdropper who records an APOP or
/// CRAM-MD5 exchange can crack the password offline.
pub fn candidate_methods(
    wanted: AuthMethod,
    offer: &ServerOffer<'_>,
    allow_cleartext: bool,
    remembered: Option<AuthMethod>,
) -> Result<Vec<AuthMethod>, ChooseError> {
    if !offer.encrypted && !allow_cleartext {
        return Err(ChooseError::CleartextRefused);
    }
    if wanted != AuthMethod::Auto {
        if wanted == AuthMethod::Apop && offer.apop_timestamp.is_none() {
            return Err(ChooseError::NoApopTimestamp);
        }
        return Ok(vec![wanted]);
    }
    let offered = |method: AuthMethod| match (method, offer.capabilities) {
        (AuthMethod::Apop, _) => offer.apop_timestamp.is_some(),
        (AuthMethod::UserPass, _) => true, // the last resort: RFC 1939 requires it
        (m, Some(caps)) => m.sasl_name().is_some_and(|name| caps.supports_sasl(name)),
        (_, None) => false,
    };
    let mut list: Vec<AuthMethod> = AuthMethod::AUTO_ORDER
        .into_iter()
        .filter(|&m| offered(m))
        .collect();
    if let Some(position) = remembered.and_then(|r| list.iter().position(|&m| m == r)) {
        let method = list.remove(position);
        list.insert(0, method);
    }
    if list.is_empty() {
        return Err(ChooseError::NoCommonMethod {
            offered: offer
                .capabilities
                .map(|c| c.sasl.join(" "))
                .unwrap_or_default(),
        });
    }
    Ok(list)
}

/// Why a login exchange could not continue on the client side.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the user name or password contains characters that cannot be sent: {0}")]
    BadCredential(#[from] ArgError),
    #[error("the server's sign-in challenge was not valid base64")]
    BadChallenge,
    #[error("the server asked for more sign-in steps than {0} has")]
    TooManySteps(AuthMethod),
}

/// RFC 1939 §7 APOP: MD5 over the timestamp followed by the password, in hex.
pub fn apop_command(
    user: &str,
    timestamp: &str,
    password: &Secret<String>,
) -> Result<Command, AuthError> {
    check_line_safe(password.expose())?;
    let mut hasher = md5::Md5::new();
    hasher.update(timestamp.as_bytes());
    hasher.update(password.expose().as_bytes());
    let digest = hex(&hasher.finalize());
    Ok(Command::Apop {
        name: Arg::new(user)?,
        digest: Secret::new(Arg::new(&digest)?),
    })
}

/// RFC 5034 §4: an AUTH command line, initial response included, must fit
/// in 255 octets; otherwise the response goes in the second step.
const MAX_AUTH_LINE: usize = 255;

/// The client side of one SASL exchange.
#[derive(Debug)]
pub struct SaslExchange {
    method: AuthMethod,
    user: String,
    secret: Secret<String>,
    steps_done: usize,
}

impl SaslExchange {
    /// Starts an exchange; returns it with the AUTH command to send.
    pub fn start(
        method: AuthMethod,
        user: &str,
        secret: &Secret<String>,
    ) -> Result<(SaslExchange, Command), AuthError> {
        let Some(name) = method.sasl_name() else {
            return Err(AuthError::TooManySteps(method));
        };
        check_line_safe(user)?;
        check_line_safe(secret.expose())?;
        let mut exchange = SaslExchange {
            method,
            user: user.to_owned(),
            secret: secret.clone(),
            steps_done: 0,
        };
        let mechanism = Arg::new(name)?;
        let mut initial_response = None;
        if matches!(
            method,
            AuthMethod::Plain | AuthMethod::XOAuth2 | AuthMethod::OAuthBearer
        ) {
            let response = SaslResponse::encode(&exchange.payload());
            if "AUTH ".len() + name.len() + 1 + response.wire_len() + 2 <= MAX_AUTH_LINE {
                initial_response = Some(response);
                exchange.steps_done = 1;
            }
        }
        Ok((
            exchange,
            Command::Auth {
                mechanism,
                initial_response,
            },
        ))
    }

    /// The single message of PLAIN, XOAUTH2 and OAUTHBEARER.
    fn payload(&self) -> Vec<u8> {
        let (user, secret) = (self.user.as_bytes(), self.secret.expose().as_bytes());
        match self.method {
            // RFC 7628 §3.1: the GS2 header naming the user, then the
            // key-value pairs, each ended by ^A, and a final ^A.
            AuthMethod::OAuthBearer => [
                b"n,a=".as_slice(),
                &gs2_saslname(user),
                b",\x01auth=Bearer ",
                secret,
                b"\x01\x01",
            ]
            .concat(),
            AuthMethod::XOAuth2 => [
                b"user=".as_slice(),
                user,
                b"\x01auth=Bearer ",
                secret,
                b"\x01\x01",
            ]
            .concat(),
            _ => [b"\0".as_slice(), user, b"\0", secret].concat(),
        }
    }

    /// Answers a `+` challenge (still base64 as received).
    pub fn respond(&mut self, challenge: &str) -> Result<AuthLine, AuthError> {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(challenge.trim())
            .map_err(|_| AuthError::BadChallenge)?;
        let step = self.steps_done;
        self.steps_done += 1;
        let raw: Vec<u8> = match (self.method, step) {
            (AuthMethod::Plain | AuthMethod::XOAuth2 | AuthMethod::OAuthBearer, 0) => {
                self.payload()
            }
            // XOAUTH2 reports a failure as a challenge holding JSON; the
            // client must answer with an empty response to get the -ERR.
            (AuthMethod::XOAuth2, 1) => Vec::new(),
            // OAUTHBEARER's error challenge is answered with a lone ^A
            // (RFC 7628 §3.2.3).
            (AuthMethod::OAuthBearer, 1) => vec![0x01],
            (AuthMethod::Login, 0) => self.user.as_bytes().to_vec(),
            (AuthMethod::Login, 1) => self.secret.expose().as_bytes().to_vec(),
            (AuthMethod::CramMd5, 0) => {
                // RFC 2195: the key is the password, the text the challenge.
                let mut mac =
                    hmac::Hmac::<md5::Md5>::new_from_slice(self.secret.expose().as_bytes())
                        .map_err(|_| AuthError::BadChallenge)?;
                mac.update(&decoded);
                let digest = hex(&mac.finalize().into_bytes());
                format!("{} {digest}", self.user).into_bytes()
            }
            _ => return Err(AuthError::TooManySteps(self.method)),
        };
        Ok(AuthLine::Response(SaslResponse::encode(&raw)))
    }
}

/// RFC 5801 §4: in a GS2 header's user name, ',' and '=' are escaped.
fn gs2_saslname(user: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(user.len());
    for &b in user {
        match b {
            b',' => out.extend_from_slice(b"=2C"),
            b'=' => out.extend_from_slice(b"=3D"),
            _ => out.push(b),
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pop3::reply::parse_capabilities;

    fn line_text(line: &AuthLine) -> String {
        let mut out = Vec::new();
        line.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn b64(text: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn apop_digest_matches_rfc1939_example() {
        let cmd = apop_command(
            "mrose",
            "<1896.697170952@dbc.mtview.ca.us>",
            &Secret::new("tanstaaf".into()),
        )
        .unwrap();
        let mut out = Vec::new();
        cmd.encode(&mut out);
        assert_eq!(out, b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n");
    }

    #[test]
    fn cram_md5_matches_rfc2195_example() {
        let (mut exchange, cmd) = SaslExchange::start(
            AuthMethod::CramMd5,
            "tim",
            &Secret::new("tanstaaftanstaaf".into()),
        )
        .unwrap();
        assert_eq!(cmd.redacted(), "AUTH CRAM-MD5");
        let line = exchange
            .respond("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+")
            .unwrap();
        assert_eq!(
            line_text(&line),
            "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"
        );
    }

    #[test]
    fn plain_uses_initial_response() {
        let (_, cmd) =
            SaslExchange::start(AuthMethod::Plain, "alice", &Secret::new("pw".into())).unwrap();
        let mut out = Vec::new();
        cmd.encode(&mut out);
        assert_eq!(
            out,
            format!("AUTH PLAIN {}\r\n", b64(b"\0alice\0pw")).as_bytes()
        );
    }

    #[test]
    fn login_answers_two_challenges() {
        let (mut exchange, cmd) =
            SaslExchange::start(AuthMethod::Login, "alice", &Secret::new("pw".into())).unwrap();
        assert_eq!(cmd.redacted(), "AUTH LOGIN");
        let user = exchange.respond(&b64(b"Username:")).unwrap();
        let pass = exchange.respond(&b64(b"Password:")).unwrap();
        assert_eq!(line_text(&user), format!("{}\r\n", b64(b"alice")));
        assert_eq!(line_text(&pass), format!("{}\r\n", b64(b"pw")));
        assert_eq!(
            exchange.respond(&b64(b"More?")),
            Err(AuthError::TooManySteps(AuthMethod::Login))
        );
    }

    #[test]
    fn xoauth2_long_token_goes_in_second_step_and_error_gets_empty_answer() {
        let token = Secret::new("y".repeat(400));
        let (mut exchange, cmd) =
            SaslExchange::start(AuthMethod::XOAuth2, "a@b.c", &token).unwrap();
        assert_eq!(cmd.redacted(), "AUTH XOAUTH2");
        let first = exchange.respond("").unwrap();
        let expected =
            b64(format!("user=a@b.c\x01auth=Bearer {}\x01\x01", "y".repeat(400)).as_bytes());
        assert_eq!(line_text(&first), format!("{expected}\r\n"));
        let error = exchange.respond(&b64(br#"{"status":"401"}"#)).unwrap();
        assert_eq!(line_text(&error), "\r\n");
    }

    #[test]
    fn oauthbearer_sends_the_rfc7628_message_and_answers_an_error_with_ctrl_a() {
        let token = Secret::new("z".repeat(300));
        let (mut exchange, cmd) =
            SaslExchange::start(AuthMethod::OAuthBearer, "me,x=y@b.c", &token).unwrap();
        assert_eq!(cmd.redacted(), "AUTH OAUTHBEARER");
        let first = exchange.respond("").unwrap();
        let expected = b64(format!(
            "n,a=me=2Cx=3Dy@b.c,\x01auth=Bearer {}\x01\x01",
            "z".repeat(300)
        )
        .as_bytes());
        assert_eq!(line_text(&first), format!("{expected}\r\n"));
        let error = exchange
            .respond(&b64(br#"{"status":"invalid_token"}"#))
            .unwrap();
        assert_eq!(line_text(&error), "AQ==\r\n");
        // A short token goes in the AUTH line itself.
        let (_, cmd) =
            SaslExchange::start(AuthMethod::OAuthBearer, "a", &Secret::new("t".into())).unwrap();
        let mut out = Vec::new();
        cmd.encode(&mut out);
        let expected = b64(b"n,a=a,\x01auth=Bearer t\x01\x01");
        assert_eq!(out, format!("AUTH OAUTHBEARER {expected}\r\n").as_bytes());
    }

    #[test]
    fn xoauth2_short_token_uses_initial_response() {
        let (_, cmd) =
            SaslExchange::start(AuthMethod::XOAuth2, "a", &Secret::new("tok".into())).unwrap();
        let mut out = Vec::new();
        cmd.encode(&mut out);
        let expected = b64(b"user=a\x01auth=Bearer tok\x01\x01");
        assert_eq!(out, format!("AUTH XOAUTH2 {expected}\r\n").as_bytes());
    }

    #[test]
    fn bad_challenge_and_injection_are_refused() {
        let (mut exchange, _) =
            SaslExchange::start(AuthMethod::CramMd5, "u", &Secret::new("p".into())).unwrap();
        assert_eq!(
            exchange.respond("not base64!"),
            Err(AuthError::BadChallenge)
        );
        assert!(SaslExchange::start(AuthMethod::Plain, "u\r\n", &Secret::new("p".into())).is_err());
        assert!(apop_command("u", "<a@b>", &Secret::new("p\n".into())).is_err());
    }

    #[test]
    fn automatic_choice_prefers_strongest_and_guards_cleartext() {
        let caps = parse_capabilities(b"SASL PLAIN LOGIN CRAM-MD5\r\nUSER\r\n");
        let offer = |caps, stamp, encrypted| ServerOffer {
            capabilities: caps,
            apop_timestamp: stamp,
            encrypted,
        };
        let choose = |offer: &ServerOffer, allow| choose_method(AuthMethod::Auto, offer, allow);
        assert_eq!(
            choose(&offer(Some(&caps), None, true), false),
            Ok(AuthMethod::CramMd5)
        );

        let plain_only = parse_capabilities(b"SASL PLAIN LOGIN\r\nUSER\r\n");
        assert_eq!(
            choose(&offer(Some(&plain_only), None, true), false),
            Ok(AuthMethod::Plain)
        );
        // Unencrypted: nothing without explicit permission, APOP and
        // CRAM-MD5 included (a recorded exchange can be cracked offline).
        assert_eq!(
            choose(&offer(Some(&plain_only), None, false), false),
            Err(ChooseError::CleartextRefused)
        );
        assert_eq!(
            choose(&offer(Some(&plain_only), None, false), true),
            Ok(AuthMethod::Plain)
        );
        assert_eq!(
            choose(&offer(Some(&plain_only), Some("<1@x>"), false), false),
            Err(ChooseError::CleartextRefused)
        );
        assert_eq!(
            choose(&offer(Some(&caps), None, false), false),
            Err(ChooseError::CleartextRefused)
        );
        assert_eq!(
            choose(&offer(Some(&plain_only), Some("<1@x>"), false), true),
            Ok(AuthMethod::Plain)
        );
        // No CAPA at all: an RFC 1939 server gets USER/PASS.
        assert_eq!(
            choose(&offer(None, None, true), false),
            Ok(AuthMethod::UserPass)
        );
        // An explicit choice is honoured, within the cleartext rule.
        assert_eq!(
            choose_method(AuthMethod::Login, &offer(Some(&caps), None, true), false),
            Ok(AuthMethod::Login)
        );
        assert_eq!(
            choose_method(
                AuthMethod::UserPass,
                &offer(Some(&caps), None, false),
                false
            ),
            Err(ChooseError::CleartextRefused)
        );
        assert_eq!(
            choose_method(AuthMethod::Apop, &offer(Some(&caps), None, true), false),
            Err(ChooseError::NoApopTimestamp)
        );
    }

    #[test]
    fn automatic_lists_every_fallback_and_puts_what_worked_first() {
        let caps = parse_capabilities(b"SASL PLAIN CRAM-MD5\r\nUSER\r\n");
        let offer = ServerOffer {
            capabilities: Some(&caps),
            apop_timestamp: Some("<1.2@host>"),
            encrypted: true,
        };
        use AuthMethod::*;
        assert_eq!(
            candidate_methods(Auto, &offer, false, None),
            Ok(vec![CramMd5, Plain, Apop, UserPass])
        );
        assert_eq!(
            candidate_methods(Auto, &offer, false, Some(UserPass)),
            Ok(vec![UserPass, CramMd5, Plain, Apop])
        );
        // A remembered method the server no longer offers is ignored.
        assert_eq!(
            candidate_methods(Auto, &offer, false, Some(Login)),
            Ok(vec![CramMd5, Plain, Apop, UserPass])
        );
        assert_eq!(
            candidate_methods(Plain, &offer, false, Some(Apop)),
            Ok(vec![Plain])
        );
        for m in [
            Auto,
            CramMd5,
            Plain,
            Login,
            XOAuth2,
            OAuthBearer,
            Apop,
            UserPass,
        ] {
            assert_eq!(AuthMethod::from_name(&m.to_string()), Some(m));
        }
        assert!(Apop.is_challenge_response() && CramMd5.is_challenge_response());
        assert!(!Plain.is_challenge_response() && !UserPass.is_challenge_response());
    }
}
