//! The command line: `letterbox check` and `fetch` for scripting, tests
//! and benchmarks, and `index`, `search` and `attachments` for the
//! downloaded mail. It parses arguments into the engine's types, runs the
//! engine, and prints results; every failure class has its own exit code
//! and a sentence on stderr. A mailbox is either given whole (`--url`) or
//! taken from the app's settings (`--account`); either way its store is
//! the one the app would use (`accounts::stores`), never a second one.
//! Like the app, it never opens a socket or writes mail itself: the engine
//! does both, under the same safety rules; and it never prints a password
//! or unescaped server text.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use crate::engine::{self, CheckOptions, FetchPolicy};
use crate::net::Observe;
use crate::pop3::escape_controls;

mod args;
mod output;
mod reading;
mod select;
mod sign_in;

pub use args::*;
pub use output::exit_code;
use output::*;
use select::*;
pub use select::{PopUrl, connection, find_account, parse_url};

/// Runs a parsed subcommand.
pub fn run(command: CliCommand) -> ExitCode {
    match command {
        CliCommand::Check(args) => run_check(&args),
        CliCommand::Fetch(args) => run_fetch(&args),
        CliCommand::SignIn(args) => sign_in::run_sign_in(&args),
        CliCommand::Index(args) => reading::run_index(&args),
        CliCommand::Search(args) => reading::run_search(&args),
        CliCommand::Attachments(args) => reading::run_attachments(&args),
        CliCommand::DemoServer(args) => run_demo_server(&args),
        CliCommand::GenerateDocs { out } => match generate_docs(&out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!(
                    "letterbox: could not write the documentation into {}: {e}",
                    out.display()
                );
                ExitCode::from(exit::INTERNAL)
            }
        },
    }
}

/// Man pages (one per command) and completions for bash, zsh and fish,
/// generated from the same definition the parser uses, so they never drift.
pub fn generate_docs(out: &Path) -> std::io::Result<()> {
    use clap::CommandFactory as _;
    let man = out.join("man");
    let completions = out.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    let command = Cli::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    std::fs::write(man.join("letterbox.1"), page)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("letterbox-{}", sub.get_name());
        let sub = sub.clone().name(name.clone());
        let mut page = Vec::new();
        clap_mangen::Man::new(sub).render(&mut page)?;
        std::fs::write(man.join(format!("{name}.1")), page)?;
    }
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        let mut command = Cli::command();
        clap_complete::generate_to(shell, &mut command, "letterbox", &completions)?;
    }
    Ok(())
}

fn run_demo_server(args: &DemoServerArgs) -> ExitCode {
    let server = match crate::demo::DemoServer::start(args.port, !args.plain) {
        Ok(server) => server,
        Err(e) => {
            eprintln!(
                "letterbox: could not start the demo server on port {}: {e}",
                args.port
            );
            return ExitCode::from(exit::NETWORK);
        }
    };
    let scheme = if args.plain { "pop3" } else { "pop3s" };
    let mut banner = format!(
        "Demo POP3 server on 127.0.0.1:{} ({}). User: demo, password: demo.\n",
        server.port(),
        if args.plain { "plain" } else { "TLS" }
    );
    if !args.plain {
        banner.push_str(&format!(
            "Certificate SHA-256 fingerprint: {}\n",
            crate::demo::certificate_fingerprint()
        ));
    }
    banner.push_str(&format!(
        "Try: LETTERBOX_PASSWORD=demo letterbox check --url {scheme}://demo@127.0.0.1:{}{}\n",
        server.port(),
        if args.plain {
            " --security none --allow-plaintext".to_owned()
        } else {
            format!(" --fingerprint {}", crate::demo::certificate_fingerprint())
        }
    ));
    // Whoever started us may stop reading; the server keeps running anyway.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(banner.as_bytes());
    let _ = out.flush();
    drop(out);
    loop {
        std::thread::park();
    }
}

