//! Status bar, error banners, the connection log, and the small dialogs:
//! confirming deletions and asking for a password. Errors are sentences
//! with a next step; the technical detail is one click away.

use crate::mail::human_size;
use crate::net::Direction;
use crate::pop3::Secret;

use std::collections::VecDeque;

use super::{Command, Confirm, LogLine, PasswordPrompt, View, local_time};

/// `note`: shown after the accounts (what the demo is, for one).
pub(crate) fn status_bar_ui(
    ui: &mut egui::Ui,
    view: &View,
    note: Option<&str>,
    log_open: &mut bool,
) {
    egui::Panel::bottom("status").show(ui, |ui| {
        ui.horizontal(|ui| {
            if ui.button("Connection log").clicked() {
                *log_open = !*log_open;
            }
            ui.separator();
            let mut parts = Vec::new();
            for account in &view.settings.accounts {
                let Some(state) = view.accounts.get(&account.id) else {
                    continue;
                };
                let name = account.display_name();
                let part = if state.busy.is_some() {
                    format!("{name}: working…")
                } else if let Some(error) = &state.error {
                    format!("{name}: {}", error.message.headline)
                } else if let Some(at) = state.last_check_unix {
                    format!(
                        "{name}: {} new of {} ({}), checked {}",
                        state.new_count(),
                        state.total,
                        human_size(state.size_bytes),
                        local_time(at)
                    )
                } else if let Some(at) = state.as_of_unix {
                    format!(
                        "{name}: {} new of {} as of {}, not checked yet",
                        state.new_count(),
                        state.total,
                        if at > 0 {
                            local_time(at)
                        } else {
                            "the last session".to_owned()
                        }
                    )
                } else {
                    format!("{name}: not checked yet")
                };
                parts.push(part);
            }
            if let Some(note) = note {
                parts.push(note.to_owned());
            }
            ui.add(egui::Label::new(parts.join("   ·   ")).truncate());
        });
    });
}

/// Problems of the selected account and general notices, at the top of the
/// message area.
pub(crate) fn banners_ui(
    ui: &mut egui::Ui,
    view: &View,
    notices: &[String],
    commands: &mut Vec<Command>,
) {
    if !notices.is_empty() {
        egui::Frame::group(ui.style()).show(ui, |ui| {
            for notice in notices {
                ui.label(notice);
            }
            if ui.button("Dismiss").clicked() {
                commands.push(Command::DismissNotices);
            }
        });
    }
    let Some(account) = view.selected else {
        return;
    };
    let Some(state) = view.accounts.get(&account.id) else {
        return;
    };
    if state.checked && !state.uidl_supported {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            "This server does not give messages stable ids (UIDL); Letterbox recognises them by their headers instead.",
        );
    }
    if state.checked
        && let Some(note) = state.preview_notes.account_note()
    {
        ui.colored_label(ui.visuals().warn_fg_color, note);
    }
    if state.server_deletes_on_download {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            "This server deletes every message once it is downloaded, whatever Letterbox asks.",
        );
    }
    if let Some(notice) = &state.notice {
        ui.horizontal_wrapped(|ui| {
            ui.label(notice);
            if ui.small_button("Dismiss").clicked() {
                commands.push(Command::DismissNotice(account.id.clone()));
            }
        });
    }
    if !state.apply_problems.is_empty() {
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.label(egui::RichText::new("Some messages were not handled as asked:").strong());
            for problem in &state.apply_problems {
                ui.label(problem);
            }
            if ui.button("OK").clicked() {
                commands.push(Command::DismissApplyProblems(account.id.clone()));
            }
        });
    }
    let Some(error) = &state.error else {
        return;
    };
    egui::Frame::group(ui.style())
        .fill(ui.visuals().extreme_bg_color)
        .show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                super::icons::warning(ui, "Problem");
                ui.label(egui::RichText::new(&error.message.headline).strong());
            });
            ui.label(&error.message.next_step);
            if let Some(cert) = &error.certificate {
                egui::Grid::new("certificate")
                    .num_columns(2)
                    .show(ui, |ui| {
                        ui.label("Issued to");
                        ui.label(&cert.subject);
                        ui.end_row();
                        ui.label("Issued by");
                        ui.label(&cert.issuer);
                        ui.end_row();
                        ui.label("Valid");
                        ui.label(format!("{} to {}", cert.not_before, cert.not_after));
                        ui.end_row();
                        ui.label("SHA-256 fingerprint");
                        ui.add(
                            egui::Label::new(
                                egui::RichText::new(cert.sha256.to_string()).monospace(),
                            )
                            .wrap(),
                        );
                        ui.end_row();
                    });
            }
            ui.horizontal(|ui| {
                if let Some(cert) = &error.certificate
                    && ui
                        .button("Trust this certificate")
                        .on_hover_text("Remember this exact certificate for this account")
                        .clicked()
                {
                    commands.push(Command::TrustCertificate {
                        account_id: account.id.clone(),
                        fingerprint: cert.sha256.to_string(),
                    });
                }
                if error.needs_password && ui.button("Enter password").clicked() {
                    commands.push(Command::AskPassword(account.id.clone()));
                }
                if error.sign_in_again && view.signing_in == Some(account.id.as_str()) {
                    ui.add(egui::Spinner::new());
                    ui.label("Waiting for your sign-in in the web browser…");
                    if ui.button("Cancel sign-in").clicked() {
                        commands.push(Command::CancelSignIn);
                    }
                } else if error.sign_in_again
                    && ui
                        .button("Sign in again")
                        .on_hover_text("Opens the provider's sign-in page in your web browser")
                        .clicked()
                {
                    commands.push(Command::SignInAgain(account.id.clone()));
                }
                if error.ledger_damaged && ui.button("Start a new record").clicked() {
                    commands.push(Command::StartNewLedger(account.id.clone()));
                }
                if error.transient && ui.button("Try again").clicked() {
                    commands.push(Command::Check(account.id.clone()));
                }
                if ui.button("Dismiss").clicked() {
                    commands.push(Command::DismissError(account.id.clone()));
                }
            });
            if !error.message.detail.is_empty() {
                egui::CollapsingHeader::new("Details")
                    .id_salt("error-details")
                    .show(ui, |ui| {
                        ui.add(
                            egui::Label::new(
                                egui::RichText::new(&error.message.detail).monospace(),
                            )
                            .wrap(),
                        );
                    });
            }
        });
    ui.add_space(4.0);
}

