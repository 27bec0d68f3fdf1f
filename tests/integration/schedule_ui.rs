//! The schedule of automatic checks as a server meets it: the app against
//! the scriptable test server, its clock moved by the test. A failure that
//! waiting may cure (`[SYS/TEMP]`) doubles the wait, a success resets it,
//! and a server's LOGIN-DELAY is never undercut.

use std::time::Duration;

use egui_kittest::Harness;
use letterbox::app::{App, AppConfig, Desktop};
use letterbox::desktop::schedule::Clock;
use letterbox::pop3::{Secret, Security};
use letterbox::settings::secrets::{MemoryStore, Passwords};
use letterbox::settings::{AccountSettings, General, PasswordStorage, Paths, Settings};

use super::support::pop3_server::{Action, Fault, MailServer, ServerConfig, sample_mailbox};
use super::ui::{harness, has_text, wait_until};

const MINUTE: Duration = Duration::from_secs(60);

fn app(server: &MailServer, profile: &std::path::Path, clock: &Clock) -> Harness<'static, App> {
    let paths = Paths::in_dir(profile);
    let account = account(server);
    let passwords = Passwords::new(
        std::sync::Arc::new(MemoryStore::default()),
        paths.password_file.clone(),
    );
    passwords
        .set_for_session("test", &Secret::new("secret".into()))
        .expect("password");
    app_with(account, paths, passwords, clock)
}

/// The test server's mailbox, its password asked each session.
fn account(server: &MailServer) -> AccountSettings {
    let mut account = AccountSettings::new("test");
    account.name = "Test".into();
    account.host = "127.0.0.1".into();
    account.port = server.port();
    account.security = Security::None;
    account.allow_plaintext = true;
    account.username = "alice".into();
    account.password_storage = PasswordStorage::AskEachSession;
    account
}

/// The app with this one account, checked every five minutes by `clock`.
fn app_with(
    account: AccountSettings,
    paths: Paths,
    passwords: Passwords,
    clock: &Clock,
) -> Harness<'static, App> {
    let mut desktop = Desktop::default();
    desktop.clock = clock.clone();
    harness(AppConfig {
        paths,
        passwords,
        fixed_settings: Some(Settings {
            general: General {
                check_interval_mins: Some(5),
                ..General::default()
            },
            accounts: vec![account],
        }),
        note: None,
        native_dialogs: false,
        desktop,
    })
}

/// Waits until the server has seen `count` sessions end and the app is
/// idle again.
fn sessions_ended(harness: &mut Harness<'static, App>, server: &MailServer, count: usize) {
    wait_until(harness, &format!("{count} sessions"), |h| {
        server.sessions().iter().filter(|s| s.finished).count() >= count && !has_text(h, "Working…")
    });
}

/// Moves the clock on and gives the app time to start a check if one is
/// due; the number of sessions the server has seen then.
fn after(
    harness: &mut Harness<'static, App>,
    server: &MailServer,
    clock: &Clock,
    wait: Duration,
) -> usize {
    clock.advance(wait);
    for _ in 0..20 {
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    server.sessions().len()
}

#[test]
fn a_busy_server_doubles_the_wait_and_a_success_resets_it() {
    let server = MailServer::start(
        ServerConfig {
            // The second session: the server is busy.
            faults: vec![
                Fault::on_connect(Action::Reply("-ERR [SYS/TEMP] try again later".into()))
                    .in_session(1),
            ],
            ..ServerConfig::default()
        },
        sample_mailbox(3),
    );
    let profile = tempfile::tempdir().expect("profile");
    let clock = Clock::manual();
    let mut harness = app(&server, profile.path(), &clock);
    sessions_ended(&mut harness, &server, 1);
    // Five minutes on: the check, refused for now.
    assert_eq!(after(&mut harness, &server, &clock, 5 * MINUTE), 2);
    sessions_ended(&mut harness, &server, 2);
    // Not five minutes after that: ten.
    assert_eq!(after(&mut harness, &server, &clock, 5 * MINUTE), 2);
    assert_eq!(after(&mut harness, &server, &clock, 5 * MINUTE), 3);
    sessions_ended(&mut harness, &server, 3);
    // That one worked: five minutes again.
    assert_eq!(after(&mut harness, &server, &clock, 5 * MINUTE), 4);
    sessions_ended(&mut harness, &server, 4);
}

#[test]
fn login_delay_is_never_undercut() {
    let server = MailServer::start(
        ServerConfig {
            login_delay: Some(900),
            ..ServerConfig::default()
        },
        sample_mailbox(3),
    );
    let profile = tempfile::tempdir().expect("profile");
    let clock = Clock::manual();
    let mut harness = app(&server, profile.path(), &clock);
    sessions_ended(&mut harness, &server, 1);
    // Every five minutes is asked for, but the server allows one login in
    // fifteen.
    assert_eq!(after(&mut harness, &server, &clock, 5 * MINUTE), 1);
    assert_eq!(after(&mut harness, &server, &clock, 5 * MINUTE), 1);
    assert_eq!(after(&mut harness, &server, &clock, 5 * MINUTE), 2);
    sessions_ended(&mut harness, &server, 2);
}

/// A sign-in the provider has withdrawn: one banner, and no automatic
/// check (nor a request to the provider) until the user signs in again.
#[test]
fn a_withdrawn_sign_in_is_told_once_and_not_retried_automatically() {
    let idp = super::support::oauth_idp::MockIdp::start(0);
    let server = MailServer::start(ServerConfig::default(), sample_mailbox(3));
    let profile = tempfile::tempdir().expect("profile");
    let paths = Paths::in_dir(profile.path());
    let mut account = account(&server);
    account.oauth = Some(letterbox::settings::OAuthSettings {
        provider: "microsoft".into(),
        client_id: Some(idp.client_id().into()),
        token_url: Some(idp.token_url()),
        ..Default::default()
    });
    let passwords = Passwords::new(
        std::sync::Arc::new(MemoryStore::default()),
        paths.password_file.clone(),
    );
    // A refresh token the provider does not (any longer) honour.
    passwords
        .set_refresh_token(&account, &Secret::new("rt-withdrawn".into()))
        .expect("kept");
    let clock = Clock::manual();
    let mut harness = app_with(account, paths, passwords, &clock);
    wait_until(&mut harness, "the banner", |h| {
        has_text(
            h,
            "The sign-in of this account has expired or was withdrawn.",
        )
    });
    assert!(has_text(&harness, "Sign in again"));
    assert_eq!(idp.token_requests("refresh_token"), 1);
    for _ in 0..4 {
        after(&mut harness, &server, &clock, 10 * MINUTE);
    }
    assert_eq!(idp.token_requests("refresh_token"), 1, "no retry in a loop");
    assert!(
        server.sessions().is_empty(),
        "the server was never bothered"
    );
    assert!(has_text(&harness, "expired or was withdrawn"));
}
