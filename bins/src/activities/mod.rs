//! The activity service's server side.

pub mod group_link;
pub mod http;
pub mod view;
