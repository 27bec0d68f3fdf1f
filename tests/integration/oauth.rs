//! Signing in through the provider's page (OAuth 2) end to end: the mock
//! identity provider of the tests plays Microsoft, a real Dovecot accepts
//! XOAUTH2 and OAUTHBEARER by asking that provider (its oauth2 passdb with
//! token introspection), and the browser is an HTTP client that follows
//! the provider's redirect to Letterbox's loopback listener.
//!
//! From the app (kittest): Settings → "Sign in with Microsoft" → Save →
//! Check mail works; an access token the server stops accepting is
//! renewed from the refresh token and the check goes on; a withdrawn
//! refresh token gives one "Sign in again" banner (and no automatic
//! retries), whose button signs in again and checks. From the command
//! line: `sign-in` in the browser and with a code, then `check` and
//! `fetch`. Nowhere (settings file, connection log, trace log, messages)
//! does a token, code or verifier appear.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::kittest::{NodeT as _, Queryable as _};
use letterbox::app::{AppConfig, Desktop};
use letterbox::net::CancelToken;
use letterbox::oauth::{self, Browser, Endpoints};
use letterbox::pop3::{AuthMethod, Security};
use letterbox::settings::secrets::{MemoryStore, Passwords};
use letterbox::settings::{AccountSettings, OAuthSettings, PasswordStorage, Paths, Settings};

use super::support::dovecot::{Dovecot, DovecotUser, dovecot};
use super::support::http::http_request;
use super::support::oauth_idp::{MockIdp, dovecot_idp};
use super::ui::{harness, has_text, labels, settle, wait_until};

const MESSAGE: &[u8] = b"From: Sender <sender@example.org>\r\nTo: you@example.org\r\nSubject: Hello through OAuth\r\nMessage-ID: <oauth-1@example.org>\r\n\r\nSigned in with a token.\r\n";

/// The browser: opens the provider's page (the authorize URL), which
/// redirects to Letterbox's loopback address, and follows the redirect.
/// Like a real browser, it returns at once.
fn browser() -> Browser {
    Arc::new(|url: &str| {
        let url = url.to_owned();
        std::thread::spawn(move || {
            let page = http_request("GET", &url, None);
            assert_eq!(page.status, 302, "the provider's page: {}", page.body);
            let back = page.header("Location").expect("a redirect").to_owned();
            let done = http_request("GET", &back, None);
            assert_eq!(done.status, 200, "Letterbox's page: {}", done.body);
        });
        Ok(())
    })
}

/// "Microsoft", played by the mock provider.
fn as_microsoft(idp: &MockIdp) -> OAuthSettings {
    OAuthSettings {
        provider: "microsoft".into(),
        client_id: Some(idp.client_id().into()),
        client_secret: None,
        authorize_url: Some(idp.authorize_url()),
        token_url: Some(idp.token_url()),
        device_url: Some(idp.device_url()),
    }
}

/// An account at "Microsoft" whose endpoints are the mock provider's and
/// whose server is the test Dovecot.
fn account(dc: &Dovecot, idp: &MockIdp, user: &DovecotUser) -> AccountSettings {
    let mut account = AccountSettings::new("outlook");
    account.name = "Outlook".into();
    // The provider signs in whoever the login hint names.
    account.email = user.name().into();
    account.username = user.name().into();
    account.host = dc.host().into();
    account.port = dc.tls_port();
    account.security = Security::Tls;
    account.ca_file = Some(dc.ca_file().to_owned());
    account.auth = AuthMethod::XOAuth2;
    account.check_automatically = false;
    account.oauth = Some(as_microsoft(idp));
    account
}

fn setup(prefix: &str) -> Option<(&'static Dovecot, &'static MockIdp, DovecotUser)> {
    let dc = dovecot()?;
    let idp = dovecot_idp()?;
    let user = dc.new_user(prefix);
    user.deliver(MESSAGE);
    Some((dc, idp, user))
}

