//! Server settings of common providers, looked up from the e-mail
//! address's domain, so most people only type their address. A suggestion:
//! the user can always edit the fields.

use crate::pop3::{AuthMethod, Security};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preset {
    pub provider: &'static str,
    pub host: &'static str,
    pub port: u16,
    pub security: Security,
    pub sign_in: SignIn,
    /// Its sign-in page in the browser (OAuth 2), where it has one.
    pub oauth: Option<&'static OAuthProvider>,
}

/// A provider's OAuth 2 sign-in (RFC 6749 with PKCE, RFC 8252 for a
/// desktop program): where the browser goes, where tokens come from,
/// what is asked for, and how the token is given to its POP3 server.
#[derive(Debug, PartialEq, Eq)]
pub struct OAuthProvider {
    /// Its name in the settings file (`oauth.provider`).
    pub key: &'static str,
    /// As the button says it: "Sign in with Microsoft".
    pub name: &'static str,
    pub authorize_url: &'static str,
    pub token_url: &'static str,
    /// The device-code endpoint (RFC 8628), where the provider allows it
    /// for mail: a code typed on another device's browser.
    pub device_url: Option<&'static str>,
    pub scopes: &'static [&'static str],
    /// The redirect's host: what the app registration names (Microsoft
    /// matches `http://localhost` with any port; Google the address).
    pub redirect_host: &'static str,
    /// The SASL mechanism its POP3 server takes the token with.
    pub sasl: AuthMethod,
    /// The client ID (and the desktop "secret", which Google issues and
    /// does not treat as secret) of whoever built this copy: compiled in
    /// from the build's environment, overridable per account.
    pub built_in_client_id: Option<&'static str>,
    pub built_in_client_secret: Option<&'static str>,
    /// The variable a distributor sets when building.
    pub client_id_variable: &'static str,
}

pub static MICROSOFT: OAuthProvider = OAuthProvider {
    key: "microsoft",
    name: "Microsoft",
    authorize_url: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
    token_url: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
    device_url: Some("https://login.microsoftonline.com/common/oauth2/v2.0/devicecode"),
    scopes: &[
        "https://outlook.office.com/POP.AccessAsUser.All",
        "offline_access",
    ],
    redirect_host: "localhost",
    sasl: AuthMethod::XOAuth2,
    built_in_client_id: option_env!("LETTERBOX_MICROSOFT_CLIENT_ID"),
    built_in_client_secret: None,
    client_id_variable: "LETTERBOX_MICROSOFT_CLIENT_ID",
};

/// Google allows its device flow only for a few scopes, and full mail
/// access is not one: the browser on this machine is the only way.
pub static GOOGLE: OAuthProvider = OAuthProvider {
    key: "google",
    name: "Google",
    authorize_url: "https://accounts.google.com/o/oauth2/v2/auth",
    token_url: "https://oauth2.googleapis.com/token",
    device_url: None,
    scopes: &["https://mail.google.com/"],
    redirect_host: "127.0.0.1",
    sasl: AuthMethod::XOAuth2,
    built_in_client_id: option_env!("LETTERBOX_GOOGLE_CLIENT_ID"),
    built_in_client_secret: option_env!("LETTERBOX_GOOGLE_CLIENT_SECRET"),
    client_id_variable: "LETTERBOX_GOOGLE_CLIENT_ID",
};

pub static OAUTH_PROVIDERS: [&OAuthProvider; 2] = [&MICROSOFT, &GOOGLE];

/// The provider of an `oauth.provider` key.
pub fn oauth_provider(key: &str) -> Option<&'static OAuthProvider> {
    OAUTH_PROVIDERS.iter().copied().find(|p| p.key == key)
}

