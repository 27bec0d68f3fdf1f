//! Server settings of common providers, looked up from the e-mail
//! address's domain, so most people only type their address. A suggestion:
//! the user can always edit the fields.

use crate::pop3::Security;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preset {
    pub provider: &'static str,
    pub host: &'static str,
    pub port: u16,
    pub security: Security,
    pub sign_in: SignIn,
}

/// How a provider lets a mail program sign in to POP3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignIn {
    /// The account's usual password.
    Password,
    /// A separate app password (with two-step verification, or always);
    /// the text says where the provider lets you make one.
    AppPassword(&'static str),
    /// Only its own sign-in page (OAuth2), which Letterbox does not offer
    /// yet; the text says so.
    BrowserOnly(&'static str),
}

const GMAIL: SignIn = SignIn::AppPassword(
    "Gmail needs an app password here when 2-Step Verification is on: create one in your Google Account under Security → App passwords, and turn on POP in Gmail's settings (Forwarding and POP/IMAP).",
);
const OUTLOOK: SignIn = SignIn::BrowserOnly(
    "Outlook.com and Microsoft 365 accept POP3 only with Microsoft's own sign-in page, which Letterbox cannot use yet: their password is refused.",
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
/// 995.
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
}
