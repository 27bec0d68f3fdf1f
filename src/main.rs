//! The `letterbox` binary: logging, the command line, and the app.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;
use letterbox::app::{self, AppConfig};
use letterbox::cli::{Cli, exit};
use letterbox::desktop::instance;
use letterbox::settings::Paths;
use letterbox::settings::secrets::{MemoryStore, Passwords};

fn main() -> ExitCode {
    // Logs go to stderr; LETTERBOX_LOG=debug shows more, LETTERBOX_LOG=trace
    // the protocol conversation (passwords redacted). Warnings by default.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LETTERBOX_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Some(command) => letterbox::cli::run(command),
        None if cli.demo => run_demo(),
        None => run_app(),
    }
}

fn run_app() -> ExitCode {
    let Some(paths) = Paths::standard() else {
        eprintln!("letterbox: this system has no home folder for the settings");
        return ExitCode::from(exit::INTERNAL);
    };
    let desktop = app::Desktop::session();
    // One Letterbox at a time on the same accounts: a second launch brings
    // the running one up and ends.
    let _primary = match instance::runtime_dir()
        .map(|dir| instance::start(&dir, desktop.sender(), desktop.wake()))
    {
        Some(Ok(instance::Start::HandedOver)) => {
            eprintln!("letterbox: Letterbox is already running; its window was brought up");
            return ExitCode::SUCCESS;
        }
        Some(Ok(instance::Start::First(primary))) => Some(primary),
        Some(Err(instance::InstanceError::NoAnswer(e))) => {
            eprintln!(
                "letterbox: Letterbox is already running but does not answer ({e}). Close it, or end it in the system monitor, and start Letterbox again."
            );
            return ExitCode::from(exit::INTERNAL);
        }
        Some(Err(e)) => {
            tracing::warn!("{e}; a second launch will not find this one");
            None
        }
        None => None,
    };
    let config = AppConfig {
        passwords: Passwords::system(paths.password_file.clone()),
        paths,
        fixed_settings: None,
        note: None,
        native_dialogs: true,
        desktop,
    };
    finish(app::run_native(config, None))
}

/// The app against the built-in demo server, in a temporary profile that is
/// removed on exit.
fn run_demo() -> ExitCode {
    let server = match letterbox::demo::DemoServer::start(0, true) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("letterbox: could not start the demo server: {e}");
            return ExitCode::from(exit::NETWORK);
        }
    };
    let server = Arc::new(server);
    let dir = std::env::temp_dir().join(format!("letterbox-demo-{}", std::process::id()));
    let keyring = Arc::new(MemoryStore::default());
    let mut config = AppConfig {
        note: Some("Demo mailbox on this computer (user demo, password demo); your own settings are not touched".into()),
        desktop: demo_desktop(),
        ..AppConfig::demo(Paths::in_dir(&dir), keyring, server.port())
    };
    if let Some(settings) = &config.fixed_settings
        && let Err(e) = letterbox::demo::seed_downloads(&config.paths, settings)
    {
        eprintln!("letterbox: the demo's sample downloads could not be made: {e}");
    }
    // The demo checks every minute by itself, and a minute and a half in,
    // new mail arrives: the automatic check finds it and the desktop says so.
    if let Some(settings) = config.fixed_settings.as_mut() {
        settings.general.check_interval_mins = Some(1);
    }
    let arriving = server.clone();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(90));
        arriving.deliver(letterbox::demo::arriving_message());
    });
    let result = app::run_native(config, Some(dir.join("ui-state")));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    finish(result)
}

/// The demo's desktop: notifications and the tray, but no "start at
/// login" (the demo touches nothing of the user's).
fn demo_desktop() -> app::Desktop {
    let mut desktop = app::Desktop::session();
    desktop.autostart_dir = None;
    desktop
}

fn finish(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("letterbox: the window could not be opened: {e}");
            eprintln!("  Letterbox needs a graphical desktop (X11 or Wayland) with OpenGL.");
            ExitCode::from(exit::INTERNAL)
        }
    }
}
