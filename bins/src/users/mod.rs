//! The user service's server side.

pub mod http;
