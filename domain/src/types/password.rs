//! [`Password`]: a plain-text password on its way to the hasher.

use std::fmt;

use crate::error::DomainError;

/// A password that satisfies the password rules. Never printed, never serialized.
///
/// Rules: 8 to 128 characters (Unicode scalar values; counted as given, not trimmed),
/// no control characters, not only whitespace, and characters from at least two of
/// these classes: letters, digits, everything else (symbols, spaces, ...). So
/// `"password"` and `"12345678"` are refused, `"password1"` and `"correct horse"`
/// are accepted. The account service also refuses a password equal to the username.
///
/// ```
/// use domain::Password;
///
/// assert!(Password::parse("hunter22").is_ok());
/// assert_eq!(Password::parse("short1").unwrap_err().code(), "weak_password");
/// assert!(Password::parse("aaaaaaaaaa").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Shortest accepted length.
    pub const MIN_LEN: usize = 8;
    /// Longest accepted length.
    pub const MAX_LEN: usize = 128;

    /// Validates `s` against the password rules.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let len = s.chars().count();
        if len < Self::MIN_LEN {
            return Err(DomainError::WeakPassword("must be at least 8 characters"));
        }
        if len > Self::MAX_LEN {
            return Err(DomainError::WeakPassword("must be at most 128 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(DomainError::WeakPassword(
                "must not contain control characters",
            ));
        }
        if s.trim().is_empty() {
            return Err(DomainError::WeakPassword("must not be only whitespace"));
        }
        let letters = s.chars().any(char::is_alphabetic);
        let digits = s.chars().any(char::is_numeric);
        let others = s.chars().any(|c| !c.is_alphanumeric());
        if u8::from(letters) + u8::from(digits) + u8::from(others) < 2 {
            return Err(DomainError::WeakPassword(
                "must mix at least two of: letters, digits, other characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The password text (for hashing and verifying only).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl TryFrom<String> for Password {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl<'de> serde::Deserialize<'de> for Password {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(Password::parse("password").is_err());
        assert!(Password::parse("12345678").is_err());
        assert!(Password::parse("        ").is_err());
        assert!(Password::parse("pass\u{0}word1").is_err());
        assert!(Password::parse("password1").is_ok());
        assert!(Password::parse("correct horse").is_ok());
        assert!(Password::parse("пароль123").is_ok());
        assert!(Password::parse(&"a1".repeat(64)).is_ok());
        assert!(Password::parse(&"a1".repeat(65)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("password1").ok()),
            "Some(Password(<redacted>))"
        );
    }
}
