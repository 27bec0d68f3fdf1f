//! `letterbox sign-in --account NAME`: the browser sign-in from a
//! terminal, or with `--with-code` a code to type on any device. The
//! tokens are kept where the app keeps them, so the app, `check` and
//! `fetch` use them afterwards. Nothing secret is printed.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use crate::explain::Explain as _;
use crate::net::CancelToken;
use crate::oauth::{self, Browser, Endpoints, OAuthError};
use crate::settings::Paths;
use crate::settings::secrets::Passwords;

use super::select::{Refusal, find_account, load_settings};
use super::{SignInArgs, exit};

pub(super) fn run_sign_in(args: &SignInArgs) -> ExitCode {
    let paths = match &args.config_dir {
        Some(dir) => Paths::in_dir(dir),
        None => match Paths::standard() {
            Some(paths) => paths,
            None => {
                return Refusal::Usage("no settings folder is known; give --config-dir".into())
                    .exit();
            }
        },
    };
    let settings = match load_settings(&paths) {
        Ok(settings) => settings,
        Err(refusal) => return refusal.exit(),
    };
    let account = match find_account(&settings, &args.account, &paths.settings_file) {
        Ok(account) => account.clone(),
        Err(message) => return Refusal::Usage(message).exit(),
    };
    let label = account.display_name();
    if account.password_storage == crate::settings::PasswordStorage::AskEachSession {
        return Refusal::Usage(format!(
            "{label:?} keeps its sign-in only while the app runs, so a sign-in here would be lost when this command ends; sign in in the app, or choose the keyring or the password file for it in Settings"
        ))
        .exit();
    }
    let result = (|| -> Result<Option<String>, OAuthError> {
        let endpoints = Endpoints::for_account(&account)?;
        let cancel = CancelToken::new();
        let signed_in = if args.with_code {
            let pending = oauth::start_device_sign_in(&endpoints, &cancel)?;
            println!(
                "To sign in {label:?} with {}, open {} on any device and enter the code {}",
                endpoints.provider.name,
                pending.verification_url(),
                pending.user_code()
            );
            println!(
                "(the code works for {} minutes; waiting…)",
                pending.expires_in().as_secs().div_ceil(60)
            );
            let _ = std::io::stdout().flush();
            pending.finish(&cancel)?
        } else {
            println!(
                "Opening the browser to sign in {label:?} with {}… (no browser here? use --with-code)",
                endpoints.provider.name
            );
            let _ = std::io::stdout().flush();
            // The address too, for a browser that does not open by itself
            // (it carries no secret: the verifier never leaves here).
            let browser: Browser = Arc::new(|url: &str| {
                println!("If no browser opens, open this address yourself:\n{url}");
                let _ = std::io::stdout().flush();
                opener::open_browser(url).map_err(|e| e.to_string())
            });
            oauth::sign_in_with_browser(&endpoints, &account.email, &browser, &cancel)?
        };
        let passwords = Passwords::system(paths.password_file.clone());
        oauth::keep(&passwords, &account, &signed_in)
    })();
    match result {
        Ok(note) => {
            println!("Signed in: {label}.");
            if let Some(note) = note {
                eprintln!("letterbox: {note}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let message = e.user_message();
            eprintln!(
                "letterbox: {} {} ({})",
                message.headline, message.next_step, message.detail
            );
            ExitCode::from(match e {
                OAuthError::Network(_) => exit::NETWORK,
                OAuthError::Cancelled => exit::CANCELLED,
                OAuthError::NotBrowserSignIn
                | OAuthError::UnknownProvider(_)
                | OAuthError::NoClientId(_)
                | OAuthError::Config(_) => exit::USAGE,
                _ => exit::AUTH,
            })
        }
    }
}
