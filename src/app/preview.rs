//! The preview pane: decoded headers and the first lines from TOP, as plain
//! text (no HTML rendering, no remote content), with "Show more lines".

use std::collections::HashMap;

use crate::mail::Preview;

use super::{Command, View, icons, local_time};

/// `focus`: the row the preview shows; `longer`: previews fetched with
/// "Show more lines", by message key.
pub(crate) fn preview_panel_ui(
    ui: &mut egui::Ui,
    view: &View,
    focus: Option<&str>,
    longer: &HashMap<String, (u32, Preview)>,
    commands: &mut Vec<Command>,
) {
    let Some(focus) = focus else {
        return;
    };
    let Some(state) = view.selected_state() else {
        return;
    };
    let Some((_, row)) = state
        .rows
        .iter()
        .enumerate()
        .find(|(i, r)| super::messages::row_id(r, *i) == focus)
    else {
        return;
    };
    let longer = row.key.as_ref().and_then(|k| longer.get(k)).map(|(_, p)| p);
    let preview = longer.or(row.preview.as_ref()).cloned();
    let key = row.key.clone();
    let busy = state.busy.is_some();
    let missing = state.preview_notes.no_preview_reason(row.size_bytes);
    // The list keeps at least half of a short window.
    let room = ui.available_height();
    egui::Panel::bottom("preview")
        .resizable(true)
        .default_size(260.0_f32.min(room * 0.45))
        .min_size(100.0_f32.min(room * 0.3))
        .max_size((room * 0.55).max(100.0))
        .show(ui, |ui| {
            // The pane keeps its size (a panel shrinks to what it holds).
            ui.set_min_height(ui.available_height());
            ui.add_space(6.0);
            let Some(preview) = preview else {
                ui.add(egui::Label::new(missing).wrap());
                return;
            };
            // Headers and text scroll together above the button, so a
            // short pane (a small window, a large zoom) still shows it.
            let button_room = if key.is_some() { 34.0 } else { 0.0 };
            egui::ScrollArea::vertical()
                .id_salt("preview-scroll")
                .auto_shrink([false, false])
                .min_scrolled_height(0.0)
                .max_height((ui.available_height() - button_room).max(0.0))
                .show(ui, |ui| {
                    let date = preview
                        .date_unix
                        .map(local_time)
                        .unwrap_or_else(|| preview.date.clone());
                    super::reader::header_lines(
                        ui,
                        &[
                            ("From", preview.from.as_str()),
                            ("To", preview.to.as_str()),
                            ("Subject", preview.subject.as_str()),
                            ("Date", date.as_str()),
                        ],
                        false,
                    );
                    if preview.has_attachments {
                        ui.horizontal(|ui| {
                            icons::paperclip(ui, "Attachments in this message");
                            ui.label("This message seems to have attachments.");
                        });
                    }
                    ui.separator();
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
                commands.push(Command::ShowMore(key));
            }
        });
}