fn run_check(args: &CheckArgs) -> ExitCode {
    let Target { account, store } = match target(&args.connect, args.profile.as_deref(), false) {
        Ok(target) => target,
        Err(refusal) => return refusal.exit(),
    };
    // TLS is set up while the store opens.
    prepare_tls(&account);
    let mut store = match store.map(|home| home.open()).transpose() {
        Ok(store) => store,
        Err(error) => return fail(&error.into()),
    };
    let options = CheckOptions {
        preview_lines: args.preview_lines,
        expire_after_days: None,
        retr_preview_max_bytes: args.preview_download_limit_kb.min(100_000) * 1000,
    };
    let result = engine::check(
        &account,
        store.as_mut(),
        &options,
        Observe::default(),
        &mut |_| {},
    );
    match result {
        Ok(report) => {
            warn_unidentifiable(&report.previews.skipped_uidls);
            let with_new = store.is_some();
            let printed = if args.json {
                print_json(&report, with_new)
            } else {
                print_text(&report, &account)
            };
            match printed {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::from(exit::INTERNAL),
            }
        }
        Err(error) => fail(&error),
    }
}

fn run_fetch(args: &FetchArgs) -> ExitCode {
    let (account, home) = match target(&args.connect, args.profile.as_deref(), true) {
        Ok(Target {
            account,
            store: Some(home),
        }) => (account, home),
        Ok(Target { store: None, .. }) => {
            return usage("no data folder is known for this user; give --profile DIR");
        }
        Err(refusal) => return refusal.exit(),
    };
    prepare_tls(&account);
    let opened = if args.start_new_ledger {
        home.open_starting_over()
    } else {
        home.open()
    };
    let mut store = match opened {
        Ok(store) => store,
        Err(error) => return fail(&error.into()),
    };
    let policy = FetchPolicy {
        delete: args.delete,
        all: args.all,
    };
    match engine::fetch(
        &account,
        &mut store,
        policy,
        Observe::default(),
        &mut |_| {},
    ) {
        Ok(report) => {
            warn_unidentifiable(&report.unidentifiable);
            let printed = if args.json {
                print_fetch_json(&report, store.maildir.root())
            } else {
                print_fetch_text(&report, store.maildir.root())
            };
            if printed.is_err() {
                return ExitCode::from(exit::INTERNAL);
            }
            if report.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                for (key, reason) in &report.failed {
                    eprintln!(
                        "letterbox: message {key} was not fetched: {}",
                        escape_controls(reason)
                    );
                }
                ExitCode::from(exit::SERVER)
            }
        }
        Err(error) => fail(&error),
    }
}

fn prepare_tls(account: &engine::Account) {
    if account.endpoint.security != crate::pop3::Security::None {
        account.endpoint.trust.prepare();
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("letterbox: {message}");
    ExitCode::from(exit::USAGE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Security;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("pop3s://alice@mail.example.org").unwrap(),
            PopUrl {
                security: Security::Tls,
                user: "alice".into(),
                host: "mail.example.org".into(),
                port: None
            }
        );
        let u = parse_url("pop3://alice@example.org@pop.example.org:1110/").unwrap();
        assert_eq!(
            (u.security, u.user.as_str(), u.port),
            (Security::StartTls, "alice@example.org", Some(1110))
        );
        assert_eq!(parse_url("pop3s://a%40b.c@h").unwrap().user, "a@b.c");
        let v6 = parse_url("pop3s://u@[::1]:995").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", Some(995)));
        for bad in [
            "imap://u@h",
            "pop3s://h",
            "pop3s://@h",
            "pop3s://u@",
            "pop3s://u@h:0",
            "pop3s://u@h:x",
            "pop3s://u%4@h",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn docs_are_generated_for_every_command() {
        let dir = tempfile::tempdir().unwrap();
        generate_docs(dir.path()).unwrap();
        for page in [
            "letterbox.1",
            "letterbox-check.1",
            "letterbox-fetch.1",
            "letterbox-demo-server.1",
        ] {
            let text = std::fs::read_to_string(dir.path().join("man").join(page)).unwrap();
            assert!(text.contains(".TH"), "{page} is a man page");
        }
        assert!(
            !dir.path().join("man/letterbox-generate-docs.1").exists(),
            "hidden commands get no page"
        );
        let fetch = std::fs::read_to_string(dir.path().join("man/letterbox-fetch.1")).unwrap();
        assert!(fetch.contains("delete"), "options are documented");
        for file in ["letterbox.bash", "_letterbox", "letterbox.fish"] {
            let text = std::fs::read_to_string(dir.path().join("completions").join(file)).unwrap();
            assert!(text.contains("fetch"), "{file} completes subcommands");
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
