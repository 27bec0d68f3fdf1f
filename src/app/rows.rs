//! A list row as one accessible item. A table draws a row as cells of
//! plain labels; a screen reader needs one item per message, named after
//! it ("New, from Sam, Cabin: packing list, 25 Nov, 2.6 KB"), selectable
//! and with a default action that selects it. Each row gets such an item,
//! made in its first cell and spanning the whole row; the cells' labels
//! become its children.
//!
//! Keyboard: a list is one stop for Tab, at its current row (the one the
//! selection's focus is on); the arrows, Page Up/Down, Home and End then
//! move the selection, and the keyboard focus follows it.

use egui::accesskit::Role;
use egui::{EventFilter, Id, Rangef, Response, Sense, Ui, UiBuilder, WidgetInfo};
use egui_extras::{Column, TableBuilder};

/// The server's list.
pub(crate) const MESSAGES: &str = "messages";
/// The downloaded mail's list.
pub(crate) const DOWNLOADED: &str = "downloaded";

/// The id of the item of `list`'s row `key`.
pub(crate) fn item_id(list: &str, key: &str) -> Id {
    Id::unique(("letterbox-row", list, key))
}

fn anchor_memory(list: &str) -> Id {
    Id::unique(("letterbox-row-anchor", list))
}

/// One row's item. `current`: this row is where Tab enters the list.
/// Call in the row's first cell; `x` is the span of the whole row.
pub(crate) fn row_item(
    ui: &mut Ui,
    list: &'static str,
    key: &str,
    x: Rangef,
    current: bool,
    selected: bool,
    summary: impl Fn() -> String,
) -> Response {
    let id = item_id(list, key);
    let rect = egui::Rect::from_x_y_ranges(x, ui.max_rect().y_range());
    // Only the current row takes the keyboard focus; every row can be
    // clicked, by the mouse or by an assistive technology.
    let sense = if current {
        Sense::click()
    } else {
        Sense::CLICK
    };
    let response = ui.interact(rect, id, sense);
    response.widget_info(|| WidgetInfo::labeled(Role::ListItem, true, summary()));
    ui.ctx()
        .accesskit_node_builder(id, |node| node.set_selected(selected));
    if current {
        ui.ctx()
            .data_mut(|d| d.insert_temp(anchor_memory(list), id));
        // The arrows move the selection, not the focus to another widget.
        ui.memory_mut(|m| {
            m.set_focus_lock_filter(
                id,
                EventFilter {
                    vertical_arrows: true,
                    horizontal_arrows: false,
                    tab: false,
                    escape: false,
                },
            );
        });
    }
    response
}

/// Draws a cell's contents as part of the row's item.
pub(crate) fn in_item(ui: &mut Ui, item: Id, add: impl FnOnce(&mut Ui)) {
    ui.scope_builder(UiBuilder::new().accessibility_parent(item), add);
}

/// Whether the list keys (arrows, Delete, Ctrl+A, …) are for the lists:
/// nothing has the keyboard focus, or a list's current row has it.
pub(crate) fn keys_for_lists(ctx: &egui::Context) -> bool {
    let Some(focused) = ctx.memory(|m| m.focused()) else {
        return true;
    };
    [MESSAGES, DOWNLOADED]
        .iter()
        .any(|list| ctx.data(|d| d.get_temp::<Id>(anchor_memory(list))) == Some(focused))
}

/// Whether `list`'s current row had the keyboard focus: if so, the focus
/// moves with the selection.
pub(crate) fn list_has_focus(ctx: &egui::Context, list: &str) -> bool {
    let focused = ctx.memory(|m| m.focused());
    focused.is_some() && ctx.data(|d| d.get_temp::<Id>(anchor_memory(list))) == focused
}

/// The widths of a list's columns in `width` points: Status, then
/// (optionally) Account, From, Subject, Date, Size and the attachment mark.
/// Date and Size keep their width (a narrow list shows shorter dates and
/// no Status column), the
/// Subject gives way first, and From never takes more than 45% of what the
/// two share, so every column stays on screen at 800×600 and at 150%.
pub(crate) struct ListColumns {
    /// Narrow lists show no Status column: the row's text says it (bold:
    /// new or unread, struck through: to delete) and its name too.
    pub show_status: bool,
    pub status: f32,
    pub date: f32,
    pub size: f32,
    pub attachment: f32,
    /// The date is shown short ("24 Nov").
    pub short_dates: bool,
    /// The most From (and Account) may take.
    pub from_max: f32,
}

