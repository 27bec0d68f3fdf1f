//! The `letterbox` binary: logging, the command line, and the app.

use std::process::ExitCode;

use clap::Parser as _;
use letterbox::cli::{Cli, exit};

fn main() -> ExitCode {
    // Logs go to stderr; LETTERBOX_LOG=debug shows the redacted protocol
    // conversation. Warnings only by default.
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
        None => {
            eprintln!("letterbox: the window is not built yet; try `letterbox check --help`");
            ExitCode::from(exit::USAGE)
        }
    }
}
