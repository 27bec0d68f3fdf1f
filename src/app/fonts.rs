//! Fonts for every script and emoji a message contains. egui's built-in
//! fonts cover Latin, Greek and Cyrillic; for anything else (a Japanese
//! sender, an Arabic subject, an emoji) the system's own font
//! configuration is asked (fontconfig on Linux, through fontique), once per
//! character that no font loaded so far can draw, and the font it names is
//! added as a fallback. Colour emoji fonts are drawn in colour; when the
//! computer has no emoji font at all, a monochrome one built into the app
//! draws them, so nothing shows as an empty box.

use std::sync::Arc;

use egui::epaint::text::{FallbackRequest, FontInsert, FontPriority, InsertFontFamily};

/// Installs the font lookups; the system's fonts are enumerated on a
/// background thread from here on.
pub fn install(ctx: &egui::Context) {
    ctx.add_font_provider(Arc::new(
        egui_system_font_provider::SystemFontProvider::new(),
    ));
    ctx.add_font_provider(Arc::new(bundled_emoji));
}

/// The app's monochrome emoji font, asked after the system's fonts.
fn bundled_emoji(request: &FallbackRequest<'_>) -> Option<FontInsert> {
    let c = request.cluster.chars().next()?;
    if !is_emoji_or_symbol(c) {
        return None;
    }
    Some(FontInsert::new(
        "letterbox-noto-emoji",
        egui::FontData::from_static(epaint_default_fonts::NOTO_EMOJI_REGULAR),
        vec![InsertFontFamily {
            family: request.family.clone(),
            priority: FontPriority::Lowest,
        }],
    ))
}

/// Pictographs, dingbats and symbols: what an emoji font has.
fn is_emoji_or_symbol(c: char) -> bool {
    matches!(u32::from(c),
        0x2190..=0x21FF // arrows
        | 0x2300..=0x23FF // technical (⌚ ⏰)
        | 0x2460..=0x24FF // enclosed alphanumerics
        | 0x25A0..=0x27BF // shapes, miscellaneous symbols, dingbats (☕ ❄)
        | 0x2900..=0x2BFF // arrows, symbols
        | 0x3030 | 0x303D | 0x3297 | 0x3299
        | 0x1F000..=0x1FAFF) // mahjong to symbols and pictographs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_and_symbols_only_go_to_the_bundled_font() {
        for c in ['☕', '❄', '🎂', '🍷', '📎', '→'] {
            assert!(is_emoji_or_symbol(c), "{c}");
        }
        for c in ['a', 'é', 'Ж', '山', 'ع', '1'] {
            assert!(!is_emoji_or_symbol(c), "{c}");
        }
        let request = FallbackRequest {
            cluster: "🎂",
            family: &egui::FontFamily::Proportional,
        };
        assert!(bundled_emoji(&request).is_some());
        let request = FallbackRequest {
            cluster: "山",
            family: &egui::FontFamily::Proportional,
        };
        assert!(bundled_emoji(&request).is_none());
    }

    #[test]
    fn the_bundled_font_draws_the_emoji_of_everyday_mail() {
        // Only the bundled font: a computer without any emoji font.
        let ctx = egui::Context::default();
        ctx.add_font_provider(Arc::new(bundled_emoji));
        ctx.set_missing_glyph_policy(egui::epaint::text::MissingGlyphPolicy::Panic);
        // Panics on a glyph no font has.
        let mut output = ctx.run_ui(egui::RawInput::default(), |ui| {
            ui.label("☕ The Rusty Kettle ❄️ Omas 90. Geburtstag 🎂 Dîner 🍷 📎");
        });
        output.textures_delta.clear();
    }
}
