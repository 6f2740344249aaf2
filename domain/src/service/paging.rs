//! Pages of results with an opaque cursor.

use crate::error::DomainError;
use crate::repository::ActivityCursor;
use crate::types::{ActivityId, Timestamp};

/// Which page to return.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct PageRequest {
    /// The `next_cursor` of the previous page; absent for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Items per page: default 20, at most 100.
    #[serde(default)]
    pub limit: Option<u32>,
}

impl PageRequest {
    /// Items per page when not given.
    pub const DEFAULT_LIMIT: u32 = 20;
    /// Most items per page.
    pub const MAX_LIMIT: u32 = 100;

    pub(crate) fn limit(&self) -> Result<u32, DomainError> {
        match self.limit {
            None => Ok(Self::DEFAULT_LIMIT),
            Some(n) if (1..=Self::MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(DomainError::invalid("limit", "must be between 1 and 100")),
        }
    }

    pub(crate) fn activity_cursor(&self) -> Result<Option<ActivityCursor>, DomainError> {
        let Some(c) = self.cursor.as_deref() else {
            return Ok(None);
        };
        let bad = || DomainError::invalid("cursor", "is not a cursor from a previous page");
        let (millis, id) = c.split_once('_').ok_or_else(bad)?;
        Ok(Some(ActivityCursor {
            starts_at: Timestamp::from_unix_millis(millis.parse().map_err(|_| bad())?),
            id: ActivityId::parse(id).map_err(|_| bad())?,
        }))
    }
}

pub(crate) fn encode_activity_cursor(starts_at: Timestamp, id: &ActivityId) -> String {
    format!("{}_{}", starts_at.unix_millis(), id)
}

/// One page of results.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Page<T> {
    /// The items, in order.
    pub items: Vec<T>,
    /// Pass this as [`PageRequest::cursor`] for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}
