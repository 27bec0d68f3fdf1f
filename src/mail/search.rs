//! What the index of downloaded mail keeps of a message: the header
//! summary the Downloaded list shows, and the text search looks through
//! (the decoded body, HTML as text, plus the attachments' names).

use super::view::MessageView;

/// Most characters of body text kept for search: enough for any letter;
/// a huge text part adds little to finding a message by a word.
pub const MAX_SEARCH_TEXT_BYTES: usize = 256 * 1024;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub date_unix: Option<i64>,
    /// How many attachments (inline pictures of an HTML text not counted).
    pub attachments: u32,
    /// The text search looks through.
    pub text: String,
}

impl Summary {
    pub fn from_bytes(raw: &[u8]) -> Summary {
        Summary::of(&MessageView::from_bytes(raw))
    }

    pub fn of(view: &MessageView) -> Summary {
        let mut text = String::with_capacity(view.text.len().min(MAX_SEARCH_TEXT_BYTES) + 64);
        let mut end = view.text.len().min(MAX_SEARCH_TEXT_BYTES);
        while !view.text.is_char_boundary(end) {
            end -= 1;
        }
        text.push_str(&view.text[..end]);
        for attachment in &view.attachments {
            text.push('\n');
            text.push_str(&attachment.name);
        }
        Summary {
            from: view.from.clone(),
            to: view.to.clone(),
            subject: view.subject.clone(),
            date_unix: view.date_unix,
            attachments: view.attachments.iter().filter(|a| !a.inline).count() as u32,
            text,
        }
    }
}
