//! The platform's servers, as a library the thin binaries in `src/bin/` call: settings
//! ([`config`]), the HTTP API ([`http`], [`users`], [`activities`]), the IM service
//! ([`im`]: groups, chat over WebSocket, notifications), gRPC ([`grpc`]) and assembly
//! ([`server`]).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let settings = bins::config::Settings::load(None)?;
//! let server = bins::server::services::start_user_server(settings).await?;
//! println!("HTTP on {}", server.http);
//! server.wait().await.map_err(anyhow::Error::msg)?;
//! # Ok(()) }
//! ```

pub mod activities;
pub mod cli;
pub mod config;
pub mod gateway;
pub mod grpc;
pub mod http;
pub mod im;
pub mod server;
pub mod users;
