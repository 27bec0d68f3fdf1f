//! From saved settings to a mailbox the engine can open: the one place an
//! account is built, for the app and the command line alike, and the one
//! rule for which folder holds a mailbox's store (`stores`). It sits above
//! `settings`, `net` and `store` so that `settings` stays a leaf; it never
//! talks to a server and touches the disk only to read a certificate file
//! and, in `stores`, to move a whole store folder.

pub mod stores;

use crate::engine::Account;
use crate::net::{Credentials, Endpoint, Fingerprint};
use crate::pop3::{Secret, Security};
use crate::settings::AccountSettings;

/// Everything that keeps `account` from being used, as sentences for a
/// person: what the settings alone show, and what needs the network
/// layer's rules (a fingerprint that is not one).
pub fn problems(account: &AccountSettings) -> Vec<String> {
    let mut problems = account.problems();
    if let Some(fp) = &account.trusted_fingerprint
        && Fingerprint::parse(fp).is_none()
    {
        problems.push(BAD_FINGERPRINT.into());
    }
    problems
}

const BAD_FINGERPRINT: &str = "The trusted certificate fingerprint is not valid: it must be a SHA-256 fingerprint (64 hex digits).";

/// The engine's view of `account`, with its password. Reads the extra
/// certificate file if the account names one.
pub fn to_account(account: &AccountSettings, password: Secret<String>) -> Result<Account, String> {
    let mut endpoint = Endpoint::new(account.host.trim(), account.port, account.security);
    if let Some(fp) = &account.trusted_fingerprint {
        endpoint.trust.pinned = Some(Fingerprint::parse(fp).ok_or(BAD_FINGERPRINT)?);
    }
    if let Some(path) = &account.ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            format!(
                "The certificate file {} cannot be read: {e}.",
                path.display()
            )
        })?;
        endpoint.trust.extra_ca_pem = Some(pem);
    }
    Ok(Account {
        endpoint,
        credentials: Credentials {
            user: account.username.trim().to_owned(),
            secret: password,
            method: if account.oauth.is_some() {
                crate::oauth::sasl_method(account)
            } else {
                account.auth
            },
            allow_cleartext: account.security == Security::None && account.allow_plaintext,
            remembered: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> AccountSettings {
        let mut account = AccountSettings::new("acct-1");
        account.host = " pop.example.org ".into();
        account.username = "me ".into();
        account.trusted_fingerprint = Some("AB".repeat(32));
        account
    }

    #[test]
    fn builds_the_engine_account() {
        let account = to_account(&home(), Secret::new("pw".into())).unwrap();
        assert_eq!(account.endpoint.host, "pop.example.org");
        assert_eq!(account.endpoint.port, 995);
        assert!(account.endpoint.trust.pinned.is_some());
        assert_eq!(account.credentials.user, "me");
        assert!(!account.credentials.allow_cleartext);
    }

    #[test]
    fn cleartext_only_with_consent_and_no_encryption() {
        let mut settings = home();
        settings.allow_plaintext = true;
        let account = to_account(&settings, Secret::new("pw".into())).unwrap();
        assert!(
            !account.credentials.allow_cleartext,
            "consent means nothing over TLS"
        );
        settings.security = Security::None;
        let account = to_account(&settings, Secret::new("pw".into())).unwrap();
        assert!(account.credentials.allow_cleartext);
    }

    #[test]
    fn bad_fingerprint_and_missing_certificate_file() {
        let mut settings = home();
        settings.trusted_fingerprint = Some("not hex".into());
        assert_eq!(problems(&settings), [BAD_FINGERPRINT]);
        let error = to_account(&settings, Secret::new("pw".into())).unwrap_err();
        assert!(error.contains("64 hex digits"), "{error}");
        let mut settings = home();
        settings.ca_file = Some("/nonexistent/ca.pem".into());
        let error = to_account(&settings, Secret::new("pw".into())).unwrap_err();
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");
    }
}
