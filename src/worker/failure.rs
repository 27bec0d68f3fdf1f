//! What went wrong with a job, ready for the UI: the sentence to show,
//! and what the app can offer (the password box, trusting a certificate,
//! a new ledger, a quiet retry).

use crate::engine;
use crate::explain::{Explain, UserMessage};
use crate::net::CertificateInfo;
use crate::settings::secrets::SecretError;
use crate::store::StoreError;

/// A failure, ready for the UI.
#[derive(Clone, Debug)]
pub struct Failure {
    pub message: UserMessage,
    /// An untrusted certificate the user may choose to trust.
    pub certificate: Option<Box<CertificateInfo>>,
    pub transient: bool,
    /// The password was refused or is missing: ask for it.
    pub needs_password: bool,
    /// The ledger is damaged: offer to start a new one.
    pub ledger_damaged: bool,
    pub cancelled: bool,
    /// The machine seems offline: the server's name could not be looked
    /// up, or no route leads to it.
    pub offline: bool,
    /// The server refused the sign-in (or none of its methods would do).
    pub refused: bool,
    /// The server said no to the credentials themselves.
    turned_down: bool,
    /// A browser sign-in (OAuth 2) has to be done again: the refresh
    /// token was refused, or there is none yet.
    pub sign_in_again: bool,
}

impl Failure {
    pub(super) fn from_engine(error: &engine::Error) -> Failure {
        let net = error.net();
        Failure {
            message: error.user_message(),
            certificate: net.and_then(|e| e.certificate()).cloned().map(Box::new),
            transient: error.is_transient(),
            needs_password: net.is_some_and(|e| e.is_auth()),
            ledger_damaged: matches!(
                error,
                engine::Error::Store(
                    StoreError::LedgerCorrupt { .. } | StoreError::LedgerSetAside { .. }
                )
            ),
            cancelled: matches!(net, Some(crate::net::Error::Cancelled)),
            offline: net.is_some_and(crate::net::Error::is_offline),
            refused: net.is_some_and(crate::net::Error::is_auth),
            turned_down: net
                .is_some_and(|e| e.is_auth() && matches!(e, crate::net::Error::AuthFailed { .. })),
            sign_in_again: false,
        }
    }

    /// A refused sign-in at a provider that wants another password than
    /// the account's usual one (or none at all) says so, and where to get
    /// it, instead of "wrong password".
    pub fn for_account(mut self, settings: &crate::settings::AccountSettings) -> Failure {
        use crate::settings::presets::{self, SignIn};
        // A browser sign-in has no password to ask for: a refusal of a
        // fresh token means POP is off for the mailbox, or the sign-in
        // belongs to another address.
        if let Some(provider) = settings.oauth.as_ref().and_then(|o| o.provider())
            && self.turned_down
        {
            self.needs_password = false;
            self.sign_in_again = true;
            self.message.headline =
                format!("The mail server refused your {} sign-in.", provider.name);
            self.message.next_step = format!(
                "Check that POP is turned on for this mailbox in its web settings, and that you signed in as {}; then sign in again.",
                if settings.username.trim().is_empty() {
                    "this account's user"
                } else {
                    settings.username.trim()
                }
            );
            return self;
        }
        let Some(preset) = presets::for_host(&settings.host).filter(|_| self.refused) else {
            return self;
        };
        match preset.sign_in {
            SignIn::AppPassword(where_to) => {
                self.message.headline = format!(
                    "{} refused the password: this provider needs an app password.",
                    preset.provider
                );
                self.message.next_step = where_to.to_owned();
            }
            SignIn::BrowserOnly(why) => {
                self.message.headline = format!("{} refused the password.", preset.provider);
                self.message.next_step = why.to_owned();
            }
            SignIn::Password => {}
        }
        self
    }

    pub(super) fn no_password(detail: Option<SecretError>) -> Failure {
        let (headline, next_step) = match &detail {
            Some(SecretError::Unavailable(_)) => (
                "Letterbox could not reach the keyring to read this account's password.",
                "Enter the password; you can choose to keep it for this session only, or in a private file, in the account settings.",
            ),
            _ => (
                "Letterbox needs this account's password.",
                "Enter the password in the account settings.",
            ),
        };
        Failure {
            needs_password: true,
            ..Failure::told(UserMessage {
                headline: headline.into(),
                next_step: next_step.into(),
                detail: detail.map_or_else(|| "no password stored".into(), |e| e.to_string()),
            })
        }
    }

    /// Only a message: nothing to offer but Dismiss.
    fn told(message: UserMessage) -> Failure {
        Failure {
            message,
            certificate: None,
            transient: false,
            needs_password: false,
            ledger_damaged: false,
            cancelled: false,
            offline: false,
            refused: false,
            turned_down: false,
            sign_in_again: false,
        }
    }

    /// A browser sign-in that could not give a token.
    pub fn oauth(
        error: &crate::oauth::OAuthError,
        settings: &crate::settings::AccountSettings,
    ) -> Failure {
        let mut message = error.user_message();
        if error.needs_sign_in()
            && let Some(provider) = settings.oauth.as_ref().and_then(|o| o.provider())
        {
            message.next_step = format!(
                "Click “Sign in again” and sign in with {} in the browser.",
                provider.name
            );
        }
        Failure {
            transient: error.is_transient(),
            cancelled: matches!(error, crate::oauth::OAuthError::Cancelled),
            sign_in_again: error.needs_sign_in(),
            ..Failure::told(message)
        }
    }

    /// A setting that keeps the account from being used.
    pub fn invalid(problem: String) -> Failure {
        Failure::told(UserMessage {
            headline: problem,
            next_step: "Correct it in Settings.".into(),
            detail: String::new(),
        })
    }
}
