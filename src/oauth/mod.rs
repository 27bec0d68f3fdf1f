//! Signing in through the provider's page (OAuth 2) instead of with a
//! password: Microsoft's and Google's POP3 servers want an access token.
//!
//! The protocol is the `oauth2` crate's: the authorization code with PKCE
//! (S256) in the system browser, the redirect caught on a loopback port
//! (RFC 8252), or the device code (RFC 8628) shown to be typed elsewhere;
//! then refresh grants. This module picks the endpoints (`Endpoints`),
//! runs the flows (`flow`), and hands out a fresh access token for a
//! sign-in (`access_token`): from memory while it is good, else from the
//! refresh token kept where the account's password would be. No token,
//! code or verifier is ever logged or put in an error.

mod flow;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::explain::{Explain, UserMessage};
use crate::net::{CancelToken, HttpClient};
use crate::pop3::{AuthMethod, Secret};
use crate::settings::AccountSettings;
use crate::settings::presets::OAuthProvider;
use crate::settings::secrets::{AccessToken, Passwords, SecretError};

pub use flow::{Browser, DeviceSignIn, SignedIn, sign_in_with_browser, start_device_sign_in};

/// How long the browser sign-in waits for the user.
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(300);
/// An access token closer than this to its expiry is refreshed first.
const EXPIRY_MARGIN: Duration = Duration::from_secs(120);
/// When the provider does not say how long a token lasts.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// Everything a sign-in of one account needs to know about its provider:
/// the table's entry with the account's overrides applied.
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub provider: &'static OAuthProvider,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub authorize_url: String,
    pub token_url: String,
    pub device_url: Option<String>,
    pub scopes: Vec<String>,
}

impl Endpoints {
    pub fn for_account(settings: &AccountSettings) -> Result<Endpoints, OAuthError> {
        let oauth = settings
            .oauth
            .as_ref()
            .ok_or(OAuthError::NotBrowserSignIn)?;
        let provider = oauth
            .provider()
            .ok_or_else(|| OAuthError::UnknownProvider(oauth.provider.clone()))?;
        let own = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let authorize_url =
            own(&oauth.authorize_url).unwrap_or_else(|| provider.authorize_url.to_owned());
        let token_url = own(&oauth.token_url).unwrap_or_else(|| provider.token_url.to_owned());
        let device_url = own(&oauth.device_url).or(provider.device_url.map(str::to_owned));
        // RFC 6749 §3.1, §3.2: the endpoints are TLS; only this computer's
        // own addresses (a provider under test, a local one) may be plain.
        for url in [Some(&authorize_url), Some(&token_url), device_url.as_ref()]
            .into_iter()
            .flatten()
        {
            if !secure_or_loopback(url) {
                return Err(OAuthError::Config(format!(
                    "{url:?} is not an https:// address"
                )));
            }
        }
        let client_id = own(&oauth.client_id)
            .or(provider.built_in_client_id.map(str::to_owned))
            .ok_or(OAuthError::NoClientId(provider))?;
        // A secret belongs to the client ID it came with.
        let client_secret = if own(&oauth.client_id).is_some() {
            own(&oauth.client_secret)
        } else {
            own(&oauth.client_secret).or(provider.built_in_client_secret.map(str::to_owned))
        };
        Ok(Endpoints {
            provider,
            client_id,
            client_secret,
            authorize_url,
            token_url,
            device_url,
            scopes: provider.scopes.iter().map(|s| (*s).to_owned()).collect(),
        })
    }
}

fn secure_or_loopback(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return true;
    }
    let Some(rest) = lower.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// Whether this build or the account has a client ID for the provider
/// (the sign-in button says so when not).
pub fn has_client_id(settings: &AccountSettings) -> bool {
    !matches!(
        Endpoints::for_account(settings),
        Err(OAuthError::NoClientId(_))
    )
}

