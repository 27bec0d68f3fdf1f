//! "Free up space": the messages still on an account's server, biggest
//! first, with what is already safely downloaded marked. One click marks
//! for deletion everything downloaded and older than a number of days (or
//! the user ticks messages one by one); the same staged deletions and the
//! same Apply, with its confirmation, as the main list — and the window
//! says how much space that Apply will free.

use egui_extras::{Column, TableBuilder};

use crate::mail::human_size;

use super::model::{AccountState, Row, RowStatus};
use super::{Command, View, short_date};

/// The open window: which account, and the age picked.
pub(crate) struct FreeSpace {
    pub account_id: String,
    pub days: u32,
}

const DAY: i64 = 24 * 60 * 60;

/// The messages the rule picks: safely downloaded, dated more than `days`
/// days before `now_unix` (a message without a date is never picked by
/// age).
pub(crate) fn old_downloaded(rows: &[Row], days: u32, now_unix: i64) -> Vec<&Row> {
    let before = now_unix - i64::from(days) * DAY;
    rows.iter()
        .filter(|r| r.key.is_some() && r.status == RowStatus::Downloaded)
        .filter(|r| r.date_unix().is_some_and(|d| d < before))
        .collect()
}

/// The count and bytes of `rows`.
fn total<'a>(rows: impl IntoIterator<Item = &'a Row>) -> (usize, u64) {
    rows.into_iter()
        .fold((0, 0), |(n, bytes), r| (n + 1, bytes + r.size_bytes))
}

fn messages(count: usize) -> String {
    if count == 1 {
        "1 message".to_owned()
    } else {
        format!("{count} messages")
    }
}

/// The window; false when it was closed.
pub(crate) fn free_space_ui(
    ctx: &egui::Context,
    free: &mut FreeSpace,
    view: &View,
    now_unix: i64,
    commands: &mut Vec<Command>,
) -> bool {
    let Some(account) = view.settings.account(&free.account_id) else {
        return false;
    };
    let name = account.display_name();
    let mut open = true;
    let fits = ctx.content_rect().size() - egui::vec2(16.0, 16.0);
    egui::Window::new(format!("Free up space — {name}"))
        .id(egui::Id::unique("free-space"))
        .open(&mut open)
        .default_size([720.0_f32.min(fits.x), 520.0_f32.min(fits.y)])
        .max_size(fits)
        .collapsible(false)
        .show(ctx, |ui| {
            let Some(state) = view.accounts.get(&free.account_id).filter(|s| s.checked) else {
                ui.label("Check mail first: the list of what is on the server comes from a check.");
                return;
            };
            contents_ui(ui, free, state, account.quota_mb, now_unix, commands);
        });
    open
}

