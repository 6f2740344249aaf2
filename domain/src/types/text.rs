//! Free-text values with length and character rules: [`Nickname`], [`Title`],
//! [`Description`], [`Location`] and [`CancelReason`].
//!
//! All of them trim surrounding whitespace, count length in Unicode scalar values and
//! refuse control characters (multi-line texts allow `\n`, `\r` and `\t`) and the
//! bidirectional embedding, override and isolate controls (U+202A..U+202E,
//! U+2066..U+2069), which can make a name display as another (`"\u{202e}ada"`). A
//! required text must have a visible character: whitespace and zero-width characters
//! alone count as empty. Any script, emoji, the left-to-right and right-to-left marks
//! and SQL metacharacters are stored verbatim.

use crate::error::DomainError;

/// Bidirectional embeddings, overrides and isolates: refused in every text.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing: whitespace, zero-width spaces and joiners, the word
/// joiner and the byte-order mark.
pub(crate) fn is_invisible(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

fn check(
    field: &'static str,
    s: &str,
    min: usize,
    max: usize,
    multiline: bool,
) -> Result<String, DomainError> {
    let s = s.trim();
    let len = s.chars().count();
    if min > 0 && s.chars().all(is_invisible) {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if len < min {
        let reason = if min == 1 {
            "must not be empty".to_owned()
        } else {
            format!("must be at least {min} characters")
        };
        return Err(DomainError::invalid(field, reason));
    }
    if len > max {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if s.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(DomainError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    if s.chars().any(is_bidi_control) {
        return Err(DomainError::invalid(
            field,
            "must not contain bidirectional override or isolate characters",
        ));
    }
    Ok(s.to_owned())
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $min:expr, $max:expr, $multiline:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Shortest accepted length, in characters, after trimming.
            pub const MIN_LEN: usize = $min;
            /// Longest accepted length, in characters, after trimming.
            pub const MAX_LEN: usize = $max;

            /// Validates and trims `s`.
            pub fn parse(s: &str) -> Result<Self, DomainError> {
                check($field, s, $min, $max, $multiline).map(Self)
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
    };
}

text_type!(
    /// A display name: 1-64 characters, any script, one line.
    Nickname, "nickname", 1, 64, false
);
text_type!(
    /// An activity's title: 1-100 characters, one line.
    ///
    /// ```
    /// use domain::Title;
    ///
    /// assert_eq!(Title::parse("  Hike 🥾 '; DROP TABLE x;-- ")?.as_str(), "Hike 🥾 '; DROP TABLE x;--");
    /// assert!(Title::parse("   ").is_err());
    /// # Ok::<(), domain::DomainError>(())
    /// ```
    Title, "title", 1, 100, false
);
text_type!(
    /// An activity's description: 0-5,000 characters, may span lines.
    Description, "description", 0, 5000, true
);
text_type!(
    /// Where an activity takes place: 1-200 characters, one line.
    Location, "location", 1, 200, false
);
text_type!(
    /// Why an activity was cancelled: 0-500 characters, may span lines.
    CancelReason, "reason", 0, 500, true
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_counted_in_characters() {
        assert!(Title::parse(&"界".repeat(100)).is_ok());
        assert!(Title::parse(&"界".repeat(101)).is_err());
        assert!(Description::parse("").is_ok());
        assert!(Description::parse("line one\nline two\ttab").is_ok());
        assert!(Title::parse("line one\nline two").is_err());
        assert!(Location::parse("\u{7}bell").is_err());
        assert!(Nickname::parse("").is_err());
    }

    #[test]
    fn spoofing_and_invisible_texts_are_refused() {
        assert!(Nickname::parse("\u{202e}ada").is_err());
        assert!(Title::parse("a\u{2067}b").is_err());
        assert!(Nickname::parse("\u{200b}\u{200b}").is_err());
        assert!(Title::parse(" \u{feff} ").is_err());
        assert!(
            Description::parse("\u{200b}").is_ok(),
            "optional texts may be anything"
        );
        assert!(
            Nickname::parse("علي\u{200f}").is_ok(),
            "the right-to-left mark is fine"
        );
        assert!(
            Nickname::parse("a\u{200d}b").is_ok(),
            "a joiner inside text is fine"
        );
    }
}
