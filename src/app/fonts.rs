//! Fallback fonts from the system for scripts egui's built-in fonts lack
//! (Chinese, Japanese, Korean; many symbols), so such names and subjects
//! are readable when the computer has a font for them. Loaded on a
//! background thread: font files can be large.

/// Well-known places of fonts with wide coverage, best first.
const CANDIDATES: &[&str] = &[
    // CJK
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/System/Library/Fonts/Hiragino Sans GB.ttc",
    "C:\\Windows\\Fonts\\msyh.ttc",
    "C:\\Windows\\Fonts\\meiryo.ttc",
    // Symbols and more Latin, Greek, Cyrillic
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:\\Windows\\Fonts\\seguisym.ttf",
];

/// Starts loading; each font found is added as a fallback when read.
pub fn load_fallbacks(ctx: &egui::Context) {
    let ctx = ctx.clone();
    let _ = std::thread::Builder::new()
        .name("letterbox-fonts".into())
        .spawn(move || {
            let mut added = 0;
            for path in CANDIDATES {
                if added == 2 {
                    break;
                }
                let Ok(bytes) = std::fs::read(path) else {
                    continue;
                };
                let families = [egui::FontFamily::Proportional, egui::FontFamily::Monospace]
                    .into_iter()
                    .map(|family| egui::epaint::text::InsertFontFamily {
                        family,
                        priority: egui::epaint::text::FontPriority::Lowest,
                    })
                    .collect();
                ctx.add_font(egui::epaint::text::FontInsert::new(
                    path,
                    egui::FontData::from_owned(bytes),
                    families,
                ));
                added += 1;
            }
            if added > 0 {
                ctx.request_repaint();
            }
        });
}
