//! The downloaded mail from the command line, for scripts and benchmarks:
//! `index` (build or bring up to date the index of each store), `search`
//! (find messages by a word of their sender, subject or text) and
//! `attachments` (list or save the attachments of one message file).
//! Like the app, it reads the Maildir and never changes a message.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use crate::accounts::stores::store_for_account;
use crate::mail::{MessageView, attachment_bytes};
use crate::settings::Paths;
use crate::store::StorePaths;
use crate::store::export::save_new;
use crate::store::index::{Indexed, MailIndex};
use crate::store::local::LocalMail;

use super::*;

/// The stores a reading command works on, each with a label for messages.
fn stores(which: &StoreArgs) -> Result<Vec<(String, StorePaths)>, ExitCode> {
    if let Some(profile) = &which.profile {
        let entries = std::fs::read_dir(profile).map_err(|e| {
            eprintln!("letterbox: could not read {}: {e}", profile.display());
            ExitCode::from(exit::USAGE)
        })?;
        let mut found: Vec<(String, StorePaths)> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|dir| dir.join("Maildir").is_dir())
            .map(|dir| {
                let label = dir
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                (label, StorePaths::in_dir(&dir))
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        return Ok(found);
    }
    let paths = match &which.config_dir {
        Some(dir) => Paths::in_dir(dir),
        None => Paths::standard().ok_or_else(|| {
            usage(
                "no settings folder is known for this user; give --config-dir DIR or --profile DIR",
            )
        })?,
    };
    let settings = load_settings(&paths).map_err(Refusal::exit)?;
    let accounts: Vec<_> = match &which.account {
        Some(name) => {
            vec![find_account(&settings, name, &paths.settings_file).map_err(|e| usage(&e))?]
        }
        None => settings.accounts.iter().collect(),
    };
    Ok(accounts
        .into_iter()
        .map(|account| {
            let home = store_for_account(&paths, account, &settings.general);
            (account.display_name(), home.paths)
        })
        .collect())
}

pub(super) fn run_index(args: &IndexArgs) -> ExitCode {
    let stores = match stores(&args.stores) {
        Ok(stores) => stores,
        Err(code) => return code,
    };
    let started = Instant::now();
    let (mut messages, mut indexed) = (0, 0);
    for (label, paths) in &stores {
        match sync(paths) {
            Ok((_, report)) => {
                messages += report.messages;
                indexed += report.indexed;
                if !args.json {
                    println!(
                        "{label}: {} messages, {} newly indexed",
                        report.messages, report.indexed
                    );
                }
            }
            Err(e) => {
                eprintln!("letterbox: {label}: {e}");
                return ExitCode::from(exit::STORE);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "messages": messages, "indexed": indexed, "seconds": seconds })
        );
    } else {
        println!("{messages} messages, {indexed} newly indexed in {seconds:.2} s");
    }
    ExitCode::SUCCESS
}

/// Brings a store's index up to date and returns it.
fn sync(paths: &StorePaths) -> Result<(MailIndex, crate::store::index::SyncReport), String> {
    let mut index = MailIndex::open(&paths.index_file()).map_err(|e| e.to_string())?;
    let report = index
        .sync(&LocalMail::new(&paths.maildir), &mut |_, _| {}, &|| false)
        .map_err(|e| e.to_string())?;
    Ok((index, report))
}

pub(super) fn run_search(args: &SearchArgs) -> ExitCode {
    let stores = match stores(&args.stores) {
        Ok(stores) => stores,
        Err(code) => return code,
    };
    let query = args.query.join(" ");
    let mut found: Vec<(PathBuf, Indexed)> = Vec::new();
    for (label, paths) in &stores {
        let index = match sync(paths) {
            Ok((index, _)) => index,
            Err(e) => {
                eprintln!("letterbox: {label}: {e}");
                return ExitCode::from(exit::STORE);
            }
        };
        match index.search(&query) {
            Ok(hits) => {
                let mail = LocalMail::new(&paths.maildir);
                found.extend(hits.into_iter().map(|m| (mail.path_of(&m.location), m)));
            }
            Err(e) => {
                eprintln!("letterbox: {label}: {e}");
                return ExitCode::from(exit::STORE);
            }
        }
    }
    found.sort_by_key(|(_, m)| std::cmp::Reverse(m.date_unix));
    if args.json {
        let hits: Vec<_> = found
            .iter()
            .map(|(path, m)| {
                serde_json::json!({
                    "file": path,
                    "from": m.from,
                    "subject": m.subject,
                    "date": m.date_unix.map(rfc3339),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(hits));
    } else {
        for (path, m) in &found {
            println!(
                "{}  {}  {}\n    {}",
                m.date_unix.map(rfc3339).unwrap_or_default(),
                escape_controls(&m.from),
                escape_controls(&m.subject),
                path.display()
            );
        }
    }
    ExitCode::SUCCESS
}

pub(super) fn run_attachments(args: &AttachmentsArgs) -> ExitCode {
    let raw = match std::fs::read(&args.file) {
        Ok(raw) => raw,
        Err(e) => {
            eprintln!("letterbox: could not read {}: {e}", args.file.display());
            return ExitCode::from(exit::USAGE);
        }
    };
    let view = MessageView::from_bytes(&raw);
    let mut listed = Vec::new();
    for attachment in &view.attachments {
        let saved = match &args.save {
            Some(folder) => match save_part(&raw, attachment.part, folder, &attachment.file_name) {
                Ok(path) => Some(path),
                Err(e) => {
                    eprintln!(
                        "letterbox: could not save {:?} into {}: {e}",
                        attachment.file_name,
                        folder.display()
                    );
                    return ExitCode::from(exit::STORE);
                }
            },
            None => None,
        };
        listed.push((attachment, saved));
    }
    if args.json {
        let items: Vec<_> = listed
            .iter()
            .map(|(a, saved)| {
                serde_json::json!({
                    "part": a.part,
                    "name": a.name,
                    "file_name": a.file_name,
                    "type": a.mime,
                    "size": a.size_bytes,
                    "inline": a.inline,
                    "saved": saved,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(items));
    } else if listed.is_empty() {
        println!("No attachments.");
    } else {
        for (a, saved) in &listed {
            let size = crate::mail::human_size(a.size_bytes);
            match saved {
                Some(path) => println!(
                    "{} ({}, {size}) saved as {}",
                    escape_controls(&a.name),
                    a.mime,
                    path.display()
                ),
                None => println!("{} ({}, {size})", escape_controls(&a.name), a.mime),
            }
        }
    }
    ExitCode::SUCCESS
}

fn save_part(raw: &[u8], part: usize, folder: &Path, name: &str) -> std::io::Result<PathBuf> {
    let bytes = attachment_bytes(raw, part)
        .ok_or_else(|| std::io::Error::other("the part is not in the message"))?;
    save_new(folder, name, &bytes)
}

/// Unix seconds as `2026-11-24T12:00:00Z`.
pub fn rfc3339(unix: i64) -> String {
    let civil = crate::civil::Civil::from_unix(unix);
    format!("{}T{}Z", civil.ymd(), civil.hms())
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn dates_in_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_521_600), "2026-11-24T12:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}
