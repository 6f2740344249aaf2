//! [`GroupId`]: the opaque id of a group chat.

use crate::error::DomainError;

/// The id of an activity's group chat, assigned by the IM service: 1-64 characters of
/// ASCII letters, digits and `-`, `_`, `.`, `:` (a UUID fits; so do other schemes).
///
/// ```
/// use domain::GroupId;
///
/// let made = GroupId::new(); // a UUID v7
/// assert_eq!(GroupId::parse(made.as_str())?, made);
/// assert!(GroupId::parse("grp:2026-hike_1").is_ok());
/// assert!(GroupId::parse("").is_err());
/// assert!(GroupId::parse("x'; DROP TABLE groups;--").is_err());
/// # Ok::<(), domain::DomainError>(())
/// ```
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct GroupId(String);

impl GroupId {
    /// Longest accepted id, in bytes.
    pub const MAX_LEN: usize = 64;

    /// A fresh id (UUID v7).
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// Checks `s` (not trimmed: an id is exact).
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if s.is_empty() {
            return Err(DomainError::invalid("group_id", "must not be empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(DomainError::invalid(
                "group_id",
                format!("must be at most {} characters", Self::MAX_LEN),
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        {
            return Err(DomainError::invalid(
                "group_id",
                "may contain only ASCII letters, digits and - _ . :",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for GroupId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for GroupId {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for GroupId {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<GroupId> for String {
    fn from(v: GroupId) -> String {
        v.0
    }
}
