//! [`Capacity`]: how many members an activity holds.

use crate::error::DomainError;

/// The most members an activity holds, **the organiser included**: the organiser is
/// the first member, so a capacity of 10 leaves 9 places for others.
/// Accepted range: 2..=10,000 (an activity for one is not social).
///
/// ```
/// use domain::Capacity;
///
/// assert_eq!(Capacity::new(10)?.get(), 10);
/// assert!(Capacity::new(1).is_err());
/// # Ok::<(), domain::DomainError>(())
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "i64", into = "i64")]
pub struct Capacity(u32);

impl Capacity {
    /// Smallest accepted capacity.
    pub const MIN: u32 = 2;
    /// Largest accepted capacity.
    pub const MAX: u32 = 10_000;

    /// Validates `n`.
    pub fn new(n: i64) -> Result<Self, DomainError> {
        u32::try_from(n)
            .ok()
            .filter(|n| (Self::MIN..=Self::MAX).contains(n))
            .map(Self)
            .ok_or_else(|| DomainError::invalid("capacity", "must be between 2 and 10000"))
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for Capacity {
    type Error = DomainError;
    fn try_from(n: i64) -> Result<Self, Self::Error> {
        Self::new(n)
    }
}

impl From<Capacity> for i64 {
    fn from(c: Capacity) -> i64 {
        i64::from(c.0)
    }
}

impl std::fmt::Display for Capacity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
