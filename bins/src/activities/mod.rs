//! The activity service's server side.

pub mod http;
pub mod view;