pub(crate) fn log_window_ui(
    ctx: &egui::Context,
    log: &VecDeque<LogLine>,
    open: &mut bool,
    commands: &mut Vec<Command>,
) {
    egui::Window::new("Connection log")
        .open(open)
        .default_size([640.0, 360.0])
        .show(ctx, |ui| {
            ui.label("The conversation with the mail servers. Passwords are never shown.");
            ui.horizontal(|ui| {
                if ui.button("Copy to clipboard").clicked() {
                    let text: String = log
                        .iter()
                        .map(|l| format!("{} {} {}\n", l.account, arrow(l.direction), l.text))
                        .collect();
                    ui.ctx().copy_text(text);
                }
                if ui.button("Clear").clicked() {
                    commands.push(Command::ClearLog);
                }
            });
            ui.separator();
            let row_height = ui.text_style_height(&egui::TextStyle::Monospace);
            egui::ScrollArea::both()
                .stick_to_bottom(true)
                .auto_shrink([false, false])
                .show_rows(ui, row_height, log.len(), |ui, range| {
                    for line in log.range(range) {
                        ui.label(
                            egui::RichText::new(format!(
                                "{} {} {}",
                                line.account,
                                arrow(line.direction),
                                line.text
                            ))
                            .monospace(),
                        );
                    }
                });
        });
}

fn arrow(direction: Direction) -> &'static str {
    match direction {
        Direction::ToServer => "C:",
        Direction::FromServer => "S:",
    }
}

pub(crate) fn confirm_ui(
    ctx: &egui::Context,
    confirm: &mut Option<Confirm>,
    commands: &mut Vec<Command>,
) {
    if let Some(Confirm::Quit { staged }) = confirm {
        let count: usize = staged.iter().map(|(_, n)| n).sum();
        let mut close = false;
        let modal = egui::Modal::new(egui::Id::unique("confirm-quit")).show(ctx, |ui| {
            ui.set_max_width(440.0);
            ui.heading("Quit Letterbox?");
            ui.label(format!(
                "{count} {} marked for deletion and nothing has been deleted yet.",
                if count == 1 {
                    "message is"
                } else {
                    "messages are"
                }
            ));
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                if ui.button("Apply now").clicked() {
                    commands.push(Command::QuitApplying);
                    close = true;
                }
                if ui.button("Quit without deleting").clicked() {
                    commands.push(Command::QuitWithoutApplying);
                    close = true;
                }
                if ui.button("Cancel").clicked() {
                    close = true;
                }
            });
        });
        if close || modal.should_close() {
            *confirm = None;
        }
        return;
    }
    let Some(Confirm::Deletions {
        account_id,
        count,
        not_downloaded,
    }) = confirm
    else {
        return;
    };
    let (account_id, count, not_downloaded) = (account_id.clone(), *count, *not_downloaded);
    let mut close = false;
    let modal = egui::Modal::new(egui::Id::unique("confirm-deletions")).show(ctx, |ui| {
        ui.set_max_width(420.0);
        ui.heading("Delete from the server?");
        let plural = if count == 1 { "message" } else { "messages" };
        ui.label(format!("{count} {plural} will be deleted from the server."));
        if not_downloaded > 0 {
            let they = if not_downloaded == 1 {
                "1 of them was not downloaded and will be gone for good".to_owned()
            } else {
                format!("{not_downloaded} of them were not downloaded and will be gone for good")
            };
            ui.colored_label(ui.visuals().warn_fg_color, format!("{they}."));
        }
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if ui.button("Delete from server").clicked() {
                commands.push(Command::ConfirmApply(account_id.clone()));
                close = true;
            }
            if ui.button("Cancel").clicked() {
                close = true;
            }
        });
    });
    if close || modal.should_close() {
        *confirm = None;
    }
}

