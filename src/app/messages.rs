//! The message table: status, From, Subject, Date, Size and an attachment
//! mark; sortable columns, a filter box, multi-select with Shift/Ctrl,
//! arrow-key navigation, and virtual scrolling (only visible rows are laid
//! out, so 10,000 rows stay smooth). Staged deletions are struck through.

use egui_extras::{Column, TableBuilder};

use crate::mail::human_size;

use super::model::{Row, RowStatus, SortKey, Step, visible_rows};
use super::{Command, Selection, View, icons, local_time, rows, short_date};

/// The selection id of a row: its key, or its position when it has none.
pub(crate) fn row_id(row: &Row, index: usize) -> String {
    row.key.clone().unwrap_or_else(|| format!("#{index}"))
}

/// The table of the selected account's messages. Owns the filter text,
/// the selection and the sort order; everything else it only reads.
pub(crate) struct TableState<'a> {
    pub filter: &'a mut String,
    pub selection: &'a mut Selection,
    pub sort: &'a mut SortKey,
    pub ascending: &'a mut bool,
}

pub(crate) fn messages_ui(
    ui: &mut egui::Ui,
    view: &View,
    table_state: TableState,
    commands: &mut Vec<Command>,
) {
    let TableState {
        filter,
        selection,
        sort,
        ascending,
    } = table_state;
    if view.loading {
        return;
    }
    let Some(account) = view.selected else {
        ui.vertical_centered(|ui| {
            ui.add_space(40.0);
            ui.label("Add your mail account in Settings to get started.");
        });
        return;
    };
    ui.horizontal(|ui| {
        let label = ui.label("Filter:");
        ui.add(
            egui::TextEdit::singleline(filter)
                .hint_text("sender or subject")
                .desired_width(240.0),
        )
        .labelled_by(label.id);
        if !filter.is_empty() && ui.button("Clear filter").clicked() {
            filter.clear();
        }
    });
    let Some(state) = view.accounts.get(&account.id) else {
        return;
    };
    if !state.checked {
        ui.add_space(20.0);
        ui.label(if state.busy.is_some() {
            "Checking…"
        } else {
            "Click “Check mail” to see what is waiting on the server."
        });
        return;
    }
    if state.rows.is_empty() {
        ui.add_space(20.0);
        ui.label("No messages on the server.");
        return;
    }
    let order = visible_rows(&state.rows, filter, *sort, *ascending);
    if let Some(at) = state.as_of_unix.filter(|_| state.busy.is_none()) {
        let when = if at > 0 {
            format!("As of {}", local_time(at))
        } else {
            "As of the last session".to_owned()
        };
        ui.weak(format!(
            "{when}: what the server held then. Check mail to see what is new."
        ));
    }
    if !filter.trim().is_empty() {
        let shown = order.len();
        ui.label(format!(
            "{shown} of {} {} {} “{}”",
            state.rows.len(),
            if state.rows.len() == 1 {
                "message"
            } else {
                "messages"
            },
            if shown == 1 { "matches" } else { "match" },
            filter.trim()
        ));
    }
    let list_had_focus = rows::list_has_focus(ui.ctx(), rows::MESSAGES);
    let keyboard = keyboard_move(ui, &state.rows, selection, &order);
    let staged = &state.staged_deletions;
    let rows = &state.rows;
    // Where Tab enters the list: the selection's focus, else the first row.
    let current = selection
        .focus
        .clone()
        .or_else(|| order.first().map(|&i| row_id(&rows[i], i)));
    if keyboard.is_some()
        && list_had_focus
        && let Some(current) = &current
    {
        // The keyboard focus follows the selection.
        ui.memory_mut(|m| m.request_focus(rows::item_id(rows::MESSAGES, current)));
    }
    let mut clicked: Option<(usize, egui::Modifiers)> = None;
    let mut context: Option<Command> = None;
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 6.0;
    // A child area exactly as big as what is left, so the table (and its
    // column lines) never reaches into the preview pane.
    let area = ui.available_rect_before_wrap();
    let mut child = ui.new_child(
        egui::UiBuilder::new()
            .max_rect(area)
            .accessibility_role(egui::accesskit::Role::List)
            .accessibility_label("Messages on the server"),
    );
    let ui = &mut child;
    let widths = rows::ListColumns::new(ui, area.width(), "Downloaded", false);
    let header_height = row_height + 2.0 * ui.spacing().item_spacing.y;
    let mut table = TableBuilder::new(ui)
        .id_salt(("messages", widths.show_status))
        .min_scrolled_height(0.0)
        // The header row is part of the area too.
        .max_scroll_height((area.height() - header_height).max(0.0))
        .striped(true)
        .resizable(true)
        // Clicks on any cell, but only the row's item takes the keyboard
        // focus (see `rows`).
        .sense(egui::Sense::CLICK)
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center));
    if widths.show_status {
        table = table.column(Column::exact(widths.status).clip(true));
    }
    table = widths.shared_columns(table);
    if let Some(index) = keyboard {
        table = table.scroll_to_row(index, None);
    }
    table
        .header(row_height, |mut header| {
            let status_column = widths.show_status.then_some((SortKey::Status, "Status"));
            for (key, title) in status_column.into_iter().chain([
                (SortKey::From, "From"),
                (SortKey::Subject, "Subject"),
                (SortKey::Date, "Date"),
                (SortKey::Size, "Size"),
            ]) {
                header.col(|ui| {
                    let button = ui
                        .add(egui::Button::new(egui::RichText::new(title).strong()).frame(false))
                        .on_hover_text(format!("Sort by {}", title.to_lowercase()));
                    if *sort == key {
                        let at = button.rect.right_center() + egui::vec2(8.0, 0.0);
                        let color = ui.visuals().text_color();
                        icons::sort_arrow(ui.painter(), at, *ascending, color);
                    }
                    if button.clicked() {
                        if *sort == key {
                            *ascending = !*ascending;
                        } else {
                            *sort = key;
                            *ascending = key != SortKey::Date;
                        }
                    }
                });
            }
            header.col(|ui| {
                icons::paperclip(ui, "Attachments");
            });
        })
        .body(|body| {
            body.rows(row_height, order.len(), |mut table_row| {
                let index = order[table_row.index()];
                let row = &rows[index];
                let id = row_id(row, index);
                let is_staged = row.key.as_ref().is_some_and(|k| staged.contains(k));
                let selected = selection.ids.contains(&id);
                table_row.set_selected(selected);
                let style = |text: String| {
                    let mut rich = egui::RichText::new(text);
                    if row.status == RowStatus::New {
                        rich = rich.strong();
                    }
                    if is_staged {
                        rich = rich.strikethrough();
                    }
                    rich
                };
                let status = if is_staged {
                    "To delete"
                } else {
                    row.status.label()
                };
                let date = row
                    .date_unix()
                    .map(if widths.short_dates {
                        short_date
                    } else {
                        local_time
                    })
                    .unwrap_or_default();
                let size = human_size(row.size_bytes);
                let summary = || {
                    summary(
                        if is_staged {
                            "Marked for deletion"
                        } else {
                            row.status.label()
                        },
                        row.from(),
                        row.subject(),
                        row.date_unix().map(local_time).as_deref(),
                        &size,
                        row.has_attachments(),
                    )
                };
                let status_cell = widths.show_status.then(|| status.to_owned());
                let cells = status_cell.into_iter().chain([
                    row.from().to_owned(),
                    row.subject().to_owned(),
                    date,
                    size.clone(),
                ]);
                let Some(response) = rows::item_cells(
                    &mut table_row,
                    rows::RowItem {
                        list: rows::MESSAGES,
                        key: &id,
                        x: area.x_range(),
                        current: current.as_ref() == Some(&id),
                        selected,
                        summary,
                    },
                    cells.map(style),
                    row.has_attachments(),
                ) else {
                    return;
                };
                if response.clicked() {
                    clicked = Some((table_row.index(), response.ctx.input(|i| i.modifiers)));
                }
                response.context_menu(|ui| {
                    if !selection.ids.contains(&id) {
                        selection.ids.clear();
                        selection.ids.insert(id.clone());
                        selection.focus = Some(id.clone());
                    }
                    if ui.button("Download and keep on server").clicked() {
                        context = Some(Command::Download(Some(false)));
                    }
                    if ui.button("Download and remove from server").clicked() {
                        context = Some(Command::Download(Some(true)));
                    }
                    if ui.button("Keep on server").clicked() {
                        context = Some(Command::Keep);
                    }
                    if is_staged {
                        if ui.button("Don't delete").clicked() {
                            context = Some(Command::UndoDelete);
                        }
                    } else if ui.button("Delete on server").clicked() {
                        context = Some(Command::StageDelete);
                    }
                });
            });
        });
    if let Some((position, modifiers)) = clicked {
        let id_at = |p: usize| row_id(&rows[order[p]], order[p]);
        selection.click(
            order.len(),
            id_at,
            position,
            modifiers.shift,
            modifiers.command,
        );
    }
    if let Some(command) = context {
        commands.push(command);
    }
}