fn contents_ui(
    ui: &mut egui::Ui,
    free: &mut FreeSpace,
    state: &AccountState,
    quota_mb: Option<u32>,
    now_unix: i64,
    commands: &mut Vec<Command>,
) {
    let id = free.account_id.clone();
    let mut on_server = format!(
        "{} on the server, {}",
        messages(state.rows.len()),
        human_size(state.size_bytes)
    );
    if let Some(quota) = quota_mb.filter(|q| *q > 0) {
        let quota = u64::from(quota) * 1_000_000;
        on_server.push_str(&format!(
            " ({:.0}% of {})",
            state.size_bytes as f64 * 100.0 / quota as f64,
            human_size(quota)
        ));
    }
    ui.label(on_server);
    ui.add_space(4.0);
    // The rule: downloaded and older than N days (one pass over the rows:
    // this runs every frame, on mailboxes of thousands).
    let staged = |r: &Row| {
        r.key
            .as_ref()
            .is_some_and(|k| state.staged_deletions.contains(k))
    };
    let picked: Vec<&Row> = old_downloaded(&state.rows, free.days, now_unix)
        .into_iter()
        .filter(|r| !staged(r))
        .collect();
    let (count, bytes) = total(picked.iter().copied());
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("Downloaded messages older than");
        ui.add(
            egui::DragValue::new(&mut free.days)
                .range(0..=3650)
                .suffix(" days"),
        )
        .labelled_by(label.id);
        let text = if count == 0 {
            "Nothing more to mark".to_owned()
        } else {
            format!(
                "Mark them for deletion ({}, {})",
                messages(count),
                human_size(bytes)
            )
        };
        if ui
            .add_enabled(count > 0, egui::Button::new(text))
            .on_hover_text("Only messages already saved on this computer")
            .clicked()
        {
            let keys = picked.iter().filter_map(|r| r.key.clone()).collect();
            commands.push(Command::StageKeys(id.clone(), keys));
        }
    });
    // What Apply will free.
    let (staged, staged_bytes) = total(state.rows.iter().filter(|r| staged(r)));
    ui.horizontal_wrapped(|ui| {
        if staged == 0 {
            ui.label("Nothing is marked for deletion.");
        } else {
            ui.label(format!(
                "Marked for deletion: {}. Apply frees {} on the server.",
                messages(staged),
                human_size(staged_bytes)
            ));
            if ui.button(format!("Apply ({staged})…")).clicked() {
                commands.push(Command::SelectAccount(id.clone()));
                commands.push(Command::RequestApply);
            }
            if ui.button("Unmark all").clicked() {
                let keys = state.staged_deletions.iter().cloned().collect();
                commands.push(Command::UnstageKeys(id.clone(), keys));
            }
        }
    });
    ui.separator();
    let mut order: Vec<&Row> = state.rows.iter().filter(|r| r.key.is_some()).collect();
    order.sort_by_key(|r| std::cmp::Reverse(r.size_bytes));
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 6.0;
    TableBuilder::new(ui)
        .id_salt(("free-space", &id))
        .striped(true)
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(Column::exact(56.0))
        .column(Column::exact(72.0))
        .column(Column::exact(64.0))
        .column(Column::exact(92.0))
        .column(Column::initial(150.0).at_least(60.0).clip(true))
        .column(Column::remainder().at_least(60.0).clip(true))
        .header(row_height, |mut header| {
            for title in ["Delete", "Size", "Date", "Downloaded", "From", "Subject"] {
                header.col(|ui| {
                    ui.strong(title);
                });
            }
        })
        .body(|body| {
            body.rows(row_height, order.len(), |mut table_row| {
                let row = order[table_row.index()];
                let Some(key) = row.key.clone() else { return };
                let staged = state.staged_deletions.contains(&key);
                let text = |t: String| {
                    let text = egui::RichText::new(t);
                    if staged { text.strikethrough() } else { text }
                };
                table_row.col(|ui| {
                    let mut on = staged;
                    let what = format!("Delete {}, {}", row.subject(), human_size(row.size_bytes));
                    let response = ui.checkbox(&mut on, "");
                    response.widget_info(|| {
                        egui::WidgetInfo::selected(egui::accesskit::Role::CheckBox, true, on, &what)
                    });
                    if response.changed() {
                        commands.push(if on {
                            Command::StageKeys(id.clone(), vec![key.clone()])
                        } else {
                            Command::UnstageKeys(id.clone(), vec![key.clone()])
                        });
                    }
                });
                table_row.col(|ui| {
                    ui.label(text(human_size(row.size_bytes)));
                });
                table_row.col(|ui| {
                    ui.label(text(row.date_unix().map(short_date).unwrap_or_default()));
                });
                table_row.col(|ui| {
                    let saved = if row.status == RowStatus::Downloaded {
                        "yes"
                    } else {
                        "no"
                    };
                    ui.label(text(saved.to_owned()));
                });
                table_row.col(|ui| {
                    ui.label(text(row.from().to_owned()));
                });
                table_row.col(|ui| {
                    ui.label(text(row.subject().to_owned()));
                });
            });
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Preview;

    fn row(key: &str, status: RowStatus, date_unix: Option<i64>, size: u64) -> Row {
        let preview = Preview {
            date_unix,
            ..Preview::default()
        };
        Row::new(Some(key.to_owned()), size, Some(preview), status)
    }

    #[test]
    fn the_rule_picks_only_downloaded_messages_older_than_the_days() {
        let now = 1_000 * DAY;
        let rows = [
            row(
                "old-downloaded",
                RowStatus::Downloaded,
                Some(now - 40 * DAY),
                10,
            ),
            row(
                "new-downloaded",
                RowStatus::Downloaded,
                Some(now - 5 * DAY),
                20,
            ),
            row(
                "old-not-downloaded",
                RowStatus::New,
                Some(now - 90 * DAY),
                30,
            ),
            row("old-kept", RowStatus::Seen, Some(now - 90 * DAY), 40),
            row("undated-downloaded", RowStatus::Downloaded, None, 50),
        ];
        let keys = |days| -> Vec<&str> {
            old_downloaded(&rows, days, now)
                .into_iter()
                .filter_map(|r| r.key.as_deref())
                .collect()
        };
        assert_eq!(keys(30), ["old-downloaded"]);
        assert_eq!(keys(3), ["old-downloaded", "new-downloaded"]);
        assert!(keys(60).is_empty());
        assert_eq!(total(old_downloaded(&rows, 3, now)), (2, 30));
    }
}
