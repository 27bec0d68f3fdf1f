//! Small icons painted with shapes, so they look the same whatever fonts
//! the system has, each with a name for screen readers.

use egui::{Color32, Pos2, Rect, Response, Sense, Stroke, Vec2};

fn allocate(ui: &mut egui::Ui, label: &str) -> (Response, egui::Painter) {
    let size = Vec2::splat(ui.text_style_height(&egui::TextStyle::Body));
    let (response, painter) = ui.allocate_painter(size, Sense::hover());
    let label = label.to_owned();
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, &label));
    (response.on_hover_text(label_text(&label)), painter)
}

fn label_text(label: &str) -> String {
    label.to_owned()
}

/// A paperclip: the message has attachments.
pub fn paperclip(ui: &mut egui::Ui, label: &str) -> Response {
    let (response, painter) = allocate(ui, label);
    let r = response.rect.shrink(2.0);
    let color = ui.visuals().text_color();
    let stroke = Stroke::new(1.3, color);
    let w = r.width() * 0.42;
    let outer = Rect::from_min_size(
        Pos2::new(r.center().x - w / 2.0, r.top()),
        Vec2::new(w, r.height()),
    );
    painter.rect_stroke(outer, w / 2.0, stroke, egui::StrokeKind::Middle);
    let inner = outer
        .shrink2(Vec2::new(w * 0.28, r.height() * 0.22))
        .translate(Vec2::new(0.0, r.height() * 0.1));
    painter.line_segment([inner.left_top(), inner.left_bottom()], stroke);
    painter.line_segment([inner.right_top(), inner.right_bottom()], stroke);
    response
}

/// A warning triangle with an exclamation mark.
pub fn warning(ui: &mut egui::Ui, label: &str) -> Response {
    let (response, painter) = allocate(ui, label);
    let r = response.rect.shrink(1.5);
    let color = ui.visuals().warn_fg_color;
    painter.add(egui::Shape::convex_polygon(
        vec![
            Pos2::new(r.center().x, r.top()),
            r.right_bottom(),
            r.left_bottom(),
        ],
        color,
        Stroke::NONE,
    ));
    let c = r.center() + Vec2::new(0.0, r.height() * 0.1);
    let dark = Color32::BLACK;
    painter.line_segment(
        [
            c - Vec2::new(0.0, r.height() * 0.25),
            c + Vec2::new(0.0, r.height() * 0.1),
        ],
        Stroke::new(1.6, dark),
    );
    painter.circle_filled(c + Vec2::new(0.0, r.height() * 0.27), 1.0, dark);
    response
}

/// A small triangle pointing up (ascending) or down, painted at the end of
/// a header button.
pub fn sort_arrow(painter: &egui::Painter, at: Pos2, ascending: bool, color: Color32) {
    let h = 4.0;
    let points = if ascending {
        vec![
            at + Vec2::new(0.0, -h),
            at + Vec2::new(h, h),
            at + Vec2::new(-h, h),
        ]
    } else {
        vec![
            at + Vec2::new(-h, -h),
            at + Vec2::new(h, -h),
            at + Vec2::new(0.0, h),
        ]
    };
    painter.add(egui::Shape::convex_polygon(points, color, Stroke::NONE));
}
