//! An account's browser sign-in (OAuth 2) as the settings file keeps it:
//! which provider, and the overrides of Settings → Advanced. No token is
//! ever here; those are kept where passwords are (`secrets`).

use serde::{Deserialize, Serialize};

use super::presets;

/// An account's browser sign-in: the provider, and what Settings →
/// Advanced may override (another client ID; other endpoints, for a
/// provider of one's own).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct OAuthSettings {
    /// A key of `presets::OAUTH_PROVIDERS` ("microsoft", "google").
    pub provider: String,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub device_url: Option<String>,
}

impl OAuthSettings {
    pub fn for_provider(provider: &presets::OAuthProvider) -> OAuthSettings {
        OAuthSettings {
            provider: provider.key.to_owned(),
            ..OAuthSettings::default()
        }
    }

    pub fn provider(&self) -> Option<&'static presets::OAuthProvider> {
        presets::oauth_provider(&self.provider)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_browser_sign_in_is_kept_in_the_file() {
        let mut settings = crate::settings::Settings::default();
        let mut account = crate::settings::AccountSettings::new("a");
        account.oauth = Some(super::OAuthSettings {
            provider: "microsoft".into(),
            client_id: Some("id".into()),
            token_url: Some("http://127.0.0.1:1/token".into()),
            ..Default::default()
        });
        settings.accounts.push(account);
        let text = settings.to_toml();
        let (read, notices) = crate::settings::Settings::parse(&text);
        assert_eq!(notices, Vec::<String>::new(), "{text}");
        assert_eq!(read.accounts[0].oauth, settings.accounts[0].oauth, "{text}");
    }
}