pub(crate) fn password_prompt_ui(
    ctx: &egui::Context,
    prompt_state: &mut Option<PasswordPrompt>,
    commands: &mut Vec<Command>,
) {
    let Some(prompt) = prompt_state.as_mut() else {
        return;
    };
    let mut submit = false;
    let mut close = false;
    let modal = egui::Modal::new(egui::Id::unique("password-prompt")).show(ctx, |ui| {
        ui.set_max_width(380.0);
        ui.heading("Password needed");
        ui.label(format!("Enter the password for {}.", prompt.account_name));
        let label = ui.label("Password");
        let field = ui
            .add(egui::TextEdit::singleline(&mut prompt.text).password(true))
            .labelled_by(label.id);
        // What the user types goes into the box from the first key.
        if !prompt.focused {
            field.request_focus();
            prompt.focused = true;
        }
        if field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
            submit = true;
        }
        ui.horizontal(|ui| {
            if ui.button("Sign in").clicked() {
                submit = true;
            }
            if ui.button("Cancel").clicked() {
                close = true;
            }
        });
    });
    if submit && !prompt.text.is_empty() {
        commands.push(Command::SubmitPassword {
            account_id: prompt.account_id.clone(),
            password: Secret::new(std::mem::take(&mut prompt.text)),
        });
        close = true;
    }
    // Escape, or a click beside the box, cancels.
    if close || modal.should_close() {
        *prompt_state = None;
        commands.push(Command::PasswordPromptClosed);
    }
}

/// The last thing done to downloaded mail, with Undo after a Delete, or
/// what went wrong.
pub(crate) fn mail_notice_ui(
    ui: &mut egui::Ui,
    library: &super::library::Library,
    commands: &mut Vec<Command>,
) {
    use super::library::MailCommand;
    if library.notice.is_none() && library.problem.is_none() {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        if let Some(problem) = &library.problem {
            ui.colored_label(ui.visuals().error_fg_color, problem.sentences());
        } else if let Some(notice) = &library.notice {
            ui.label(notice);
        }
        if library.undo.is_some() && ui.button("Undo").clicked() {
            commands.push(MailCommand::Undo.into());
        }
        if ui.small_button("Dismiss").clicked() {
            commands.push(MailCommand::DismissNotice.into());
        }
    });
    ui.separator();
}

/// Every keyboard shortcut, in one window (F1, or Help in the toolbar).
pub(crate) fn help_window_ui(ctx: &egui::Context, open: &mut bool) {
    egui::Window::new("Keyboard shortcuts")
        .open(open)
        .resizable(false)
        .collapsible(false)
        .show(ctx, |ui| {
            egui::Grid::new("shortcuts")
                .num_columns(2)
                .spacing([18.0, 6.0])
                .show(ui, |ui| {
                    for (keys, what) in SHORTCUTS {
                        ui.strong(*keys);
                        ui.label(*what);
                        ui.end_row();
                    }
                });
        });
}

/// The keyboard shortcuts, as the help window lists them.
pub(crate) const SHORTCUTS: &[(&str, &str)] = &[
    ("Ctrl+R, F5", "Check mail"),
    ("Up, Down", "Move in a list (with Shift: select on the way)"),
    ("Page Up, Page Down", "Move a page in a list"),
    ("Home, End", "Go to the first or last message"),
    ("Ctrl+A", "Select every message shown"),
    (
        "Delete",
        "Mark for deletion on the server; in Downloaded: move to Trash",
    ),
    ("Ctrl+Z", "Take back the last Delete"),
    ("Enter", "Open a downloaded message in its own window"),
    ("Escape", "Close the dialog or window on top"),
    (
        "Ctrl+Plus, Ctrl+Minus, Ctrl+0",
        "Larger, smaller, normal text",
    ),
    ("F1", "This list"),
    ("Ctrl+Q", "Quit (asks first when deletions are not applied)"),
];
