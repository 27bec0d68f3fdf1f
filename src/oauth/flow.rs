//! The flows themselves, through the `oauth2` crate: the browser with PKCE
//! and a loopback redirect, the device code, and the refresh grant.

use std::sync::Arc;
use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, DeviceAuthorizationUrl,
    DeviceCodeErrorResponse, DeviceCodeErrorResponseType, PkceCodeChallenge, RedirectUrl,
    RefreshToken, RequestTokenError, Scope, StandardDeviceAuthorizationResponse, TokenResponse,
    TokenUrl,
};

use super::{BROWSER_TIMEOUT, Endpoints, OAuthError, access_from};
use crate::net::{CancelToken, HttpClient, HttpError, RedirectError, RedirectListener};
use crate::pop3::Secret;
use crate::settings::secrets::AccessToken;

/// Opens a web page: the system browser (`opener`), or in the tests an
/// HTTP client that follows the redirect.
pub type Browser = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// What a finished sign-in or refresh brings.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub access: AccessToken,
    /// Issued at sign-in; a refresh may bring a new one (rotation).
    pub refresh_token: Option<Secret<String>>,
}

/// What the page the browser comes back to says.
const PAGE_DONE: &str =
    "Letterbox has your sign-in. You can close this tab and go back to Letterbox.";
const PAGE_FOREIGN: &str = "This is not the answer to Letterbox's sign-in, so it was ignored.";
const PAGE_FAILED: &str =
    "The sign-in did not work. Go back to Letterbox to see why, and try again.";

fn parse_url<T>(
    make: fn(String) -> Result<T, oauth2::url::ParseError>,
    url: &str,
) -> Result<T, OAuthError> {
    make(url.to_owned()).map_err(|e| OAuthError::Config(format!("{url:?}: {e}")))
}

fn http(cancel: &CancelToken) -> Result<HttpClient, OAuthError> {
    HttpClient::new(cancel.clone()).map_err(|e| OAuthError::Network(e.to_string()))
}

fn with_secret<A, D, I, R, T>(
    client: BasicClient<A, D, I, R, T>,
    endpoints: &Endpoints,
) -> BasicClient<A, D, I, R, T>
where
    A: oauth2::EndpointState,
    D: oauth2::EndpointState,
    I: oauth2::EndpointState,
    R: oauth2::EndpointState,
    T: oauth2::EndpointState,
{
    match &endpoints.client_secret {
        Some(secret) => client.set_client_secret(ClientSecret::new(secret.clone())),
        None => client,
    }
}

fn scopes(endpoints: &Endpoints) -> impl Iterator<Item = Scope> + '_ {
    endpoints.scopes.iter().cloned().map(Scope::new)
}

/// The browser flow: opens the provider's page, waits for its redirect to
/// a loopback port, checks the state, and trades the code (with the PKCE
/// verifier) for tokens. `login_hint` (the address) saves typing it.
pub fn sign_in_with_browser(
    endpoints: &Endpoints,
    login_hint: &str,
    browser: &Browser,
    cancel: &CancelToken,
) -> Result<SignedIn, OAuthError> {
    let listener = RedirectListener::bind().map_err(|e| OAuthError::Network(e.to_string()))?;
    let redirect = format!(
        "http://{}:{}/",
        endpoints.provider.redirect_host,
        listener.port()
    );
    let client = with_secret(
        BasicClient::new(ClientId::new(endpoints.client_id.clone()))
            .set_auth_uri(parse_url(AuthUrl::new, &endpoints.authorize_url)?)
            .set_token_uri(parse_url(TokenUrl::new, &endpoints.token_url)?)
            .set_redirect_uri(parse_url(RedirectUrl::new, &redirect)?),
        endpoints,
    );
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(scopes(endpoints))
        .set_pkce_challenge(challenge);
    if !login_hint.trim().is_empty() {
        request = request.add_extra_param("login_hint", login_hint.trim());
    }
    let (url, state) = request.url();
    tracing::info!(
        provider = endpoints.provider.key,
        port = listener.port(),
        "browser sign-in started"
    );
    browser(url.as_str()).map_err(OAuthError::Browser)?;
    let deadline = std::time::Instant::now() + BROWSER_TIMEOUT;
    // An answer without our state is not the provider's (another page or
    // program on this computer): it is turned away and the wait goes on.
    let (answer, params) = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let answer = listener.wait(left, cancel).map_err(|e| match e {
            RedirectError::TimedOut => OAuthError::TimedOut,
            RedirectError::Cancelled => OAuthError::Cancelled,
            RedirectError::Io(e) => OAuthError::Network(e.to_string()),
        })?;
        let params = answer.params.clone();
        if params.get("state").map(String::as_str) == Some(state.secret().as_str()) {
            break (answer, params);
        }
        tracing::warn!("an answer to the sign-in without its state was ignored");
        answer.reply(PAGE_FOREIGN);
    };
    if let Some(error) = params.get("error") {
        answer.reply(PAGE_FAILED);
        return Err(OAuthError::Denied(error.chars().take(80).collect()));
    }
    let Some(code) = params.get("code").filter(|c| !c.is_empty()) else {
        answer.reply(PAGE_FAILED);
        return Err(OAuthError::Provider("the answer had no code".into()));
    };
    let result = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request(&http(cancel)?);
    answer.reply(if result.is_ok() {
        PAGE_DONE
    } else {
        PAGE_FAILED
    });
    let tokens = result.map_err(token_error)?;
    tracing::info!(
        provider = endpoints.provider.key,
        "browser sign-in finished"
    );
    Ok(signed_in(&tokens))
}