/// No secret the provider issued (tokens, codes) or received (verifiers)
/// is in `text`.
#[track_caller]
fn assert_no_secret(idp: &MockIdp, what: &str, text: &str) {
    use base64::Engine as _;
    let secrets = idp.issued_secrets();
    assert!(!secrets.is_empty(), "the provider issued nothing");
    // Also inside anything base64 (a SASL line, for one).
    let mut decoded = String::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=".contains(c))) {
        if word.len() >= 16
            && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(word)
        {
            decoded.push_str(&String::from_utf8_lossy(&bytes));
            decoded.push('\n');
        }
    }
    for secret in secrets {
        for (form, haystack) in [("", text), (" (base64)", decoded.as_str())] {
            assert!(
                !haystack.contains(&secret),
                "{what} contains a secret{form} ({}…)",
                &secret[..secret.len().min(6)]
            );
        }
    }
}

#[test]
fn sign_in_from_settings_then_check_renew_and_sign_in_again() {
    let Some((dc, idp, user)) = setup("oauth-ui") else {
        return;
    };
    let profile = tempfile::tempdir().expect("profile");
    let paths = Paths::in_dir(profile.path());
    Settings {
        accounts: vec![account(dc, idp, &user)],
        ..Settings::default()
    }
    .save(&paths.settings_file)
    .expect("settings");
    let passwords = Passwords::new(
        Arc::new(MemoryStore::default()),
        paths.password_file.clone(),
    );
    let mut desktop = Desktop::default();
    desktop.browser = Some(browser());
    let mut harness = harness(AppConfig {
        paths: paths.clone(),
        passwords: passwords.clone(),
        fixed_settings: None,
        note: None,
        native_dialogs: false,
        desktop,
    });
    wait_until(&mut harness, "the settings", |h| has_text(h, "Outlook"));

    // Not signed in yet: the check says so, and offers the sign-in.
    harness.get_by_label("Check mail").click();
    wait_until(&mut harness, "the failed check", |h| {
        has_text(h, "This account is not signed in yet.")
    });
    assert!(has_text(&harness, "Sign in again"));
    harness.get_by_label("Dismiss").click();
    settle(&mut harness);

    harness.get_by_label("Settings").click();
    settle(&mut harness);
    assert_eq!(
        harness.get_by_label("Sign in").value().as_deref(),
        Some("In the browser, with Microsoft")
    );
    assert!(
        harness.query_by_label("Password").is_none(),
        "a browser sign-in has no password field: {:?}",
        labels(&harness)
    );
    harness.get_by_label("Sign in with Microsoft").click();
    wait_until(&mut harness, "the sign-in", |h| has_text(h, "Signed in."));
    let asked = idp.authorize_requests();
    let asked = asked.last().expect("the provider's page was opened");
    assert_eq!(
        asked.get("scope").map(String::as_str),
        Some("https://outlook.office.com/POP.AccessAsUser.All offline_access")
    );
    assert_eq!(
        asked.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    assert_eq!(asked.get("login_hint"), Some(&user.name().to_owned()));
    assert!(
        asked
            .get("redirect_uri")
            .is_some_and(|r| r.starts_with("http://localhost:")),
        "{asked:?}"
    );
    harness.get_by_label("Save").click();
    settle(&mut harness);

    harness.get_by_label("Check mail").click();
    wait_until(&mut harness, "the check", |h| has_text(h, "1 new"));
    assert!(has_text(&harness, "Hello through OAuth"));
    let refreshes = idp.token_requests("refresh_token");

    // The server stops accepting the access token before its time: it is
    // renewed from the refresh token, and the check goes on.
    idp.expire_access_tokens(user.name());
    user.deliver(b"From: b@example.org\r\nSubject: Second\r\nMessage-ID: <oauth-2@example.org>\r\n\r\nTwo.\r\n");
    harness.get_by_label("Check mail").click();
    wait_until(&mut harness, "the check after renewal", |h| {
        has_text(h, "2 new")
    });
    // (Other tests share the provider: at least this one refresh.)
    assert!(idp.token_requests("refresh_token") > refreshes);

    // The sign-in is withdrawn: one clear banner, and a way back.
    idp.revoke(user.name());
    harness.get_by_label("Check mail").click();
    wait_until(&mut harness, "the sign-in-again banner", |h| {
        has_text(
            h,
            "The sign-in of this account has expired or was withdrawn.",
        )
    });
    assert!(has_text(
        &harness,
        "Click “Sign in again” and sign in with Microsoft in the browser."
    ));
    harness.get_by_label("Sign in again").click();
    wait_until(&mut harness, "the check after signing in again", |h| {
        !has_text(h, "expired or was withdrawn") && has_text(h, "Checked ")
    });
    assert!(has_text(&harness, "2 new"));

    // With a code, as where no browser can open: the code is shown, and
    // once entered (here: approved by the test) the account is signed in.
    harness.get_by_label("Settings").click();
    settle(&mut harness);
    let before: Vec<String> = idp.pending_user_codes();
    harness.get_by_label("Sign in with a code").click();
    let mut code = String::new();
    wait_until(&mut harness, "the code", |h| {
        code = idp
            .pending_user_codes()
            .into_iter()
            .find(|c| !before.contains(c))
            .unwrap_or_default();
        !code.is_empty() && has_text(h, &code)
    });
    assert!(has_text(
        &harness,
        &format!(
            "On any device, open {} and enter this code:",
            idp.verification_url()
        )
    ));
    assert!(idp.approve_device(&code, user.name()));
    wait_until(&mut harness, "the sign-in with a code", |h| {
        has_text(h, "Signed in.")
    });
    harness.get_by_label("Save").click();
    settle(&mut harness);

    // Nothing secret in the settings file or the connection log.
    let settings_file = std::fs::read_to_string(&paths.settings_file).expect("settings file");
    assert!(
        settings_file.contains("[accounts.oauth]"),
        "{settings_file}"
    );
    assert_no_secret(idp, "the settings file", &settings_file);
    harness.get_by_label("Connection log").click();
    settle(&mut harness);
    let shown = labels(&harness).join("\n");
    assert!(shown.contains("AUTH XOAUTH2"), "{shown}");
    assert_no_secret(idp, "the window (connection log included)", &shown);
}

#[test]
fn a_token_for_another_user_is_refused_and_oauthbearer_works() {
    let Some((dc, idp, user)) = setup("oauth-lib") else {
        return;
    };
    let passwords = Passwords::new(
        Arc::new(MemoryStore::default()),
        std::env::temp_dir().join("letterbox-oauth-unused.toml"),
    );
    let mut settings = account(dc, idp, &user);
    settings.password_storage = PasswordStorage::Keyring;
    let endpoints = Endpoints::for_account(&settings).expect("endpoints");
    let check = |settings: &AccountSettings, token| {
        let account = letterbox::accounts::to_account(settings, token).expect("account");
        letterbox::engine::check(
            &account,
            None,
            &letterbox::engine::CheckOptions::default(),
            letterbox::net::Observe::default(),
            &mut |_| {},
        )
    };

    // Signed in as someone else: Dovecot refuses the token for this user.
    idp.set_next_user(Some("someone-else"));
    let other =
        oauth::sign_in_with_browser(&endpoints, user.name(), &browser(), &CancelToken::new())
            .expect("sign-in");
    let refused = check(&settings, other.access.token.clone()).expect_err("another user's token");
    assert!(refused.net().is_some_and(|e| e.is_auth()), "{refused:?}");

    // The right user, with OAUTHBEARER (RFC 7628) this time.
    let own = oauth::sign_in_with_browser(&endpoints, user.name(), &browser(), &CancelToken::new())
        .expect("sign-in");
    oauth::keep(&passwords, &settings, &own).expect("kept");
    // A token about to expire is renewed before it is used.
    idp.set_expires_in(30);
    let short =
        oauth::sign_in_with_browser(&endpoints, user.name(), &browser(), &CancelToken::new())
            .expect("sign-in");
    idp.set_expires_in(3600);
    oauth::keep(&passwords, &settings, &short).expect("kept");
    let refreshes = idp.token_requests("refresh_token");
    let renewed =
        oauth::access_token(&passwords, &settings, None, &CancelToken::new()).expect("renewed");
    assert_ne!(renewed.expose(), short.access.token.expose());
    assert!(idp.token_requests("refresh_token") > refreshes);
    // A fresh one is used as it is.
    assert_eq!(
        oauth::access_token(&passwords, &settings, None, &CancelToken::new())
            .expect("kept token")
            .expose(),
        renewed.expose()
    );
    settings.auth = AuthMethod::OAuthBearer;
    let token =
        oauth::access_token(&passwords, &settings, None, &CancelToken::new()).expect("token");
    let report = check(&settings, token).expect("check with OAUTHBEARER");
    assert_eq!(report.messages.len(), 1);

    // An answer without the request's state (another page or program on
    // this computer) is turned away, and the real one still works.
    let forged: Browser = Arc::new(|url: &str| {
        let url = url.to_owned();
        std::thread::spawn(move || {
            let page = http_request("GET", &url, None);
            let back = page.header("Location").expect("a redirect").to_owned();
            let (base, _) = back.split_once('?').expect("a query");
            let turned_away =
                http_request("GET", &format!("{base}?code=forged&state=forged"), None);
            assert!(
                turned_away.body.contains("not the answer"),
                "{}",
                turned_away.body
            );
            let done = http_request("GET", &back, None);
            assert_eq!(done.status, 200);
        });
        Ok(())
    });
    let exchanges = idp.token_requests("authorization_code");
    oauth::sign_in_with_browser(&endpoints, user.name(), &forged, &CancelToken::new())
        .expect("the real answer after a forged one");
    assert_eq!(
        idp.token_requests("authorization_code"),
        exchanges + 1,
        "the forged code was never sent to the provider"
    );

    // A provider that rotates refresh tokens: each renewal brings a new
    // one, which is kept and works for the next renewal.
    idp.set_rotate_refresh_tokens(true);
    let mut last =
        oauth::access_token(&passwords, &settings, None, &CancelToken::new()).expect("token");
    for _ in 0..2 {
        let before = passwords
            .refresh_token(&settings)
            .expect("read")
            .expect("kept");
        let next = oauth::access_token(&passwords, &settings, Some(&last), &CancelToken::new())
            .expect("renewed with the rotated refresh token");
        assert_ne!(next.expose(), last.expose());
        let after = passwords
            .refresh_token(&settings)
            .expect("read")
            .expect("kept");
        assert_ne!(after.expose(), before.expose(), "the rotated token is kept");
        last = next;
    }
    idp.set_rotate_refresh_tokens(false);
    assert_eq!(
        check(&settings, last)
            .expect("check after rotation")
            .messages
            .len(),
        1
    );
}

/// The BROWSER the real binary opens (through `opener`): follows the
/// provider's redirect back to the binary's loopback listener.
fn browser_script(dir: &Path) -> std::path::PathBuf {
    let script = dir.join("browser.py");
    std::fs::write(
        &script,
        "#!/usr/bin/env python3\nimport sys, urllib.request\nurllib.request.urlopen(sys.argv[1], timeout=20).read()\n",
    )
    .expect("script");
    let mut permissions = std::fs::metadata(&script).expect("script").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&script, permissions).expect("chmod");
    script
}

