//! Which handlers cannot fetch right now, for [`super::RouterHandle::failing_handlers`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// A handler whose subscription has been failing to fetch since `since`.
///
/// The router keeps retrying (every [`super::RouterConfig::fetch_error_backoff`]), so a
/// broker that restarts is ridden out; this is how a supervisor sees the outage meanwhile.
#[derive(Clone, Debug)]
pub struct FetchFailure {
    /// The handler's name.
    pub handler: String,
    /// The last error its subscription reported.
    pub error: String,
    /// Failed fetches in a row.
    pub failures: u32,
    /// When the first failure of this run of failures happened.
    pub since: Instant,
}

/// The handlers failing to fetch, shared by the workers and every handle.
#[derive(Clone, Debug, Default)]
pub(super) struct Health(Arc<Mutex<BTreeMap<String, FetchFailure>>>);

impl Health {
    /// Records a failed fetch of `handler`; returns how many failed in a row.
    pub(super) fn failed(&self, handler: &str, error: &dyn std::fmt::Display) -> u32 {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = map
            .entry(handler.to_owned())
            .or_insert_with(|| FetchFailure {
                handler: handler.to_owned(),
                error: String::new(),
                failures: 0,
                since: Instant::now(),
            });
        entry.failures = entry.failures.saturating_add(1);
        entry.error = error.to_string();
        entry.failures
    }

    /// Records a successful fetch of `handler`.
    pub(super) fn recovered(&self, handler: &str) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.remove(handler).is_some() {
            tracing::info!(handler, "fetching works again");
        }
    }

    /// The handlers failing now, by name.
    pub(super) fn snapshot(&self) -> Vec<FetchFailure> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.values().cloned().collect()
    }
}