/// A device sign-in under way: the code to show and where to type it.
pub struct DeviceSignIn {
    endpoints: Endpoints,
    details: StandardDeviceAuthorizationResponse,
}

impl DeviceSignIn {
    /// What the user types (not a secret: it is useless without the
    /// device code, which never leaves this process).
    pub fn user_code(&self) -> &str {
        self.details.user_code().secret()
    }

    pub fn verification_url(&self) -> &str {
        self.details.verification_uri().as_str()
    }

    pub fn expires_in(&self) -> Duration {
        self.details.expires_in()
    }

    /// Polls the token endpoint at the interval the provider asks for,
    /// until the code is entered, refused or expired, or `cancel`.
    pub fn finish(&self, cancel: &CancelToken) -> Result<SignedIn, OAuthError> {
        let client = with_secret(
            BasicClient::new(ClientId::new(self.endpoints.client_id.clone()))
                .set_token_uri(parse_url(TokenUrl::new, &self.endpoints.token_url)?),
            &self.endpoints,
        );
        let sleep = |interval: Duration| {
            // Sleeps in short steps so a cancel is seen at once; the next
            // request then fails with `Cancelled`.
            let steps = (interval.as_millis() / 100).max(1);
            for _ in 0..steps {
                if cancel.is_cancelled() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        };
        let tokens = client
            .exchange_device_access_token(&self.details)
            .request(&http(cancel)?, sleep, None)
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(response) => device_error(&response),
                RequestTokenError::Request(HttpError::Cancelled) => OAuthError::Cancelled,
                other => request_error(other),
            })?;
        Ok(signed_in(&tokens))
    }
}

/// Asks the provider for a device code (where it offers the flow).
pub fn start_device_sign_in(
    endpoints: &Endpoints,
    cancel: &CancelToken,
) -> Result<DeviceSignIn, OAuthError> {
    let Some(device_url) = &endpoints.device_url else {
        return Err(OAuthError::Config(format!(
            "{} does not offer sign-in with a code for mail",
            endpoints.provider.name
        )));
    };
    let client = with_secret(
        BasicClient::new(ClientId::new(endpoints.client_id.clone()))
            .set_device_authorization_url(parse_url(DeviceAuthorizationUrl::new, device_url)?),
        endpoints,
    );
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scopes(scopes(endpoints))
        .request(&http(cancel)?)
        .map_err(token_error)?;
    Ok(DeviceSignIn {
        endpoints: endpoints.clone(),
        details,
    })
}

/// A refresh grant: a new access token (and maybe a new refresh token).
pub(super) fn refresh(
    endpoints: &Endpoints,
    http: &HttpClient,
    refresh_token: &Secret<String>,
) -> Result<SignedIn, OAuthError> {
    let client = with_secret(
        BasicClient::new(ClientId::new(endpoints.client_id.clone()))
            .set_token_uri(parse_url(TokenUrl::new, &endpoints.token_url)?),
        endpoints,
    );
    let token = RefreshToken::new(refresh_token.expose().clone());
    let tokens = client
        .exchange_refresh_token(&token)
        .add_scopes(scopes(endpoints))
        .request(http)
        .map_err(|e| match e {
            // The refresh token is dead: only a new sign-in helps.
            RequestTokenError::ServerResponse(response)
                if *response.error() == BasicErrorResponseType::InvalidGrant =>
            {
                OAuthError::SignInAgain(describe(
                    response.error().as_ref(),
                    response.error_description(),
                ))
            }
            other => token_error(other),
        })?;
    Ok(signed_in(&tokens))
}

fn signed_in(tokens: &oauth2::basic::BasicTokenResponse) -> SignedIn {
    SignedIn {
        access: access_from(tokens.access_token().secret(), tokens.expires_in()),
        refresh_token: tokens
            .refresh_token()
            .map(|t| Secret::new(t.secret().clone())),
    }
}

/// The provider's error code and a short, single-line description: what
/// a provider writes there is its own text, never one of our secrets.
fn describe(code: &str, description: Option<&String>) -> String {
    let text: String = description
        .map(|d| d.lines().next().unwrap_or("").chars().take(160).collect())
        .unwrap_or_default();
    if text.is_empty() {
        code.to_owned()
    } else {
        format!("{code}: {text}")
    }
}

fn token_error(error: RequestTokenError<HttpError, BasicErrorResponse>) -> OAuthError {
    match error {
        RequestTokenError::ServerResponse(response) => OAuthError::Provider(describe(
            response.error().as_ref(),
            response.error_description(),
        )),
        other => request_error(other),
    }
}

fn request_error<T: oauth2::ErrorResponse>(error: RequestTokenError<HttpError, T>) -> OAuthError {
    match error {
        RequestTokenError::Request(HttpError::Cancelled) => OAuthError::Cancelled,
        RequestTokenError::Request(HttpError::Transport(e)) => OAuthError::Network(e),
        // The body is not shown: it may echo what was sent.
        RequestTokenError::Parse(e, _) => {
            OAuthError::Provider(format!("an answer Letterbox could not read ({})", e.path()))
        }
        RequestTokenError::Other(text) => OAuthError::Provider(text),
        RequestTokenError::ServerResponse(_) => OAuthError::Provider("refused".into()),
    }
}

fn device_error(response: &DeviceCodeErrorResponse) -> OAuthError {
    match response.error() {
        DeviceCodeErrorResponseType::ExpiredToken => OAuthError::DeviceCodeExpired,
        DeviceCodeErrorResponseType::AccessDenied => OAuthError::Denied(describe(
            response.error().as_ref(),
            response.error_description(),
        )),
        other => OAuthError::Provider(describe(other.as_ref(), response.error_description())),
    }
}
