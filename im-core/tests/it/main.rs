//! Integration tests over real loopback WebSockets (one test binary, modules by topic).
// Test support code outside #[test] fns: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod connections;
mod heartbeat;
mod inflight;
mod membership;
mod pipeline;
mod protocol_errors;
mod sequencing;
mod slow_reader;
mod sync;
