//! Reading a downloaded message, in the pane under the list or in a window
//! of its own: From, To, Cc, Date, Subject (All headers shows the rest),
//! the actions (Reply, Forward, Mark unread, Delete, Export as .eml, Open
//! in mail program, View source), the attachments with Save…, Open and
//! Save all…, the pictures, the text, and the links with where they
//! really go. Nothing is fetched from the network: a link is only handed
//! to the browser after the user saw its address and agreed.

use std::collections::HashMap;

use crate::mail::{Link, compose, human_size};
use crate::worker::reading::{OpenedMessage, suggested_eml_name};

use super::library::{MailCommand, Opened};
use super::{Command, local_time};

/// The reader pane, under the list.
pub(crate) fn reader_pane_ui(ui: &mut egui::Ui, opened: &mut Opened, commands: &mut Vec<Command>) {
    // The list keeps room for a few rows, however the pane is dragged.
    let room = (ui.available_height() - 160.0).max(140.0);
    egui::Panel::bottom("reader")
        .resizable(true)
        .default_size(room.min(380.0))
        .min_size(140.0)
        .max_size(room)
        .show(ui, |ui| {
            ui.add_space(6.0);
            message_ui(ui, opened, commands);
        });
}

/// A message in a window of its own.
pub(crate) fn reader_window_ui(
    ctx: &egui::Context,
    opened: &mut Opened,
    commands: &mut Vec<Command>,
) {
    let title = opened
        .ready()
        .map(|m| {
            if m.view.subject.is_empty() {
                "(no subject)".to_owned()
            } else {
                m.view.subject.clone()
            }
        })
        .unwrap_or_else(|| "Opening…".to_owned());
    let mut open = opened.open;
    egui::Window::new(title)
        .id(egui::Id::unique(("reader-window", &opened.id)))
        .open(&mut open)
        .default_size([720.0, 560.0])
        .show(ctx, |ui| message_ui(ui, opened, commands));
    opened.open = open;
}

fn message_ui(ui: &mut egui::Ui, opened: &mut Opened, commands: &mut Vec<Command>) {
    let message = match opened.promise.ready() {
        None => {
            ui.horizontal(|ui| {
                ui.add(egui::Spinner::new());
                ui.label("Opening the message…");
            });
            return;
        }
        Some(Err(problem)) => {
            ui.colored_label(ui.visuals().error_fg_color, problem.sentences());
            return;
        }
        Some(Ok(message)) => message.clone(),
    };
    let view = &message.view;
    headers_ui(ui, &message, opened.all_headers);
    actions_ui(ui, &message, opened, commands);
    ui.separator();
    egui::ScrollArea::vertical()
        .id_salt(("reader-body", &opened.id))
        .auto_shrink([false, false])
        // Never more than the room left, even on its first frame (the pane
        // would otherwise grow to hold it and squeeze the list).
        .max_height(ui.available_height())
        .show(ui, |ui| {
            for note in &view.notes {
                ui.colored_label(ui.visuals().warn_fg_color, note);
            }
            if opened.show_source {
                ui.add(
                    egui::Label::new(egui::RichText::new(&message.source).monospace())
                        .wrap()
                        .selectable(true),
                );
                return;
            }
            attachments_ui(ui, &message, commands);
            if let Some(pictures) = &opened.pictures {
                pictures_ui(ui, &message, pictures);
            }
            let text = if view.text.is_empty() {
                "(this message has no text)".to_owned()
            } else {
                view.text.clone()
            };
            ui.add(
                egui::Label::new(egui::RichText::new(text).monospace())
                    .wrap()
                    .selectable(true),
            );
            links_ui(ui, &view.links, commands);
        });
}

fn headers_ui(ui: &mut egui::Ui, message: &OpenedMessage, all: bool) {
    let view = &message.view;
    if all {
        let lines: Vec<(&str, &str)> = view
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        header_lines(ui, &lines, true);
        return;
    }
    let date = view
        .date_unix
        .map(local_time)
        .unwrap_or_else(|| view.date.clone());
    let lines = [
        ("From", view.from.as_str()),
        ("To", view.to.as_str()),
        ("Cc", view.cc.as_str()),
        ("Date", date.as_str()),
        ("Subject", view.subject.as_str()),
    ];
    let lines: Vec<(&str, &str)> = lines
        .into_iter()
        .filter(|(name, value)| !(value.is_empty() && *name == "Cc"))
        .collect();
    header_lines(ui, &lines, true);
}

/// Header lines: the names in a column of their own, each value wrapped in
/// the width left beside it. Not an `egui::Grid`: a grid's first frame wraps
/// its cells at a guessed, narrow width, and a pane that holds one grows to
/// several times its height for that frame and keeps the size.
pub(crate) fn header_lines(ui: &mut egui::Ui, lines: &[(&str, &str)], selectable: bool) {
    let font = egui::TextStyle::Body.resolve(ui.style());
    let widest = lines
        .iter()
        .map(|(name, _)| {
            ui.painter()
                .layout_no_wrap((*name).to_owned(), font.clone(), egui::Color32::WHITE)
                .size()
                .x
        })
        .fold(0.0, f32::max);
    // A long name (in All headers) wraps rather than pushing the values out.
    let name_width = widest.min(ui.available_width() * 0.35).ceil() + 12.0;
    let spacing = ui.spacing().item_spacing;
    ui.scope(|ui| {
        ui.spacing_mut().item_spacing.y = 3.0;
        for (name, value) in lines {
            ui.horizontal_top(|ui| {
                ui.spacing_mut().item_spacing.x = 0.0;
                ui.allocate_ui_with_layout(
                    egui::vec2(name_width, 0.0),
                    egui::Layout::top_down(egui::Align::Min),
                    |ui| {
                        ui.set_width(name_width);
                        ui.add(egui::Label::new(egui::RichText::new(*name).strong()).wrap());
                    },
                );
                ui.spacing_mut().item_spacing = spacing;
                ui.add(egui::Label::new(*value).wrap().selectable(selectable));
            });
        }
    });
}

