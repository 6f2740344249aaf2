//! Entity ids: UUID text (v7 when we make them), canonical lowercase hyphenated form.

use crate::error::DomainError;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// A fresh, time-ordered id (UUID v7).
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            /// Parses a hyphenated UUID (any case); the id keeps its lowercase form.
            pub fn parse(s: &str) -> Result<Self, DomainError> {
                if s.len() != 36 {
                    return Err(DomainError::invalid($field, "must be a hyphenated UUID"));
                }
                uuid::Uuid::try_parse(s)
                    .map(|u| Self(u.hyphenated().to_string()))
                    .map_err(|_| DomainError::invalid($field, "must be a hyphenated UUID"))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
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
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

uuid_id!(
    /// Identifies a user: UUID v7 text, e.g. `0190b1e2-7c4a-7d3e-9f10-2b3c4d5e6f70`.
    UserId,
    "user_id"
);
uuid_id!(
    /// Identifies an activity: UUID v7 text.
    ActivityId,
    "activity_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_parse_back() {
        let id = UserId::new();
        assert_eq!(UserId::parse(id.as_str()).ok(), Some(id));
    }

    #[test]
    fn uppercase_is_normalised_and_garbage_refused() {
        let id = ActivityId::parse("0190B1E2-7C4A-7D3E-9F10-2B3C4D5E6F70").ok();
        assert_eq!(
            id.map(String::from).as_deref(),
            Some("0190b1e2-7c4a-7d3e-9f10-2b3c4d5e6f70")
        );
        assert!(ActivityId::parse("not-a-uuid").is_err());
        assert!(ActivityId::parse("0190b1e27c4a7d3e9f102b3c4d5e6f70").is_err());
        assert!(serde_json::from_str::<UserId>("\"' OR 1=1 --\"").is_err());
    }
}
