//! What a person is told when something goes wrong: one type for it,
//! `UserMessage` (what happened, the next step, and the technical detail),
//! and one trait, `Explain`, that every error a person can meet
//! implements. The app, the command line and the log show the same
//! sentences. A leaf: it knows no error type of its own.

/// An error told to a home user: what happened, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserMessage {
    /// One sentence, no jargon.
    pub headline: String,
    /// The next step to take.
    pub next_step: String,
    /// The technical detail, for the log and for whoever helps the user.
    pub detail: String,
}

impl UserMessage {
    pub fn new(
        headline: impl Into<String>,
        next_step: impl Into<String>,
        detail: impl Into<String>,
    ) -> UserMessage {
        UserMessage {
            headline: headline.into(),
            next_step: next_step.into(),
            detail: detail.into(),
        }
    }

    /// Headline and next step as one paragraph.
    pub fn sentences(&self) -> String {
        format!("{} {}", self.headline, self.next_step)
    }
}

/// An error that can say what it means for the user.
pub trait Explain {
    fn user_message(&self) -> UserMessage;
}

impl Explain for crate::fsutil::FileError {
    fn user_message(&self) -> UserMessage {
        let (headline, next_step) = if self.is_disk_full() {
            (
                "The disk is full, so Letterbox could not save its files.".to_owned(),
                "Free some space and try again.",
            )
        } else {
            (
                format!(
                    "Letterbox could not {} {}.",
                    self.action,
                    self.path.display()
                ),
                "Check that the folder exists and that you may write to it.",
            )
        };
        UserMessage::new(headline, next_step, self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::FileError;

    #[test]
    fn file_errors_name_the_file_and_the_next_step() {
        let error = FileError::new(
            "save",
            std::path::Path::new("/x/settings.toml"),
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        let message = error.user_message();
        assert_eq!(
            message.headline,
            "Letterbox could not save /x/settings.toml."
        );
        assert!(message.sentences().ends_with("that you may write to it."));
        let full = FileError::new(
            "save",
            std::path::Path::new("/x/y"),
            std::io::Error::from(std::io::ErrorKind::StorageFull),
        );
        assert!(full.user_message().headline.contains("disk is full"));
    }
}