impl ListColumns {
    pub fn new(ui: &Ui, width: f32, status_text: &str, with_account: bool) -> ListColumns {
        let measure = |text: &str| {
            ui.painter()
                .layout_no_wrap(
                    text.to_owned(),
                    egui::TextStyle::Body.resolve(ui.style()),
                    egui::Color32::WHITE,
                )
                .size()
                .x
                .ceil()
                + 10.0
        };
        let status = measure(status_text);
        let size = measure("999.9 MB");
        let attachment = 24.0;
        let long_date = measure("2026-11-24 12:00");
        let short_date = measure("2026-11-24");
        let show_status = width >= 480.0;
        let columns = 5.0 + f32::from(u8::from(with_account)) + f32::from(u8::from(show_status));
        let spacing = ui.spacing().item_spacing.x * columns;
        let fixed = if show_status { status } else { 0.0 } + size + attachment + spacing;
        // Long dates only when From and Subject keep 300 points.
        let short_dates = width - fixed - long_date < 300.0;
        let date = if short_dates { short_date } else { long_date };
        let shared = (width - fixed - date).max(100.0);
        let from_max = (shared * if with_account { 0.3 } else { 0.45 }).max(50.0);
        ListColumns {
            show_status,
            status,
            date,
            size,
            attachment,
            short_dates,
            from_max,
        }
    }
}

impl ListColumns {
    /// The columns both lists end with: From, Subject, Date, Size and the
    /// attachment mark. The subject takes what the others leave, every
    /// frame, so the list always fills its width (a resizable column would
    /// keep the width of its first frame, before a zoom or a resize).
    pub fn shared_columns<'a>(&self, table: TableBuilder<'a>) -> TableBuilder<'a> {
        table
            .column(
                Column::initial(180.0)
                    .at_least(50.0)
                    .at_most(self.from_max)
                    .clip(true),
            )
            .column(
                Column::remainder()
                    .at_least(50.0)
                    .clip(true)
                    .resizable(false),
            )
            .column(Column::exact(self.date).clip(true))
            .column(Column::exact(self.size).clip(true))
            .column(Column::exact(self.attachment))
    }
}

/// Where a row's item goes, and what it says.
pub(crate) struct RowItem<'a, S: Fn() -> String> {
    pub list: &'static str,
    pub key: &'a str,
    /// The span of the whole row.
    pub x: Rangef,
    /// This row is where Tab enters the list.
    pub current: bool,
    pub selected: bool,
    pub summary: S,
}

/// A row's cells: its text, then the attachment mark, all inside the row's
/// one accessible item (made in the first cell). The response of the item
/// and the row together.
pub(crate) fn item_cells<S: Fn() -> String>(
    table_row: &mut egui_extras::TableRow<'_, '_>,
    row: RowItem<'_, S>,
    cells: impl IntoIterator<Item = egui::RichText>,
    attachments: bool,
) -> Option<Response> {
    let mut item: Option<Response> = None;
    for (column, text) in cells.into_iter().enumerate() {
        table_row.col(|ui| {
            if column == 0 {
                item = Some(row_item(
                    ui,
                    row.list,
                    row.key,
                    row.x,
                    row.current,
                    row.selected,
                    &row.summary,
                ));
            }
            let Some(item) = &item else { return };
            in_item(ui, item.id, |ui| {
                ui.add(egui::Label::new(text).selectable(false).truncate());
            });
        });
    }
    table_row.col(|ui| {
        if attachments && let Some(item) = &item {
            in_item(ui, item.id, |ui| {
                super::icons::paperclip(ui, "Has attachments");
            });
        }
    });
    Some(item?.union(table_row.response()))
}

/// Call at the end of a scroll area's contents: the widget the keyboard
/// focus has just moved to, if it is in there, scrolls into view (egui
/// does not do it by itself), so Tab never lands on something hidden.
pub(crate) fn keep_focus_in_view(ui: &Ui) {
    let Some(id) = ui.memory(|m| m.focused()) else {
        return;
    };
    if let Some(response) = ui.ctx().read_response(id)
        && response.gained_focus()
        && ui.min_rect().contains_rect(response.rect)
    {
        response.scroll_to_me(Some(egui::Align::Center));
    }
}
