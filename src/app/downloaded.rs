//! The list of downloaded mail (an account's, its Trash, or everyone's):
//! a search box that finds as you type, then a table like the server
//! list — read mark, From, Subject, Date, Size, attachment mark; sortable
//! columns, multi-select with Shift/Ctrl, arrow keys, Enter or a
//! double-click to open a message in its own window, and virtual scrolling.

use egui_extras::{Column, TableBuilder};

use crate::mail::human_size;

use super::library::{Library, MailCommand, MailSort, Place};
use super::{Command, View, icons, local_time, rows, short_date};

pub(crate) fn downloaded_ui(
    ui: &mut egui::Ui,
    view: &View,
    place: Place,
    library: &mut Library,
    commands: &mut Vec<Command>,
) {
    let account = view.selected;
    ui.horizontal(|ui| {
        let title = match (place, account) {
            (Place::AllDownloaded, _) => "All downloaded mail".to_owned(),
            (Place::Trash, Some(a)) => format!("Trash of {}", a.display_name()),
            (_, Some(a)) => format!("Downloaded to {}", a.display_name()),
            (_, None) => "Downloaded".to_owned(),
        };
        ui.heading(title);
        if place == Place::Trash
            && let Some(a) = account
        {
            let trashed = library.counts.get(&a.id).map_or(0, |c| c.trashed);
            if ui
                .add_enabled(trashed > 0, egui::Button::new("Empty trash"))
                .on_hover_text("Remove the messages in Trash from this computer for good")
                .clicked()
            {
                commands.push(MailCommand::AskEmptyTrash(a.id.clone()).into());
            }
        }
    });
    if place != Place::Trash {
        ui.horizontal(|ui| {
            let label = ui.label("Search:");
            let field = ui
                .add(
                    egui::TextEdit::singleline(&mut library.query)
                        .hint_text("sender, subject or a word of the text")
                        .desired_width(300.0),
                )
                .labelled_by(label.id);
            if field.changed() {
                commands.push(MailCommand::Search.into());
            }
            if !library.query.is_empty() && ui.button("Clear search").clicked() {
                library.query.clear();
                commands.push(MailCommand::Search.into());
            }
        });
    }
    if let Some(message) = &library.problem {
        ui.colored_label(ui.visuals().error_fg_color, message.sentences());
    }
    let syncing: Vec<(String, String)> = library
        .syncing
        .iter()
        .filter(|(id, _)| place == Place::AllDownloaded || account.is_some_and(|a| &a.id == *id))
        .map(|(id, (done, total))| {
            (
                id.clone(),
                format!("Listing downloaded mail: {done} of {total}…"),
            )
        })
        .collect();
    for (account_id, line) in &syncing {
        ui.horizontal(|ui| {
            ui.add(egui::Spinner::new());
            ui.label(line);
            if ui
                .button("Stop listing")
                .on_hover_text("Stop for now; it goes on where it stopped next time")
                .clicked()
            {
                commands.push(MailCommand::StopListing(account_id.clone()).into());
            }
        });
    }
    if library.rows.is_empty() {
        ui.add_space(20.0);
        ui.label(if library.loading.is_some() || !syncing.is_empty() {
            "Loading…".to_owned()
        } else if !library.query.trim().is_empty() && place != Place::Trash {
            format!("No downloaded message matches “{}”.", library.query.trim())
        } else if place == Place::Trash {
            "Trash is empty.".to_owned()
        } else {
            "No downloaded mail yet. Select messages on the server and press Download.".to_owned()
        });
        return;
    }
    if !library.query.trim().is_empty() && place != Place::Trash {
        let count = library.rows.len();
        ui.label(format!(
            "{count} {} found",
            if count == 1 { "message" } else { "messages" }
        ));
    }
    table_ui(ui, view, place, library, commands);
}