/// The SASL mechanism an account signing in through the browser uses: its
/// own choice when that is a token mechanism, else its provider's.
pub fn sasl_method(settings: &AccountSettings) -> AuthMethod {
    if settings.auth.is_oauth() {
        return settings.auth;
    }
    settings
        .oauth
        .as_ref()
        .and_then(|o| o.provider())
        .map_or(AuthMethod::XOAuth2, |p| p.sasl)
}

/// Why a browser sign-in or a token refresh did not work. Messages never
/// contain a token, a code or a verifier.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("this account does not sign in through the browser")]
    NotBrowserSignIn,
    #[error("unknown sign-in provider {0:?}")]
    UnknownProvider(String),
    #[error("no client ID for {}", .0.name)]
    NoClientId(&'static OAuthProvider),
    #[error("not signed in")]
    NotSignedIn,
    /// The refresh token was refused: revoked, expired, or the password
    /// changed. Only a new sign-in helps.
    #[error("the sign-in expired or was withdrawn ({0})")]
    SignInAgain(String),
    #[error("the browser could not be opened: {0}")]
    Browser(String),
    #[error("the sign-in was not finished within {} minutes", BROWSER_TIMEOUT.as_secs() / 60)]
    TimedOut,
    #[error("the sign-in was cancelled")]
    Cancelled,
    #[error("the sign-in was refused in the browser ({0})")]
    Denied(String),
    #[error("the device code expired before it was entered")]
    DeviceCodeExpired,
    #[error("the provider refused: {0}")]
    Provider(String),
    #[error("the sign-in service could not be reached: {0}")]
    Network(String),
    #[error("the sign-in could not be kept: {0}")]
    Keyring(#[from] SecretError),
    #[error("the sign-in could not be read: {0}")]
    KeyringRead(SecretError),
    #[error("the sign-in settings are not valid: {0}")]
    Config(String),
}

impl OAuthError {
    /// Only a new sign-in in the browser helps.
    pub fn needs_sign_in(&self) -> bool {
        matches!(
            self,
            OAuthError::NotSignedIn | OAuthError::SignInAgain(_) | OAuthError::KeyringRead(_)
        )
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, OAuthError::Network(_))
    }
}

impl Explain for OAuthError {
    fn user_message(&self) -> UserMessage {
        let detail = self.to_string();
        let (headline, next_step) = match self {
            OAuthError::NotBrowserSignIn => (
                "This account signs in with a password.".to_owned(),
                "Enter the password in the account settings.".to_owned(),
            ),
            OAuthError::UnknownProvider(_) | OAuthError::Config(_) => (
                "This account's sign-in settings are not valid.".to_owned(),
                "Check the sign-in settings under Advanced in the account settings.".to_owned(),
            ),
            OAuthError::NoClientId(p) => (
                format!(
                    "This copy of Letterbox has no client ID for signing in with {}.",
                    p.name
                ),
                format!(
                    "Enter the client ID of an app registered with {} under Advanced in the account settings (the README explains how), or use a build made with {} set.",
                    p.name, p.client_id_variable
                ),
            ),
            OAuthError::NotSignedIn => (
                "This account is not signed in yet.".to_owned(),
                "Open the account settings and click the sign-in button.".to_owned(),
            ),
            OAuthError::SignInAgain(_) => (
                "The sign-in of this account has expired or was withdrawn.".to_owned(),
                "Sign in again: click “Sign in again”, or the sign-in button in the account settings."
                    .to_owned(),
            ),
            OAuthError::Browser(_) => (
                "Letterbox could not open the web browser.".to_owned(),
                "Sign in with a code instead, where the provider offers it, or set a default browser and try again.".to_owned(),
            ),
            OAuthError::TimedOut => (
                "The sign-in in the browser was not finished in time.".to_owned(),
                "Click the sign-in button to try again.".to_owned(),
            ),
            OAuthError::Cancelled => (
                "The sign-in was cancelled.".to_owned(),
                "Click the sign-in button when you want to sign in.".to_owned(),
            ),
            OAuthError::Denied(_) => (
                "The sign-in was refused or cancelled on the provider's page.".to_owned(),
                "Click the sign-in button to try again, and allow Letterbox to read your mail."
                    .to_owned(),
            ),
            OAuthError::DeviceCodeExpired => (
                "The code expired before it was entered.".to_owned(),
                "Ask for a new code and enter it within the time shown.".to_owned(),
            ),
            OAuthError::Provider(_) => (
                "The provider's sign-in service refused the request.".to_owned(),
                "Try again later; if it keeps happening, check the client ID under Advanced."
                    .to_owned(),
            ),
            OAuthError::Network(_) => (
                "Letterbox could not reach the provider's sign-in service.".to_owned(),
                "Check that this computer is online, then try again.".to_owned(),
            ),
            OAuthError::KeyringRead(_) => (
                "Letterbox could not read this account's sign-in from the keyring.".to_owned(),
                "Sign in again (it is then kept until Letterbox closes), or choose another place to keep it in the account settings.".to_owned(),
            ),
            OAuthError::Keyring(_) => (
                "Letterbox could not keep the sign-in in the keyring.".to_owned(),
                "Choose to keep it for this session only, or in a private file, in the account settings.".to_owned(),
            ),
        };
        UserMessage::new(headline, next_step, detail)
    }
}

