//! [`Timestamp`]: a UTC instant with millisecond precision.
//!
//! Stored as `i64` Unix milliseconds (a `BIGINT`/`INTEGER` column behaves the same on
//! MySQL and SQLite: no time-zone conversion, sortable, exact), and written as RFC 3339
//! text in JSON (`"2030-05-01T18:00:00.000Z"`). The `time` crate does the formatting and
//! parsing only; it does not appear in this crate's API.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::DomainError;

/// A UTC instant, milliseconds since the Unix epoch.
///
/// JSON: an RFC 3339 string on output; on input an RFC 3339 string (any offset) or an
/// integer of Unix milliseconds.
///
/// ```
/// use domain::Timestamp;
///
/// let t: Timestamp = "2030-05-01T20:00:00+02:00".parse()?;
/// assert_eq!(t.to_rfc3339(), "2030-05-01T18:00:00.000Z");
/// assert_eq!(Timestamp::from_unix_millis(t.unix_millis()), t);
/// # Ok::<(), domain::DomainError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// The latest instant accepted: 9999-12-31T23:59:59.999Z (RFC 3339 has four-digit years).
const MAX_MILLIS: i64 = 253_402_300_799_999;
/// The earliest instant accepted: 0000-01-01T00:00:00Z.
const MIN_MILLIS: i64 = -62_167_219_200_000;

impl Timestamp {
    /// The current system time.
    pub fn now() -> Self {
        let millis = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(MAX_MILLIS),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(-MIN_MILLIS),
        };
        Self(millis.clamp(MIN_MILLIS, MAX_MILLIS))
    }

    /// From Unix milliseconds (clamped to years 0000..=9999).
    pub fn from_unix_millis(millis: i64) -> Self {
        Self(millis.clamp(MIN_MILLIS, MAX_MILLIS))
    }

    /// Unix milliseconds.
    pub fn unix_millis(self) -> i64 {
        self.0
    }

    /// Unix seconds (rounded down).
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This instant plus `d` (saturating).
    #[must_use]
    pub fn plus(self, d: Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self::from_unix_millis(self.0.saturating_add(ms))
    }

    /// This instant minus `d` (saturating).
    #[must_use]
    pub fn minus(self, d: Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self::from_unix_millis(self.0.saturating_sub(ms))
    }

    /// RFC 3339 in UTC with milliseconds, e.g. `2030-05-01T18:00:00.000Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        let Ok(dt) = OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
            return self.0.to_string();
        };
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.millisecond()
        )
    }

    /// Parses RFC 3339 (any offset; sub-millisecond digits are truncated).
    pub fn parse_rfc3339(s: &str) -> Result<Self, DomainError> {
        let dt = OffsetDateTime::parse(s, &Rfc3339)
            .map_err(|_| DomainError::invalid("timestamp", "must be an RFC 3339 date-time"))?;
        let millis = dt.unix_timestamp_nanos().div_euclid(1_000_000);
        let millis = i64::try_from(millis)
            .ok()
            .filter(|m| (MIN_MILLIS..=MAX_MILLIS).contains(m))
            .ok_or_else(|| DomainError::invalid("timestamp", "out of range"))?;
        Ok(Self(millis))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl std::str::FromStr for Timestamp {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_rfc3339(s)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 date-time or Unix milliseconds")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse_rfc3339(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Timestamp, E> {
                if (MIN_MILLIS..=MAX_MILLIS).contains(&v) {
                    Ok(Timestamp(v))
                } else {
                    Err(E::custom("timestamp out of range"))
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Timestamp, E> {
                let v = i64::try_from(v).map_err(|_| E::custom("timestamp out of range"))?;
                self.visit_i64(v)
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        let t = Timestamp::from_unix_millis(1_700_000_000_123);
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20.123Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()).ok(), Some(t));
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
        let json = serde_json::to_string(&t).unwrap_or_default();
        assert_eq!(json, "\"2023-11-14T22:13:20.123Z\"");
        let back: Timestamp = serde_json::from_str("1700000000123").unwrap_or(Timestamp(0));
        assert_eq!(back, t);
    }

    #[test]
    fn negative_and_extreme_values() {
        let t = Timestamp::from_unix_millis(-1);
        assert_eq!(t.to_rfc3339(), "1969-12-31T23:59:59.999Z");
        let max = Timestamp::from_unix_millis(i64::MAX);
        assert_eq!(max.to_rfc3339(), "9999-12-31T23:59:59.999Z");
        assert_eq!(Timestamp::parse_rfc3339(&max.to_rfc3339()).ok(), Some(max));
    }
}
