//! The reader's small dialogs: where a clicked link really goes, a warning
//! before opening a file that runs code, a typed path where no system
//! save dialog answers (and whether to replace a file that is there), and
//! whether to remove a deleted message from the server too.

use super::Command;
use super::library::{MailCommand, MailDialog};

pub(crate) fn mail_dialog_ui(
    ctx: &egui::Context,
    dialog: &mut Option<MailDialog>,
    commands: &mut Vec<Command>,
) {
    let Some(current) = dialog.as_mut() else {
        return;
    };
    let mut close = false;
    let modal = egui::Modal::new(egui::Id::unique("mail-dialog")).show(ctx, |ui| {
        ui.set_max_width(480.0);
        match current {
            MailDialog::Link(link) => {
                ui.heading("Open this link?");
                ui.label("It goes to:");
                ui.add(egui::Label::new(egui::RichText::new(&link.url).monospace()).wrap().selectable(true));
                if !link.text.is_empty() && link.text != link.url {
                    ui.label(format!("The message shows it as “{}”.", link.text));
                    if link.text.contains("://") || link.text.contains("www.") {
                        ui.colored_label(
                            ui.visuals().warn_fg_color,
                            "The text looks like another address than the one the link goes to: be careful.",
                        );
                    }
                }
                ui.add_space(6.0);
                ui.horizontal(|ui| {
                    if ui.button("Open in browser").clicked() {
                        commands.push(MailCommand::OpenLink(link.url.clone()).into());
                        close = true;
                    }
                    if ui.button("Copy address").clicked() {
                        ui.ctx().copy_text(link.url.clone());
                        close = true;
                    }
                    if ui.button("Cancel").clicked() {
                        close = true;
                    }
                });
            }
            MailDialog::Risky { message, part, name } => {
                ui.heading("Open this file?");
                ui.label(format!(
                    "“{name}” is a program or script: opening it runs it, with access to your files. Mail is how most harmful programs arrive."
                ));
                ui.label("Open it only if you expected it from someone you trust.");
                ui.add_space(6.0);
                ui.horizontal(|ui| {
                    if ui.button("Open anyway").clicked() {
                        commands.push(
                            MailCommand::Open {
                                message: message.clone(),
                                part: *part,
                                name: name.clone(),
                                confirmed: true,
                            }
                            .into(),
                        );
                        close = true;
                    }
                    if ui.button("Don't open").clicked() {
                        close = true;
                    }
                });
            }
            MailDialog::SavePath {
                what,
                text,
                confirm_replace,
            } => {
                ui.heading(if what.folder { "Save all in a folder" } else { "Save as" });
                if *confirm_replace {
                    ui.label(format!("{text} already exists. Replace it?"));
                    ui.horizontal(|ui| {
                        if ui.button("Replace").clicked() {
                            commands.push(
                                MailCommand::SaveTyped {
                                    what: what.clone(),
                                    path: text.clone(),
                                    replace: true,
                                }
                                .into(),
                            );
                            close = true;
                        }
                        if ui.button("Choose another name").clicked() {
                            *confirm_replace = false;
                        }
                    });
                    return;
                }
                ui.label(if what.folder {
                    "Type the folder to save the attachments in; files already there are kept, and new ones get a number."
                } else {
                    "Type where to save it (~ is your home folder)."
                });
                let label = ui.label(if what.folder { "Folder" } else { "File" });
                let field = ui
                    .add(egui::TextEdit::singleline(text).desired_width(440.0))
                    .labelled_by(label.id);
                // What is typed goes into the field, not somewhere else.
                if ui.memory(|m| m.focused().is_none()) {
                    field.request_focus();
                }
                let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                ui.horizontal(|ui| {
                    if (ui.button("Save").clicked() || entered) && !text.trim().is_empty() {
                        commands.push(
                            MailCommand::SaveTyped {
                                what: what.clone(),
                                path: text.clone(),
                                replace: false,
                            }
                            .into(),
                        );
                        close = true;
                    }
                    if ui.button("Cancel").clicked() {
                        close = true;
                    }
                });
            }
            MailDialog::AlsoOnServer { offers } => {
                let count: usize = offers.iter().map(|(_, keys)| keys.len()).sum();
                ui.heading("Also remove it from the server?");
                ui.label(if count == 1 {
                    "This message is still on the server. Deleting it here does not delete it there.".to_owned()
                } else {
                    format!("{count} of these messages are still on the server. Deleting them here does not delete them there.")
                });
                ui.add_space(6.0);
                ui.horizontal(|ui| {
                    if ui.button("Mark for deletion on the server").clicked() {
                        commands.push(
                            MailCommand::AlsoOnServer {
                                offers: offers.clone(),
                            }
                            .into(),
                        );
                        close = true;
                    }
                    if ui.button("Keep on the server").clicked() {
                        close = true;
                    }
                });
            }
            MailDialog::EmptyTrash { account_id, count } => {
                ui.heading("Empty the trash?");
                ui.label(format!(
                    "{} in Trash will be removed from this computer for good. This cannot be undone.",
                    if *count == 1 {
                        "The message".to_owned()
                    } else {
                        format!("All {count} messages")
                    }
                ));
                ui.add_space(6.0);
                ui.horizontal(|ui| {
                    if ui.button("Remove for good").clicked() {
                        commands.push(MailCommand::EmptyTrash(account_id.clone()).into());
                        close = true;
                    }
                    if ui.button("Cancel").clicked() {
                        close = true;
                    }
                });
            }
        }
    });
    if close || modal.should_close() {
        *dialog = None;
    }
}
