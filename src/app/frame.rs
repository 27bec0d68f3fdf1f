//! One frame: `logic` drains the worker's events and runs the timers,
//! `ui` draws every view and then carries out the commands they pushed.

use super::{
    App, View, accounts, downloaded, mail_dialogs, messages, preview, reader, status, toolbar,
};

impl eframe::App for App {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.watch_quit(ctx);
        let theme = match self.settings.general.theme {
            crate::settings::Theme::System => egui::ThemePreference::System,
            crate::settings::Theme::Light => egui::ThemePreference::Light,
            crate::settings::Theme::Dark => egui::ThemePreference::Dark,
        };
        if ctx.options(|o| o.theme_preference) != theme {
            ctx.set_theme(theme);
        }
        while let Some(event) = self.worker.try_recv() {
            self.handle_event(event);
        }
        self.poll_library(ctx);
        self.poll_sign_in();
        let loaded: Vec<_> = self
            .last_known
            .extract_if(.., |(_, p)| p.ready().is_some())
            .collect();
        for (id, promise) in loaded {
            if let Some(last) = promise.block_and_take() {
                self.state_mut(&id).last_known(last);
            }
        }
        self.desktop_events(ctx);
        self.run_schedule(ctx);
        self.update_title(ctx);
    }

    /// Draws every view. A view reads the `View` and changes only its own
    /// state (the filter, the selection, a dialog's fields); everything
    /// else it asks for by pushing a `Command`, carried out after drawing.
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.shortcuts(&ctx);
        let mut commands = std::mem::take(&mut self.commands);
        let selected_keys = self.selected_keys().len();
        let view = View {
            loading: self.loading_settings,
            settings: &self.settings,
            accounts: &self.accounts,
            selected: self
                .persisted
                .selected_account
                .as_deref()
                .and_then(|id| self.settings.account(id)),
            place: self.persisted.place,
            signing_in: self.sign_ins.banner_sign_in_account(),
        };
        toolbar::toolbar_ui(ui, &view, selected_keys, &self.library, &mut commands);
        status::status_bar_ui(ui, &view, self.note.as_deref(), &mut self.log_open);
        accounts::accounts_ui(ui, &view, &self.library, &mut commands);
        egui::CentralPanel::default().show(ui, |ui| {
            status::banners_ui(ui, &view, &self.notices, &mut commands);
            if view.place.is_local() {
                status::mail_notice_ui(ui, &self.library, &mut commands);
                let mut pane = self.library.pane.take();
                if let Some(opened) = pane.as_mut() {
                    reader::reader_pane_ui(ui, opened, &mut commands);
                }
                self.library.pane = pane;
                downloaded::downloaded_ui(ui, &view, view.place, &mut self.library, &mut commands);
                return;
            }
            preview::preview_panel_ui(
                ui,
                &view,
                self.selection.focus.as_deref(),
                &self.longer_previews,
                &mut commands,
            );
            let table = messages::TableState {
                filter: self
                    .filters
                    .entry(self.persisted.selected_account.clone().unwrap_or_default())
                    .or_default(),
                selection: &mut self.selection,
                sort: &mut self.persisted.sort,
                ascending: &mut self.persisted.ascending,
            };
            messages::messages_ui(ui, &view, table, &mut commands);
        });
        if let Some(free) = self.free_space.as_mut() {
            let now = crate::store::ledger::now_unix();
            if !super::free_space::free_space_ui(&ctx, free, &view, now, &mut commands) {
                self.free_space = None;
            }
        }
        for opened in &mut self.library.windows {
            reader::reader_window_ui(&ctx, opened, &mut commands);
        }
        mail_dialogs::mail_dialog_ui(&ctx, &mut self.library.dialog, &mut commands);
        status::log_window_ui(&ctx, &self.log, &mut self.log_open, &mut commands);
        status::help_window_ui(&ctx, &mut self.help_open);
        status::confirm_ui(&ctx, &mut self.confirm, &mut commands);
        super::background::background_question_ui(&ctx, &mut self.confirm, &mut commands);
        status::password_prompt_ui(&ctx, &mut self.password_prompt, &mut commands);
        let mut dialog_closed = false;
        if let Some(dialog) = self.settings_dialog.as_mut()
            && !dialog.ui(&ctx, self.keyring.as_ref(), &self.sign_ins, &mut commands)
        {
            self.settings_dialog = None;
            dialog_closed = true;
        }
        for command in commands {
            self.run_command(command);
        }
        if dialog_closed {
            // After its Save ran: only accounts never saved are forgotten.
            self.settings_dialog_closed();
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.persisted);
    }
}