/// How a provider lets a mail program sign in to POP3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignIn {
    /// The account's usual password.
    Password,
    /// A separate app password (with two-step verification, or always);
    /// the text says where the provider lets you make one.
    AppPassword(&'static str),
    /// Only its own sign-in page in the browser (OAuth 2); the text says
    /// what else to turn on.
    BrowserOnly(&'static str),
}

const GMAIL: SignIn = SignIn::AppPassword(
    "Gmail needs an app password here when 2-Step Verification is on: create one in your Google Account under Security → App passwords, and turn on POP in Gmail's settings (Forwarding and POP/IMAP). Or sign in with Google instead.",
);
const OUTLOOK: SignIn = SignIn::BrowserOnly(
    "Outlook.com and Microsoft 365 accept POP3 only through Microsoft's own sign-in page, not with a password. Turn on POP in Outlook.com's settings first (Mail → Forwarding and IMAP → Let devices and apps use POP).",
);
const YAHOO: SignIn = SignIn::AppPassword(
    "Yahoo Mail needs an app password: create one under Account Info → Account security → Generate app password.",
);
const AOL: SignIn = SignIn::AppPassword(
    "AOL Mail needs an app password: create one under Account Info → Account security → Generate app password.",
);
const GMX: SignIn = SignIn::AppPassword(
    "Allow POP3 access in the webmail settings first (POP3 & IMAP). With two-factor authentication on, an app-specific password is needed here, made in the security settings of your account.",
);
const ZOHO: SignIn = SignIn::AppPassword(
    "Zoho Mail needs POP access turned on in its settings, and with two-factor authentication on, an application-specific password made under My Account → Security → App passwords.",
);
const FASTMAIL: SignIn = SignIn::AppPassword(
    "Fastmail needs an app password: create one in Fastmail's settings under Privacy & Security → Manage app passwords, with access to POP.",
);

/// (domains, provider, POP3 host, sign-in). All use implicit TLS on port
/// 995; the browser sign-in is `oauth_of`.
const TABLE: &[(&[&str], &str, &str, SignIn)] = &[
    (
        &["gmail.com", "googlemail.com"],
        "Gmail",
        "pop.gmail.com",
        GMAIL,
    ),
    (
        &["outlook.com", "hotmail.com", "live.com", "msn.com"],
        "Outlook.com",
        "outlook.office365.com",
        OUTLOOK,
    ),
    (
        &[
            "yahoo.com",
            "yahoo.co.uk",
            "yahoo.fr",
            "yahoo.de",
            "ymail.com",
        ],
        "Yahoo Mail",
        "pop.mail.yahoo.com",
        YAHOO,
    ),
    (&["aol.com"], "AOL Mail", "pop.aol.com", AOL),
    (
        &["gmx.de", "gmx.net", "gmx.at", "gmx.ch"],
        "GMX",
        "pop.gmx.net",
        GMX,
    ),
    (&["gmx.com"], "GMX", "pop.gmx.com", GMX),
    (&["web.de"], "WEB.DE", "pop3.web.de", GMX),
    (
        &["t-online.de"],
        "Telekom Mail",
        "securepop.t-online.de",
        SignIn::Password,
    ),
    (
        &["posteo.de", "posteo.net"],
        "Posteo",
        "posteo.de",
        SignIn::Password,
    ),
    (
        &["mailbox.org"],
        "mailbox.org",
        "pop3.mailbox.org",
        SignIn::Password,
    ),
    (&["zoho.com"], "Zoho Mail", "pop.zoho.com", ZOHO),
    (
        &["yandex.com", "yandex.ru"],
        "Yandex Mail",
        "pop.yandex.com",
        SignIn::Password,
    ),
    (&["mail.ru"], "Mail.ru", "pop.mail.ru", SignIn::Password),
    (
        &["orange.fr", "wanadoo.fr"],
        "Orange",
        "pop.orange.fr",
        SignIn::Password,
    ),
    (&["free.fr"], "Free", "pop.free.fr", SignIn::Password),
    (
        &["libero.it"],
        "Libero Mail",
        "popmail.libero.it",
        SignIn::Password,
    ),
    (
        &["btinternet.com"],
        "BT Mail",
        "mail.btinternet.com",
        SignIn::Password,
    ),
    (
        &["comcast.net"],
        "Xfinity",
        "mail.comcast.net",
        SignIn::Password,
    ),
    (
        &["fastmail.com", "fastmail.fm"],
        "Fastmail",
        "pop.fastmail.com",
        FASTMAIL,
    ),
];

/// The preset for an e-mail address, if its domain is a known provider.
pub fn for_address(email: &str) -> Option<Preset> {
    let domain = email.trim().rsplit_once('@')?.1.trim().to_ascii_lowercase();
    TABLE
        .iter()
        .find(|(domains, ..)| domains.contains(&domain.as_str()))
        .map(preset)
}

/// The preset of a known provider's POP3 server name.
pub fn for_host(host: &str) -> Option<Preset> {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    TABLE
        .iter()
        .find(|(_, _, known, _)| *known == host)
        .map(preset)
}

fn preset(&(_, provider, host, sign_in): &(&[&str], &'static str, &'static str, SignIn)) -> Preset {
    Preset {
        provider,
        host,
        port: 995,
        security: Security::Tls,
        sign_in,
        oauth: oauth_of(host),
    }
}

/// The browser sign-in of a provider's POP3 server.
fn oauth_of(host: &str) -> Option<&'static OAuthProvider> {
    match host {
        "outlook.office365.com" => Some(&MICROSOFT),
        "pop.gmail.com" => Some(&GOOGLE),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_domains() {
        let gmail = for_address("Someone@GMail.com ").unwrap();
        assert_eq!(
            (gmail.host, gmail.port, gmail.security),
            ("pop.gmail.com", 995, Security::Tls)
        );
        assert_eq!(
            for_address("a@hotmail.com").unwrap().host,
            "outlook.office365.com"
        );
        assert_eq!(for_address("a@web.de").unwrap().provider, "WEB.DE");
        assert_eq!(for_address("a@unknown.example"), None);
        assert_eq!(for_address("no-at-sign"), None);
    }

    #[test]
    fn providers_that_want_another_password_say_where_to_get_it() {
        let yahoo = for_address("me@yahoo.com").unwrap();
        assert!(
            matches!(yahoo.sign_in, SignIn::AppPassword(text) if text.contains("Generate app password"))
        );
        assert!(matches!(
            for_address("me@hotmail.com").unwrap().sign_in,
            SignIn::BrowserOnly(_)
        ));
        assert_eq!(
            for_address("me@posteo.de").unwrap().sign_in,
            SignIn::Password
        );
        // By server name too (the account may have no address).
        assert_eq!(for_host("POP.GMAIL.COM.").unwrap().provider, "Gmail");
        assert_eq!(for_host("pop.fastmail.com").unwrap().provider, "Fastmail");
        assert_eq!(for_host("mail.example.org"), None);
    }

    #[test]
    fn microsoft_and_google_sign_in_in_the_browser() {
        let outlook = for_address("me@outlook.com").unwrap();
        let microsoft = outlook.oauth.unwrap();
        assert_eq!(microsoft.key, "microsoft");
        assert!(microsoft.authorize_url.contains("/common/"));
        assert_eq!(
            microsoft.scopes,
            [
                "https://outlook.office.com/POP.AccessAsUser.All",
                "offline_access"
            ]
        );
        assert!(microsoft.device_url.is_some());
        let google = for_address("me@gmail.com").unwrap().oauth.unwrap();
        assert_eq!(google.scopes, ["https://mail.google.com/"]);
        assert_eq!(google.device_url, None);
        assert_eq!(oauth_provider("google"), Some(&GOOGLE));
        assert_eq!(oauth_provider("yahoo"), None);
        assert_eq!(for_address("me@yahoo.com").unwrap().oauth, None);
        for provider in OAUTH_PROVIDERS {
            assert_eq!(provider.sasl, AuthMethod::XOAuth2);
            assert!(provider.token_url.starts_with("https://"));
        }
    }
}
