//! [`ConformanceError`]: why a conformance test failed.

use std::time::Duration;

use crate::error::Error;

/// Why a conformance test failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConformanceError {
    /// The backend returned an error where the contract says it must not.
    #[error("backend error while {during}: {source}")]
    Backend {
        /// What the test was doing.
        during: String,
        /// What the backend said.
        #[source]
        source: Error,
    },
    /// Something the contract promises did not happen within the upper bound.
    #[error("timed out after {after:?} waiting for {waiting_for}")]
    Timeout {
        /// What the test waited for (and how far it got).
        waiting_for: String,
        /// The upper bound that was exceeded.
        after: Duration,
    },
    /// The backend broke the contract: the description says how.
    #[error("contract violated: {0}")]
    Violation(String),
    /// The test (or the backend, inside it) panicked.
    #[error("panicked: {0}")]
    Panicked(String),
}

impl ConformanceError {
    pub(crate) fn violation(detail: impl Into<String>) -> Self {
        Self::Violation(detail.into())
    }
}

/// Adds what the test was doing to a backend error.
pub(crate) trait Context<T> {
    fn during(self, what: &str) -> Result<T, ConformanceError>;
}

impl<T> Context<T> for Result<T, Error> {
    fn during(self, what: &str) -> Result<T, ConformanceError> {
        self.map_err(|source| ConformanceError::Backend {
            during: what.to_owned(),
            source,
        })
    }
}
