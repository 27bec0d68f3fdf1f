//! A browser sign-in (OAuth 2) run for the app, on a thread of its own:
//! the flow of `oauth`, then the tokens kept (`oauth::keep`). The app
//! polls the result, shows the device code when there is one, and can
//! cancel.

use std::sync::{Arc, Mutex};

use poll_promise::Promise;

use super::{Failure, Wake, Worker, reading};
use crate::explain::Explain;
use crate::net::CancelToken;
use crate::oauth::{self, Browser, Endpoints, OAuthError, SignedIn};
use crate::pop3::Secret;
use crate::settings::AccountSettings;
use crate::settings::secrets::Passwords;

/// The code to type on another device, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceCode {
    pub user_code: String,
    pub url: String,
}

/// A sign-in under way.
pub struct SignInRun {
    pub account_id: String,
    /// "Sign in with Microsoft": the provider's name.
    pub provider: &'static str,
    pub cancel: CancelToken,
    /// For a sign-in with a code, the code once the provider gave it.
    pub device: Arc<Mutex<Option<DeviceCode>>>,
    pub result: Promise<Result<SignInDone, Failure>>,
}

/// A finished sign-in.
#[derive(Debug)]
pub struct SignInDone {
    /// Kept, but for this session only: why.
    pub note: Option<String>,
    /// Not kept yet (started from the settings dialog: kept on Save).
    pub pending: Option<SignedIn>,
}

impl SignInRun {
    pub fn device_code(&self) -> Option<DeviceCode> {
        self.device.lock().ok().and_then(|d| d.clone())
    }
}

impl Worker {
    /// Signs `settings`' account in, in the browser (`browser` opens the
    /// page) or with a code (`with_code`). With `keep`, the tokens are kept
    /// where the account's password would be; else they come back pending.
    pub fn sign_in(
        &self,
        settings: AccountSettings,
        with_code: bool,
        browser: Browser,
        keep: bool,
    ) -> SignInRun {
        let account_id = settings.id.clone();
        let cancel = CancelToken::new();
        let device = Arc::new(Mutex::new(None));
        let provider = settings
            .oauth
            .as_ref()
            .and_then(|o| o.provider())
            .map_or("the provider", |p| p.name);
        let passwords = self.passwords.clone();
        let wake: Wake = self.wake.clone();
        let (run_cancel, run_device, run_wake) = (cancel.clone(), device.clone(), wake.clone());
        let result = reading::promise(&wake, move || {
            let run = || -> Result<SignInDone, OAuthError> {
                let endpoints = Endpoints::for_account(&settings)?;
                let signed_in = if with_code {
                    let pending = oauth::start_device_sign_in(&endpoints, &run_cancel)?;
                    if let Ok(mut slot) = run_device.lock() {
                        *slot = Some(DeviceCode {
                            user_code: pending.user_code().to_owned(),
                            url: pending.verification_url().to_owned(),
                        });
                    }
                    run_wake();
                    pending.finish(&run_cancel)?
                } else {
                    oauth::sign_in_with_browser(&endpoints, &settings.email, &browser, &run_cancel)?
                };
                if !keep {
                    return Ok(SignInDone {
                        note: None,
                        pending: Some(signed_in),
                    });
                }
                oauth::keep(&passwords, &settings, &signed_in).map(|note| SignInDone {
                    note,
                    pending: None,
                })
            };
            run().map_err(|e| {
                tracing::warn!(
                    account = settings.id,
                    "sign-in failed: {}",
                    e.user_message().detail
                );
                Failure::oauth(&e, &settings)
            })
        });
        SignInRun {
            account_id,
            provider,
            cancel,
            device,
            result,
        }
    }
}

/// What the account signs in with: its password, or for a browser
/// sign-in a good access token (not `refused`, which the server just
/// turned down).
pub(super) fn sign_in_secret(
    passwords: &Passwords,
    settings: &AccountSettings,
    refused: Option<&Secret<String>>,
    cancel: &CancelToken,
) -> Result<Secret<String>, Failure> {
    if settings.oauth.is_some() {
        return crate::oauth::access_token(passwords, settings, refused, cancel)
            .map_err(|e| Failure::oauth(&e, settings));
    }
    match passwords.get(settings) {
        Ok(Some(password)) => Ok(password),
        Ok(None) => Err(Failure::no_password(None)),
        Err(e) => Err(Failure::no_password(Some(e))),
    }
}
