//! End-to-end support: the platform's story ([`story`]) and the deployments it runs on
//! ([`deploy`]): the real server binaries started as processes.

pub mod deploy;
pub mod story;
