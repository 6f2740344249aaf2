//! The HTTP API (brief section 4a) on axum.

pub mod common;
pub mod error;
pub mod extract;
pub mod fallback;
pub mod metrics;

pub use common::{finish, HttpLimits};
pub use error::ApiError;
pub use extract::{ApiJson, ApiPath, ApiQuery, Caller};