fn table_ui(
    ui: &mut egui::Ui,
    view: &View,
    place: Place,
    library: &mut Library,
    commands: &mut Vec<Command>,
) {
    let order = library.order();
    let list_had_focus = rows::list_has_focus(ui.ctx(), rows::DOWNLOADED);
    let moved = keyboard(ui, library, &order, commands);
    // Where Tab enters the list: the selection's focus, else the first row.
    let current = library
        .selection
        .focus
        .clone()
        .or_else(|| order.first().map(|&i| library.ids[i].clone()));
    if moved.is_some()
        && list_had_focus
        && let Some(current) = &current
    {
        // The keyboard focus follows the selection.
        ui.memory_mut(|m| m.request_focus(rows::item_id(rows::DOWNLOADED, current)));
    }
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 6.0;
    let area = ui.available_rect_before_wrap();
    let mut child = ui.new_child(
        egui::UiBuilder::new()
            .max_rect(area)
            .accessibility_role(egui::accesskit::Role::List)
            .accessibility_label(match place {
                Place::Trash => "Messages in the trash",
                _ => "Downloaded messages",
            }),
    );
    let ui = &mut child;
    let show_account = place == Place::AllDownloaded;
    let widths = rows::ListColumns::new(ui, area.width(), "Unread", show_account);
    let header_height = row_height + 2.0 * ui.spacing().item_spacing.y;
    let mut table = TableBuilder::new(ui)
        .id_salt(("downloaded", show_account, widths.show_status))
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
    if show_account {
        table = table.column(
            Column::initial(110.0)
                .at_least(50.0)
                .at_most(widths.from_max)
                .clip(true),
        );
    }
    table = widths.shared_columns(table);
    if let Some(position) = moved {
        table = table.scroll_to_row(position, None);
    }
    let mut clicked: Option<(usize, egui::Modifiers, bool)> = None;
    let mut context: Option<Command> = None;
    table
        .header(row_height, |mut header| {
            if widths.show_status {
                header.col(|ui| {
                    ui.strong("Read");
                });
            }
            if show_account {
                header.col(|ui| {
                    ui.strong("Account");
                });
            }
            for (key, title) in [
                (MailSort::From, "From"),
                (MailSort::Subject, "Subject"),
                (MailSort::Date, "Date"),
                (MailSort::Size, "Size"),
            ] {
                header.col(|ui| {
                    let button = ui
                        .add(egui::Button::new(egui::RichText::new(title).strong()).frame(false))
                        .on_hover_text(format!("Sort by {}", title.to_lowercase()));
                    if library.sort == key {
                        let at = button.rect.right_center() + egui::vec2(8.0, 0.0);
                        let color = ui.visuals().text_color();
                        icons::sort_arrow(ui.painter(), at, library.ascending, color);
                    }
                    if button.clicked() {
                        if library.sort == key {
                            library.ascending = !library.ascending;
                        } else {
                            library.sort = key;
                            library.ascending = key != MailSort::Date;
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
                let listed = &library.rows[order[table_row.index()]];
                let message = &listed.message;
                let id = library.ids[order[table_row.index()]].clone();
                let selected = library.selection.ids.contains(&id);
                table_row.set_selected(selected);
                let unread = !message.location.seen();
                let style = |text: String| {
                    let rich = egui::RichText::new(text);
                    if unread { rich.strong() } else { rich }
                };
                let account_name = view
                    .settings
                    .account(&listed.account_id)
                    .map(|a| a.display_name())
                    .unwrap_or_default();
                let from = display_from(&message.from);
                let subject = if message.subject.is_empty() {
                    "(no subject)".to_owned()
                } else {
                    message.subject.clone()
                };
                let size = human_size(message.size_bytes);
                let status = if unread { "Unread" } else { "Read" };
                let summary = || {
                    let mut text = super::messages::summary(
                        status,
                        &from,
                        &message.subject,
                        message.date_unix.map(local_time).as_deref(),
                        &size,
                        message.attachments > 0,
                    );
                    if show_account {
                        text.push_str(&format!(", in {account_name}"));
                    }
                    text
                };
                let mut cells: Vec<String> = widths
                    .show_status
                    .then(|| status.to_owned())
                    .into_iter()
                    .collect();
                if show_account {
                    cells.push(account_name.clone());
                }
                cells.extend([
                    from.clone(),
                    subject,
                    message
                        .date_unix
                        .map(if widths.short_dates {
                            short_date
                        } else {
                            local_time
                        })
                        .unwrap_or_default(),
                    size.clone(),
                ]);
                let Some(response) = rows::item_cells(
                    &mut table_row,
                    rows::RowItem {
                        list: rows::DOWNLOADED,
                        key: &id,
                        x: area.x_range(),
                        current: current.as_ref() == Some(&id),
                        selected,
                        summary,
                    },
                    cells.into_iter().map(style),
                    message.attachments > 0,
                ) else {
                    return;
                };
                if response.clicked() || response.double_clicked() {
                    clicked = Some((
                        table_row.index(),
                        response.ctx.input(|i| i.modifiers),
                        response.double_clicked(),
                    ));
                }
                response.context_menu(|ui| {
                    if !library.selection.ids.contains(&id) {
                        library.selection.ids.clear();
                        library.selection.ids.insert(id.clone());
                        library.selection.focus = Some(id.clone());
                    }
                    if ui.button("Open in a window").clicked() {
                        context = Some(MailCommand::OpenWindow(id.clone()).into());
                    }
                    let (label, read) = if unread {
                        ("Mark as read", true)
                    } else {
                        ("Mark as unread", false)
                    };
                    if ui.button(label).clicked() {
                        context = Some(MailCommand::SetRead(read).into());
                    }
                    if place == Place::Trash {
                        if ui.button("Restore").clicked() {
                            context = Some(MailCommand::Restore.into());
                        }
                    } else if ui.button("Delete").clicked() {
                        context = Some(MailCommand::Trash.into());
                    }
                });
            });
        });
    if let Some((position, modifiers, double)) = clicked {
        let ids = &library.ids;
        let id_at = |p: usize| ids[order[p]].clone();
        let id = library.selection.click(
            order.len(),
            id_at,
            position,
            modifiers.shift,
            modifiers.command,
        );
        commands.push(MailCommand::Show(id.clone()).into());
        if double {
            commands.push(MailCommand::OpenWindow(id).into());
        }
    }
    if let Some(command) = context {
        commands.push(command);
    }
}

/// The sender's name, else the address.
fn display_from(from: &str) -> String {
    let shown = crate::mail::Preview {
        from: from.to_owned(),
        ..Default::default()
    }
    .from_display();
    if shown.is_empty() {
        "(unknown sender)".to_owned()
    } else {
        shown
    }
}

/// Up/Down move (Shift extends), Enter opens a window, Delete moves to
/// Trash; returns the row to scroll to.
fn keyboard(
    ui: &egui::Ui,
    library: &mut Library,
    order: &[usize],
    commands: &mut Vec<Command>,
) -> Option<usize> {
    if !rows::keys_for_lists(ui.ctx()) || order.is_empty() {
        return None;
    }
    let (enter, delete) = ui.input(|i| {
        (
            i.key_pressed(egui::Key::Enter),
            i.key_pressed(egui::Key::Delete),
        )
    });
    if enter && let Some(focus) = library.selection.focus.clone() {
        commands.push(MailCommand::OpenWindow(focus).into());
    }
    if delete && !library.selection.ids.is_empty() {
        commands.push(MailCommand::Trash.into());
    }
    let (step, shift) = super::messages::key_step(ui)?;
    let ids = &library.ids;
    let id_at = |p: usize| ids[order[p]].clone();
    let (next, id) = library.selection.step(order.len(), id_at, step, shift)?;
    commands.push(MailCommand::Show(id).into());
    Some(next)
}
