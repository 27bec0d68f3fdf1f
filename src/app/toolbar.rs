//! The toolbar: Check mail, the per-message actions, Apply, Settings, and
//! progress with Cancel while work runs.

use crate::engine::Progress;
use crate::mail::human_size;

use super::library::{Library, MailCommand, Place};
use super::{Command, View};

/// `selected`: how many of the selected server rows can be acted on.
pub(crate) fn toolbar_ui(
    ui: &mut egui::Ui,
    view: &View,
    selected: usize,
    library: &Library,
    commands: &mut Vec<Command>,
) {
    egui::Panel::top("toolbar").show(ui, |ui| {
        ui.add_space(4.0);
        // Wraps onto a second line in a narrow window: every button stays
        // reachable.
        ui.horizontal_wrapped(|ui| {
            let has_accounts = !view.settings.accounts.is_empty();
            if ui
                .add_enabled(has_accounts, egui::Button::new("Check mail"))
                .on_hover_text("Check all accounts for new mail (Ctrl+R, F5)")
                .clicked()
            {
                commands.push(Command::CheckAll);
            }
            ui.separator();
            if view.place.is_local() {
                local_actions_ui(ui, view.place, library, commands);
            } else {
                server_actions_ui(ui, view, selected, commands);
            }
            ui.separator();
            if ui
                .add_enabled(!view.loading, egui::Button::new("Settings"))
                .clicked()
            {
                commands.push(Command::OpenSettings);
            }
            if ui
                .button("Help")
                .on_hover_text("Keyboard shortcuts (F1)")
                .clicked()
            {
                commands.push(Command::ShowHelp);
            }
            if view.busy() {
                ui.separator();
                ui.add(egui::Spinner::new());
                ui.label(progress_text(view));
                if ui
                    .button("Cancel")
                    .on_hover_text("Stop; nothing is deleted from the server")
                    .clicked()
                {
                    commands.push(Command::CancelWork);
                }
            }
        });
        ui.add_space(2.0);
    });
}

/// Read, unread, Delete (to Trash) or Restore for the selected downloaded
/// messages.
fn local_actions_ui(
    ui: &mut egui::Ui,
    place: Place,
    library: &Library,
    commands: &mut Vec<Command>,
) {
    let selected: Vec<_> = library
        .rows
        .iter()
        .zip(&library.ids)
        .filter(|(_, id)| library.selection.ids.contains(*id))
        .map(|(row, _)| row)
        .collect();
    let any = !selected.is_empty();
    let all_read = any && selected.iter().all(|r| r.message.location.seen());
    let (label, read) = if all_read {
        ("Mark as unread", false)
    } else {
        ("Mark as read", true)
    };
    if ui.add_enabled(any, egui::Button::new(label)).clicked() {
        commands.push(MailCommand::SetRead(read).into());
    }
    if place == Place::Trash {
        if ui
            .add_enabled(any, egui::Button::new("Restore"))
            .on_hover_text("Move the selected messages back out of Trash")
            .clicked()
        {
            commands.push(MailCommand::Restore.into());
        }
    } else if ui
        .add_enabled(any, egui::Button::new("Delete"))
        .on_hover_text(
            "Move the selected messages to Trash (Delete key); Undo or Ctrl+Z brings them back",
        )
        .clicked()
    {
        commands.push(MailCommand::Trash.into());
    }
}

fn server_actions_ui(ui: &mut egui::Ui, view: &View, selected: usize, commands: &mut Vec<Command>) {
    {
        let any = selected > 0;
        let leave = view.selected.is_none_or(|a| a.leave_on_server);
        let download_hint = if leave {
            "Download the selected messages and leave them on the server"
        } else {
            "Download the selected messages and remove them from the server"
        };
        let download = ui
            .add_enabled(any, egui::Button::new("Download"))
            .on_hover_text(download_hint);
        if download.clicked() {
            commands.push(Command::Download(None));
        }
        download.context_menu(|ui| {
            if ui.button("Download and keep on server").clicked() {
                commands.push(Command::Download(Some(false)));
            }
            if ui.button("Download and remove from server").clicked() {
                commands.push(Command::Download(Some(true)));
            }
        });
        if ui
            .add_enabled(any, egui::Button::new("Keep"))
            .on_hover_text("Leave the selected messages on the server and stop marking them new")
            .clicked()
        {
            commands.push(Command::Keep);
        }
        if ui
                .add_enabled(any, egui::Button::new("Delete"))
                .on_hover_text("Mark the selected messages for deletion on the server (Delete key; Ctrl+Z takes it back); nothing happens until Apply")
                .clicked()
            {
                commands.push(Command::StageDelete);
            }
        let staged = view
            .selected_state()
            .map_or(0, |s| s.staged_deletions.len());
        if ui
            .add_enabled(staged > 0, egui::Button::new("Undo delete"))
            .on_hover_text("Unmark the selected messages (or all, if none is selected)")
            .clicked()
        {
            commands.push(Command::UndoDelete);
        }
        let apply_text = if staged > 0 {
            format!("Apply ({staged})")
        } else {
            "Apply".to_owned()
        };
        if ui
            .add_enabled(staged > 0, egui::Button::new(apply_text))
            .on_hover_text("Delete the marked messages on the server")
            .clicked()
        {
            commands.push(Command::RequestApply);
        }
    }
}

/// What the busiest account is doing, in words.
fn progress_text(view: &View) -> String {
    for account in &view.settings.accounts {
        let Some(state) = view.accounts.get(&account.id) else {
            continue;
        };
        if state.busy.is_none() {
            continue;
        }
        let name = account.display_name();
        return match &state.progress {
            None | Some(Progress::Connecting) => format!("{name}: connecting…"),
            Some(Progress::LoggedIn) => format!("{name}: signed in…"),
            Some(Progress::Listed { total }) => format!("{name}: {total} messages on the server…"),
            Some(Progress::Previews { done, total }) => {
                format!("{name}: previews {done} of {total}")
            }
            Some(Progress::Downloading {
                done_messages,
                total_messages,
                done_bytes,
                total_bytes,
            }) => format!(
                "{name}: downloading {done_messages} of {total_messages} ({} of {})",
                human_size(*done_bytes),
                human_size(*total_bytes)
            ),
            Some(Progress::Deleting { count }) => {
                format!("{name}: deleting {count} on the server…")
            }
            Some(Progress::Rows(_) | Progress::Heads(_)) => format!("{name}: previews…"),
        };
    }
    String::new()
}