fn run(args: &[&str], config: &Path, browser: Option<&Path>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_letterbox"));
    command
        .args(args)
        .env("LETTERBOX_CONFIG_DIR", config)
        .env("LETTERBOX_LOG", "trace")
        .env_remove("LETTERBOX_PASSWORD");
    match browser {
        Some(browser) => command.env("BROWSER", browser),
        None => command.env("BROWSER", "/bin/false"),
    };
    command.output().expect("letterbox runs")
}

#[test]
fn the_command_line_signs_in_in_the_browser_and_with_a_code_then_checks_and_fetches() {
    let Some((dc, idp, user)) = setup("oauth-cli") else {
        return;
    };
    let config = tempfile::tempdir().expect("config");
    let mut settings = account(dc, idp, &user);
    settings.password_storage = PasswordStorage::File;
    let paths = Paths::in_dir(config.path());
    Settings {
        accounts: vec![settings],
        ..Settings::default()
    }
    .save(&paths.settings_file)
    .expect("settings");
    let mut everything_printed = String::new();
    let keep = |printed: &mut String, output: &std::process::Output| -> String {
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        printed.push_str(&text);
        text
    };

    // Not signed in: check says what to do.
    let before = run(&["check", "--account", "Outlook"], config.path(), None);
    let text = keep(&mut everything_printed, &before);
    assert_eq!(before.status.code(), Some(5), "{text}");
    assert!(text.contains("letterbox sign-in --account"), "{text}");

    let script = browser_script(config.path());
    let signed = run(
        &["sign-in", "--account", "Outlook"],
        config.path(),
        Some(&script),
    );
    let text = keep(&mut everything_printed, &signed);
    assert!(signed.status.success(), "{text}");
    assert!(text.contains("Signed in: Outlook."), "{text}");

    let check = run(
        &["check", "--account", "Outlook", "--json"],
        config.path(),
        None,
    );
    let text = keep(&mut everything_printed, &check);
    assert!(check.status.success(), "{text}");
    assert!(text.contains("Hello through OAuth"), "{text}");
    let fetch = run(&["fetch", "--account", "Outlook"], config.path(), None);
    let text = keep(&mut everything_printed, &fetch);
    assert!(fetch.status.success(), "{text}");

    // With a code, as on a machine without a browser: the code is shown,
    // entered at the provider (here: approved by the test), and kept.
    idp.revoke(user.name());
    let mut child = Command::new(env!("CARGO_BIN_EXE_letterbox"))
        .args(["sign-in", "--account", "Outlook", "--with-code"])
        .env("LETTERBOX_CONFIG_DIR", config.path())
        .env("LETTERBOX_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sign-in runs");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("the code line");
    let code = first.trim().rsplit(' ').next().expect("a code").to_owned();
    assert!(first.contains(&idp.verification_url()), "{first}");
    assert!(idp.pending_user_codes().contains(&code), "{first}");
    assert!(idp.approve_device(&code, user.name()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the sign-in with a code never finished"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = child.wait_with_output().expect("output");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("rest");
    let text = format!("{first}{rest}\n{}", String::from_utf8_lossy(&output.stderr));
    everything_printed.push_str(&text);
    assert!(status.success(), "{text}");
    assert!(text.contains("Signed in: Outlook."), "{text}");
    let check = run(&["check", "--account", "Outlook"], config.path(), None);
    let text = keep(&mut everything_printed, &check);
    assert!(check.status.success(), "{text}");

    // Revoked again: check tells to sign in again, and exits "refused".
    idp.revoke(user.name());
    let refused = run(&["check", "--account", "Outlook"], config.path(), None);
    let text = keep(&mut everything_printed, &refused);
    assert_eq!(refused.status.code(), Some(5), "{text}");
    assert!(text.contains("expired or was withdrawn"), "{text}");

    assert!(
        everything_printed.contains("AUTH XOAUTH2"),
        "the trace log shows the conversation"
    );
    assert_no_secret(idp, "what the command line printed", &everything_printed);
    let settings_file = std::fs::read_to_string(&paths.settings_file).expect("settings");
    assert_no_secret(idp, "the settings file", &settings_file);
}

#[test]
fn an_outlook_address_offers_the_microsoft_sign_in_instead_of_a_password() {
    let fixture = super::ui::Fixture::new();
    let mut harness = fixture.app(true);
    harness.step();
    harness.get_by_label("Settings").click();
    settle(&mut harness);
    harness.get_by_label("Add account").click();
    settle(&mut harness);
    harness.get_by_label("Email address").focus();
    harness
        .get_by_label("Email address")
        .type_text("someone@outlook.com");
    harness.step();
    settle(&mut harness);
    assert_eq!(
        harness.get_by_label("Server").value().as_deref(),
        Some("outlook.office365.com")
    );
    assert_eq!(
        harness.get_by_label("Sign in").value().as_deref(),
        Some("In the browser, with Microsoft"),
        "{:?}",
        labels(&harness)
    );
    assert!(
        harness.query_by_label("Password").is_none(),
        "{:?}",
        labels(&harness)
    );
    assert!(has_text(&harness, "Let devices and apps use POP"));
    let button = harness.get_by_label("Sign in with Microsoft");
    if letterbox::settings::presets::MICROSOFT
        .built_in_client_id
        .is_none()
    {
        // This build has no client ID: the button says why it cannot work.
        assert!(button.accesskit_node().is_disabled());
        assert!(has_text(
            &harness,
            "This copy of Letterbox has no client ID for signing in with Microsoft"
        ));
        // Below the form: it scrolls into view when it takes the focus.
        harness.get_by_label("Advanced sign-in settings").focus();
        settle(&mut harness);
        harness.get_by_label("Advanced sign-in settings").click();
        settle(&mut harness);
        harness.get_by_label("Client ID").focus();
        harness
            .get_by_label("Client ID")
            .type_text("11111111-2222-3333-4444-555555555555");
        settle(&mut harness);
        assert!(
            !harness
                .get_by_label("Sign in with Microsoft")
                .accesskit_node()
                .is_disabled()
        );
        assert!(!has_text(&harness, "has no client ID"));
    }
    assert!(harness.query_by_label("Sign in with a code").is_some());

    // A password instead, if the user wants one.
    harness.get_by_label("Sign in").click();
    settle(&mut harness);
    harness.get_by_label("With a password").click();
    settle(&mut harness);
    assert!(harness.query_by_label("Password").is_some());
    assert!(harness.query_by_label("Sign in with Microsoft").is_none());
}

#[test]
fn a_sign_in_can_be_cancelled_and_a_refused_code_says_so() {
    let idp = MockIdp::start(0);
    let profile = tempfile::tempdir().expect("profile");
    let paths = Paths::in_dir(profile.path());
    let mut account = AccountSettings::new("outlook");
    account.name = "Outlook".into();
    account.email = "someone".into();
    account.username = "someone".into();
    account.host = "127.0.0.1".into();
    account.check_automatically = false;
    account.oauth = Some(as_microsoft(&idp));
    let mut desktop = Desktop::default();
    // A browser that opens and is then left alone.
    let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = opened.clone();
    desktop.browser = Some(Arc::new(move |_: &str| {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }));
    let mut harness = harness(AppConfig {
        paths: paths.clone(),
        passwords: Passwords::new(Arc::new(MemoryStore::default()), paths.password_file),
        fixed_settings: Some(Settings {
            accounts: vec![account],
            ..Settings::default()
        }),
        note: None,
        native_dialogs: false,
        desktop,
    });
    harness.step();
    harness.get_by_label("Settings").click();
    settle(&mut harness);
    harness.get_by_label("Sign in with Microsoft").click();
    wait_until(&mut harness, "the wait for the browser", |h| {
        has_text(h, "Waiting for your sign-in…")
    });
    assert_eq!(opened.load(std::sync::atomic::Ordering::SeqCst), 1);
    harness.get_by_label("Cancel sign-in").click();
    wait_until(&mut harness, "the cancel", |h| {
        has_text(h, "The sign-in was cancelled.")
    });
    assert!(harness.query_by_label("Sign in with Microsoft").is_some());

    // With a code, refused on the provider's page.
    harness.get_by_label("Sign in with a code").click();
    let mut code = String::new();
    wait_until(&mut harness, "the code", |h| {
        code = idp.pending_user_codes().pop().unwrap_or_default();
        !code.is_empty() && has_text(h, &code)
    });
    assert!(idp.deny_device(&code));
    wait_until(&mut harness, "the refusal", |h| {
        has_text(
            h,
            "The sign-in was refused or cancelled on the provider's page.",
        )
    });
    assert_eq!(idp.token_requests("authorization_code"), 0);
    harness.get_by_label("Close").click();
    settle(&mut harness);

    // From the main window's banner: the wait shows there, with Cancel.
    harness.get_by_label("Check mail").click();
    wait_until(&mut harness, "the banner", |h| {
        has_text(h, "This account is not signed in yet.")
    });
    harness.get_by_label("Sign in again").click();
    wait_until(&mut harness, "the wait in the banner", |h| {
        has_text(h, "Waiting for your sign-in in the web browser…")
    });
    assert_eq!(opened.load(std::sync::atomic::Ordering::SeqCst), 2);
    harness.get_by_label("Cancel sign-in").click();
    wait_until(&mut harness, "the banner's button again", |h| {
        h.query_by_label("Sign in again").is_some()
    });
    assert!(has_text(&harness, "This account is not signed in yet."));
}