fn actions_ui(
    ui: &mut egui::Ui,
    message: &OpenedMessage,
    opened: &mut Opened,
    commands: &mut Vec<Command>,
) {
    let view = &message.view;
    ui.horizontal_wrapped(|ui| {
        if ui
            .button("Reply")
            .on_hover_text("Write a reply in your mail program")
            .clicked()
        {
            commands.push(MailCommand::OpenLink(compose::reply(view)).into());
        }
        if ui
            .button("Forward")
            .on_hover_text("Forward it with your mail program")
            .clicked()
        {
            commands.push(MailCommand::OpenLink(compose::forward(view)).into());
        }
        if ui
            .button("Export as .eml")
            .on_hover_text("Save the whole message as a file other mail programs open")
            .clicked()
        {
            commands.push(
                MailCommand::Export {
                    message: message.path.clone(),
                    name: suggested_eml_name(view),
                }
                .into(),
            );
        }
        if ui.button("Open in mail program").clicked() {
            commands.push(MailCommand::OpenInMailProgram(message.path.clone()).into());
        }
        ui.toggle_value(&mut opened.all_headers, "All headers");
        ui.toggle_value(&mut opened.show_source, "View source");
    });
}

fn attachments_ui(ui: &mut egui::Ui, message: &OpenedMessage, commands: &mut Vec<Command>) {
    let listed: Vec<_> = message
        .view
        .attachments
        .iter()
        .filter(|a| !a.inline)
        .collect();
    if listed.is_empty() {
        return;
    }
    ui.group(|ui| {
        ui.horizontal(|ui| {
            let count = listed.len();
            ui.strong(format!(
                "{count} {}",
                if count == 1 {
                    "attachment"
                } else {
                    "attachments"
                }
            ));
            if count > 1 && ui.button("Save all…").clicked() {
                commands.push(
                    MailCommand::SaveAll {
                        message: message.path.clone(),
                        parts: listed
                            .iter()
                            .map(|a| (a.part, a.file_name.clone()))
                            .collect(),
                    }
                    .into(),
                );
            }
        });
        for attachment in listed {
            ui.horizontal(|ui| {
                super::icons::paperclip(ui, "Attachment");
                ui.label(format!(
                    "{} ({}, {})",
                    attachment.name,
                    attachment.mime,
                    human_size(attachment.size_bytes)
                ));
                if ui
                    .button("Save…")
                    .on_hover_text(format!("Save {}", attachment.file_name))
                    .clicked()
                {
                    commands.push(
                        MailCommand::Save {
                            message: message.path.clone(),
                            part: attachment.part,
                            name: attachment.file_name.clone(),
                        }
                        .into(),
                    );
                }
                if ui
                    .button("Open")
                    .on_hover_text(format!("Open {} with its program", attachment.file_name))
                    .clicked()
                {
                    commands.push(
                        MailCommand::Open {
                            message: message.path.clone(),
                            part: attachment.part,
                            name: attachment.file_name.clone(),
                            confirmed: false,
                        }
                        .into(),
                    );
                }
            });
        }
    });
}

fn pictures_ui(
    ui: &mut egui::Ui,
    message: &OpenedMessage,
    pictures: &HashMap<usize, egui::TextureHandle>,
) {
    for attachment in message.view.images() {
        let Some(texture) = pictures.get(&attachment.part) else {
            continue;
        };
        let size = texture.size_vec2();
        let width = size.x.min(ui.available_width());
        let scaled = size * (width / size.x.max(1.0));
        ui.add(
            egui::Image::new((texture.id(), scaled))
                .alt_text(format!("Picture: {}", attachment.name)),
        );
        ui.add_space(4.0);
    }
}

fn links_ui(ui: &mut egui::Ui, links: &[Link], commands: &mut Vec<Command>) {
    if links.is_empty() {
        return;
    }
    ui.add_space(8.0);
    ui.separator();
    ui.strong("Links in this message");
    for (number, link) in links.iter().enumerate() {
        ui.horizontal_wrapped(|ui| {
            ui.label(format!("[{}]", number + 1));
            if link.may_open() {
                let response = ui
                    .link(&link.url)
                    .on_hover_text(format!("Goes to {}", link.url));
                if response.clicked() {
                    commands.push(MailCommand::AskLink(link.clone()).into());
                }
            } else {
                ui.label(&link.url)
                    .on_hover_text("Letterbox does not open links of this kind");
            }
            if !link.text.is_empty() && link.text != link.url {
                ui.weak(format!("(shown as “{}”)", link.text));
            }
        });
    }
}