/// Up/Down move the selection (Shift extends it); returns the row to
/// scroll to.
fn keyboard_move(
    ui: &egui::Ui,
    rows: &[Row],
    selection: &mut Selection,
    view: &[usize],
) -> Option<usize> {
    if !rows::keys_for_lists(ui.ctx()) || view.is_empty() {
        return None;
    }
    let (step, shift) = key_step(ui)?;
    let id_at = |p: usize| row_id(&rows[view[p]], view[p]);
    selection
        .step(view.len(), id_at, step, shift)
        .map(|(next, _)| next)
}

/// The list-moving key pressed this frame (arrows, PageUp, PageDown, Home,
/// End), and whether Shift is held.
pub(crate) fn key_step(ui: &egui::Ui) -> Option<(Step, bool)> {
    ui.input(|i| {
        let step = [
            (egui::Key::ArrowUp, Step::Up),
            (egui::Key::ArrowDown, Step::Down),
            (egui::Key::PageUp, Step::PageUp),
            (egui::Key::PageDown, Step::PageDown),
            (egui::Key::Home, Step::Home),
            (egui::Key::End, Step::End),
        ]
        .into_iter()
        .find(|(key, _)| i.key_pressed(*key))?
        .1;
        Some((step, i.modifiers.shift))
    })
}

/// A row's name for a screen reader: "New, from Sam, Cabin: packing list,
/// 2026-11-25 09:12, 2.6 KB, has attachments".
pub(crate) fn summary(
    status: &str,
    from: &str,
    subject: &str,
    date: Option<&str>,
    size: &str,
    attachments: bool,
) -> String {
    let mut parts = vec![status.to_owned()];
    if !from.is_empty() {
        parts.push(format!("from {from}"));
    }
    parts.push(if subject.is_empty() {
        "no subject".to_owned()
    } else {
        subject.to_owned()
    });
    parts.extend(date.map(str::to_owned));
    parts.push(size.to_owned());
    if attachments {
        parts.push("has attachments".to_owned());
    }
    parts.join(", ")
}
