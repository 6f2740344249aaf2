//! [`Username`]: the login name.

use crate::error::DomainError;

/// A login name.
///
/// Rules: surrounding whitespace is trimmed; then 3 to 32 characters of ASCII letters,
/// digits, `_`, `.` and `-`, starting with a letter or a digit. Unicode letters are
/// **refused** on purpose: look-alike characters (Cyrillic `а` vs Latin `a`) and
/// normalisation forms would let two different accounts look the same; people's display
/// names (with any script) belong in the [`crate::Nickname`].
///
/// Uniqueness is case-insensitive: `Alice` and `alice` are the same account
/// ([`Username::key`]); the spelling given at registration is kept for display.
///
/// ```
/// use domain::Username;
///
/// let name = Username::parse("  Alice_01 ")?;
/// assert_eq!(name.as_str(), "Alice_01");
/// assert_eq!(name.key(), "alice_01");
/// assert!(Username::parse("ab").is_err());
/// assert!(Username::parse("名前です").is_err());
/// # Ok::<(), domain::DomainError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    /// Shortest accepted length.
    pub const MIN_LEN: usize = 3;
    /// Longest accepted length.
    pub const MAX_LEN: usize = 32;

    /// Validates and trims `s`.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let s = s.trim();
        let len = s.chars().count();
        if len < Self::MIN_LEN {
            return Err(DomainError::InvalidUsername(
                "must be at least 3 characters",
            ));
        }
        if len > Self::MAX_LEN {
            return Err(DomainError::InvalidUsername(
                "must be at most 32 characters",
            ));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(DomainError::InvalidUsername(
                "may contain only ASCII letters, digits, '_', '.' and '-'",
            ));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(DomainError::InvalidUsername(
                "must start with a letter or a digit",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The uniqueness key: the name in lowercase.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Username {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Username {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Username> for String {
    fn from(u: Username) -> String {
        u.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse("a.b-c_d").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse("_abc").is_err());
        assert!(Username::parse("ab c").is_err());
        assert!(Username::parse("bob'; DROP TABLE users;--").is_err());
        assert!(Username::parse("zoë").is_err());
        assert_eq!(
            Username::parse("x").err().map(|e| e.code()),
            Some("invalid_username")
        );
    }
}
