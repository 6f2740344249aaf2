//! Assembling and running servers: settings -> platform -> HTTP + gRPC.

pub mod broker;
pub mod namespace;
pub mod platform;
pub mod running;
pub mod secret;
pub mod serve;
pub mod services;

pub use platform::{Platform, StartError};
pub use running::{Background, Running};
