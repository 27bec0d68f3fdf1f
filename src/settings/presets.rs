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
}

/// (domains, provider, POP3 host). All use implicit TLS on port 995.
const TABLE: &[(&[&str], &str, &str)] = &[
    (&["gmail.com", "googlemail.com"], "Gmail", "pop.gmail.com"),
    (
        &["outlook.com", "hotmail.com", "live.com", "msn.com"],
        "Outlook.com",
        "outlook.office365.com",
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
    ),
    (&["aol.com"], "AOL Mail", "pop.aol.com"),
    (
        &["gmx.de", "gmx.net", "gmx.at", "gmx.ch"],
        "GMX",
        "pop.gmx.net",
    ),
    (&["gmx.com"], "GMX", "pop.gmx.com"),
    (&["web.de"], "WEB.DE", "pop3.web.de"),
    (&["t-online.de"], "Telekom Mail", "securepop.t-online.de"),
    (&["posteo.de", "posteo.net"], "Posteo", "posteo.de"),
    (&["mailbox.org"], "mailbox.org", "pop3.mailbox.org"),
    (&["zoho.com"], "Zoho Mail", "pop.zoho.com"),
    (
        &["yandex.com", "yandex.ru"],
        "Yandex Mail",
        "pop.yandex.com",
    ),
    (&["mail.ru"], "Mail.ru", "pop.mail.ru"),
    (&["orange.fr", "wanadoo.fr"], "Orange", "pop.orange.fr"),
    (&["free.fr"], "Free", "pop.free.fr"),
    (&["libero.it"], "Libero Mail", "popmail.libero.it"),
    (&["btinternet.com"], "BT Mail", "mail.btinternet.com"),
    (&["comcast.net"], "Xfinity", "mail.comcast.net"),
];

/// The preset for an e-mail address, if its domain is a known provider.
pub fn for_address(email: &str) -> Option<Preset> {
    let domain = email.trim().rsplit_once('@')?.1.trim().to_ascii_lowercase();
    TABLE
        .iter()
        .find(|(domains, _, _)| domains.contains(&domain.as_str()))
        .map(|&(_, provider, host)| Preset {
            provider,
            host,
            port: 995,
            security: Security::Tls,
        })
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
}
