//! The accounts sidebar: each account with its new-message badge, its two
//! places (On the server, Downloaded, and Trash when it holds mail),
//! totals, quota meter, last check and last error; and All downloaded mail.

use crate::mail::human_size;

use super::library::{Library, MailCommand, Place};
use super::{Command, View, icons, local_time};

/// Past this share of the quota a full mailbox is near: new mail bounces.
pub(crate) const QUOTA_WARNING: f32 = 0.9;

pub(crate) fn accounts_ui(
    ui: &mut egui::Ui,
    view: &View,
    library: &Library,
    commands: &mut Vec<Command>,
) {
    egui::Panel::left("accounts")
        .resizable(true)
        .default_size(200.0)
        .min_size(130.0)
        // A narrow window keeps most of its width for the messages.
        .max_size((ui.ctx().content_rect().width() * 0.3).clamp(130.0, 360.0))
        .show(ui, |ui| {
            // The panel keeps its width (a panel shrinks to what it holds).
            ui.set_min_width(ui.available_width());
            ui.add_space(6.0);
            ui.heading("Accounts");
            ui.add_space(4.0);
            if view.loading {
                ui.label("Loading your accounts…");
                return;
            }
            if view.settings.accounts.is_empty() {
                ui.label("No account yet.");
                if ui.button("Add an account").clicked() {
                    commands.push(Command::AddAccount);
                }
                return;
            }
            egui::ScrollArea::vertical().show(ui, |ui| {
                let unread: usize = view
                    .settings
                    .accounts
                    .iter()
                    .map(|a| library.unread(&a.id))
                    .sum();
                let all = if unread > 0 {
                    format!("All downloaded mail ({unread} unread)")
                } else {
                    "All downloaded mail".to_owned()
                };
                if ui
                    .selectable_label(view.place == Place::AllDownloaded, all)
                    .clicked()
                {
                    commands.push(MailCommand::Place(None, Place::AllDownloaded).into());
                }
                ui.add_space(6.0);
                for account in &view.settings.accounts {
                    let state = view.accounts.get(&account.id);
                    let selected = view.selected.is_some_and(|s| s.id == account.id);
                    let new = state.map_or(0, |s| s.new_count());
                    let name = account.display_name();
                    let title = if new > 0 {
                        format!("{name}  ({new} new)")
                    } else {
                        name.clone()
                    };
                    ui.horizontal(|ui| {
                        let response =
                            ui.selectable_label(selected, egui::RichText::new(title).strong());
                        if response.clicked() {
                            commands.push(Command::SelectAccount(account.id.clone()));
                        }
                        response.context_menu(|ui| {
                            if ui.button("Check this account").clicked() {
                                commands.push(Command::Check(account.id.clone()));
                            }
                            if ui.button("Free up space…").clicked() {
                                commands.push(Command::OpenFreeSpace(account.id.clone()));
                            }
                        });
                        if let Some(error) = state.and_then(|s| s.error.as_ref()) {
                            icons::warning(
                                ui,
                                &format!("{} {}", error.message.headline, error.message.next_step),
                            );
                        }
                    });
                    places_ui(ui, view, library, &account.id, new, commands);
                    if let Some(state) = state {
                        if state.checked {
                            ui.label(format!(
                                "{} messages, {}",
                                state.total,
                                human_size(state.size_bytes)
                            ));
                        }
                        if let Some(quota_mb) = account.quota_mb.filter(|q| *q > 0 && state.checked)
                        {
                            let quota = u64::from(quota_mb) * 1_000_000;
                            let used = state.size_bytes as f32 / quota as f32;
                            let mut bar = egui::ProgressBar::new(used.min(1.0)).text(format!(
                                "{:.0}% of {}",
                                used * 100.0,
                                human_size(quota)
                            ));
                            if used >= QUOTA_WARNING {
                                bar = bar.fill(ui.visuals().error_fg_color);
                            }
                            ui.add(bar);
                            if used >= QUOTA_WARNING {
                                ui.colored_label(
                                    ui.visuals().error_fg_color,
                                    "Mailbox almost full: new mail may bounce.",
                                );
                            }
                            if ui
                                .small_button("Free up space…")
                                .on_hover_text(
                                    "What takes the room on the server, and what is safe to remove",
                                )
                                .clicked()
                            {
                                commands.push(Command::OpenFreeSpace(account.id.clone()));
                            }
                        }
                        if let Some(at) = state.last_check_unix {
                            ui.label(format!("Checked {}", local_time(at)));
                        } else if let Some(at) = state.as_of_unix.filter(|at| *at > 0) {
                            ui.label(format!("As of {}", local_time(at)));
                        }
                        if let Some(note) = &state.quiet_note {
                            ui.add(egui::Label::new(egui::RichText::new(note).weak()).wrap());
                        }
                        if state.busy.is_some() {
                            ui.label("Working…");
                        }
                    }
                    ui.add_space(8.0);
                }
            });
        });
}

/// An account's places, indented under its name.
fn places_ui(
    ui: &mut egui::Ui,
    view: &View,
    library: &Library,
    account_id: &str,
    new: usize,
    commands: &mut Vec<Command>,
) {
    let here = view.selected.is_some_and(|s| s.id == account_id);
    let counts = library.counts.get(account_id).copied().unwrap_or_default();
    ui.indent(("places", account_id), |ui| {
        let server = if new > 0 {
            format!("On the server ({new} new)")
        } else {
            "On the server".to_owned()
        };
        let downloaded = if counts.unread > 0 {
            format!("Downloaded ({} unread)", counts.unread)
        } else {
            "Downloaded".to_owned()
        };
        let mut places = vec![(Place::Server, server), (Place::Downloaded, downloaded)];
        if counts.trashed > 0 || (here && view.place == Place::Trash) {
            places.push((Place::Trash, format!("Trash ({})", counts.trashed)));
        }
        for (place, title) in places {
            if ui
                .selectable_label(here && view.place == place, title)
                .clicked()
            {
                commands.push(MailCommand::Place(Some(account_id.to_owned()), place).into());
            }
        }
    });
}
