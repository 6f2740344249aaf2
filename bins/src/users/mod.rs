//! The user service's server side.

pub mod http;
pub mod login_limit;