/// One refresh at a time per account: two at once would spend the same
/// refresh token, and a provider that rotates them honours only one.
fn account_lock(account_id: &str) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    locks.entry(account_id.to_owned()).or_default().clone()
}

/// A good access token for the account: the one in memory while it has
/// some life left (unless the server just turned it down: `refused`),
/// else a new one from the refresh token. A rotated refresh token is kept.
pub fn access_token(
    passwords: &Passwords,
    settings: &AccountSettings,
    refused: Option<&Secret<String>>,
    cancel: &CancelToken,
) -> Result<Secret<String>, OAuthError> {
    let lock = account_lock(&settings.id);
    let _one_at_a_time = lock.lock().unwrap_or_else(|e| e.into_inner());
    // Another job may have renewed it meanwhile.
    if let Some(token) = passwords.access_token(&settings.id, EXPIRY_MARGIN)
        && refused.is_none_or(|r| r.expose() != token.expose())
    {
        return Ok(token);
    }
    passwords.forget_access_token(&settings.id);
    let endpoints = Endpoints::for_account(settings)?;
    let read = || {
        passwords
            .refresh_token(settings)
            .map_err(OAuthError::KeyringRead)?
            .ok_or(OAuthError::NotSignedIn)
    };
    let refresh = read()?;
    let http = HttpClient::new(cancel.clone()).map_err(|e| OAuthError::Network(e.to_string()))?;
    let signed_in = match flow::refresh(&endpoints, &http, &refresh) {
        // Another program (the command line, a second Letterbox) may have
        // rotated it since: the stored one is tried once more.
        Err(OAuthError::SignInAgain(why)) => match read() {
            Ok(stored) if stored.expose() != refresh.expose() => {
                flow::refresh(&endpoints, &http, &stored)?
            }
            _ => return Err(OAuthError::SignInAgain(why)),
        },
        other => other?,
    };
    let token = signed_in.access.token.clone();
    passwords.set_access_token(&settings.id, signed_in.access);
    if let Some(new_refresh) = &signed_in.refresh_token
        && new_refresh.expose() != refresh.expose()
    {
        // Kept for this session even where the store fails (see
        // `set_refresh_token`): the sign-in lasts until Letterbox closes.
        if let Err(e) = passwords.set_refresh_token(settings, new_refresh) {
            tracing::warn!(
                account = settings.id,
                "the renewed sign-in is kept for this session only: {e}"
            );
        }
    }
    Ok(token)
}

