//! The preview pane: decoded headers and the first lines from TOP, as plain
//! text (no HTML rendering, no remote content), with "Show more lines".

use super::{App, Command, local_time};

pub(crate) fn preview_panel_ui(ui: &mut egui::Ui, app: &mut App) {
    let Some(account) = app.selected_account().cloned() else {
        return;
    };
    let Some(focus) = app.selection.focus.clone() else {
        return;
    };
    let Some(state) = app.accounts.get(&account.id) else {
        return;
    };
    let Some((index, row)) = state
        .rows
        .iter()
        .enumerate()
        .find(|(i, r)| super::messages::row_id(r, *i) == focus)
    else {
        return;
    };
    let longer = row
        .key
        .as_ref()
        .and_then(|k| app.longer_previews.get(k))
        .map(|(_, p)| p);
    let preview = longer.or(row.preview.as_ref()).cloned();
    let key = row.key.clone();
    let busy = state.busy.is_some();
    let missing = state.preview_notes.no_preview_reason(row.size_bytes);
    let _ = index;
    egui::Panel::bottom("preview")
        .resizable(true)
        .default_size(260.0)
        .min_size(120.0)
        .show(ui, |ui| {
            ui.add_space(6.0);
            let Some(preview) = preview else {
                ui.add(egui::Label::new(missing).wrap());
                return;
            };
            egui::Grid::new("preview-headers")
                .num_columns(2)
                .spacing([12.0, 4.0])
                .show(ui, |ui| {
                    for (name, value) in [
                        ("From", preview.from.clone()),
                        ("To", preview.to.clone()),
                        ("Subject", preview.subject.clone()),
                        (
                            "Date",
                            preview
                                .date_unix
                                .map(local_time)
                                .unwrap_or_else(|| preview.date.clone()),
                        ),
                    ] {
                        ui.label(egui::RichText::new(name).strong());
                        ui.label(value);
                        ui.end_row();
                    }
                });
            if preview.has_attachments {
                ui.label("📎 This message seems to have attachments.");
            }
            ui.separator();
            egui::ScrollArea::vertical()
                .auto_shrink([false, false])
                .max_height(ui.available_height() - 34.0)
                .show(ui, |ui| {
                    let text = if preview.text.is_empty() {
                        "(no text in the first lines)".to_owned()
                    } else {
                        preview.text.clone()
                    };
                    ui.add(egui::Label::new(egui::RichText::new(text).monospace()).wrap());
                });
            if let Some(key) = key
                && ui
                    .add_enabled(!busy, egui::Button::new("Show more lines"))
                    .on_hover_text(
                        "Ask the server for more of this message, without downloading it",
                    )
                    .clicked()
            {
                app.commands.push(Command::ShowMore(key));
            }
        });
}