/// Keeps a finished sign-in: the refresh token where the password would
/// be, the access token in memory. Where that store fails the sign-in is
/// still kept for this session; the note says so.
pub fn keep(
    passwords: &Passwords,
    settings: &AccountSettings,
    signed_in: &SignedIn,
) -> Result<Option<String>, OAuthError> {
    let refresh = signed_in
        .refresh_token
        .as_ref()
        .ok_or_else(|| OAuthError::Provider("no refresh token was issued".into()))?;
    passwords.set_access_token(&settings.id, signed_in.access.clone());
    match passwords.set_refresh_token(settings, refresh) {
        Ok(()) => Ok(None),
        Err(e) if passwords.has_session_refresh_token(&settings.id) => {
            tracing::warn!(
                account = settings.id,
                "sign-in kept for this session only: {e}"
            );
            Ok(Some(
                "It could not be kept in the keyring, so it lasts until Letterbox closes; choose another place to keep it below.".into(),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

fn access_from(token: &str, expires_in: Option<Duration>) -> AccessToken {
    AccessToken {
        token: Secret::new(token.to_owned()),
        expires: Instant::now() + expires_in.unwrap_or(DEFAULT_LIFETIME),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::OAuthSettings;
    use crate::settings::presets::{GOOGLE, MICROSOFT};

    fn account(oauth: OAuthSettings) -> AccountSettings {
        let mut settings = AccountSettings::new("a1");
        settings.oauth = Some(oauth);
        settings
    }

    #[test]
    fn endpoints_take_the_accounts_overrides() {
        let mut oauth = OAuthSettings::for_provider(&MICROSOFT);
        oauth.client_id = Some(" my-id ".into());
        oauth.token_url = Some("http://127.0.0.1:9/token".into());
        let endpoints = Endpoints::for_account(&account(oauth)).unwrap();
        assert_eq!(endpoints.client_id, "my-id");
        assert_eq!(endpoints.token_url, "http://127.0.0.1:9/token");
        assert_eq!(endpoints.authorize_url, MICROSOFT.authorize_url);
        assert_eq!(endpoints.device_url.as_deref(), MICROSOFT.device_url);
        assert_eq!(endpoints.client_secret, None);
        assert_eq!(
            sasl_method(&account(OAuthSettings::for_provider(&GOOGLE))),
            AuthMethod::XOAuth2
        );
    }

    #[test]
    fn without_a_client_id_the_message_says_what_to_do() {
        let mut oauth = OAuthSettings::for_provider(&GOOGLE);
        oauth.client_id = Some("  ".into());
        let settings = account(oauth);
        if GOOGLE.built_in_client_id.is_some() {
            assert!(has_client_id(&settings));
            return;
        }
        assert!(!has_client_id(&settings));
        let message = Endpoints::for_account(&settings)
            .unwrap_err()
            .user_message();
        assert_eq!(
            message.headline,
            "This copy of Letterbox has no client ID for signing in with Google."
        );
        assert!(message.next_step.contains("LETTERBOX_GOOGLE_CLIENT_ID"));
        assert!(message.next_step.contains("under Advanced"));
    }

    #[test]
    fn endpoints_must_be_tls_unless_on_this_computer() {
        for (url, ok) in [
            ("https://login.example/token", true),
            ("HTTPS://login.example/token", true),
            ("http://127.0.0.1:8080/token", true),
            ("http://localhost/token", true),
            ("http://[::1]:99/x", true),
            ("http://login.example/token", false),
            ("http://127.0.0.1.evil.example/token", false),
            ("http://localhost.evil.example:80/", false),
            ("ftp://127.0.0.1/", false),
        ] {
            assert_eq!(secure_or_loopback(url), ok, "{url}");
        }
        let mut oauth = OAuthSettings::for_provider(&MICROSOFT);
        oauth.client_id = Some("id".into());
        oauth.token_url = Some("http://login.example/token".into());
        assert!(matches!(
            Endpoints::for_account(&account(oauth)),
            Err(OAuthError::Config(_))
        ));
    }

    #[test]
    fn a_password_account_is_not_a_browser_sign_in() {
        assert!(matches!(
            Endpoints::for_account(&AccountSettings::new("p")),
            Err(OAuthError::NotBrowserSignIn)
        ));
        let mut oauth = OAuthSettings::for_provider(&GOOGLE);
        oauth.provider = "nowhere".into();
        assert!(matches!(
            Endpoints::for_account(&account(oauth)),
            Err(OAuthError::UnknownProvider(_))
        ));
    }
}
