//! `im-core`: a real-time engine for chat and live updates.
//!
//! It knows groups, members, sequence numbers and connections — nothing about what the
//! groups are for. WebSocket sessions run on tokio-tungstenite over any async stream.
//!
//! - [`Engine`]: accepts connections, authenticates them through your [`Authenticator`],
//!   and serves the JSON frame protocol ([`protocol`], `docs/protocol.md`).
//! - [`ConnectionManager`]: user -> sessions (devices), sharded; kick one or all.
//! - [`connection`]: the transport under every session: outbound queue bounded by bytes,
//!   write coalescing, ping with jitter and a read deadline, frame limits. Usable on its
//!   own for any other live-update protocol.
//! - [`sequencer::Sequencer`]: per-group seq 1, 2, 3, ... with dedup of client retries,
//!   persisted (through [`store::MessageStore`]) before fan-out.
//! - [`fanout`]: pushes into per-session queues ([`Outbound`]) bounded by bytes; a slow
//!   reader is disconnected, nobody else waits.
//! - [`store::InMemoryStore`], [`membership::InMemoryMembership`]: complete in-process
//!   implementations of the storage and membership traits.
//! - [`pipeline`]: hooks for the application: a [`pipeline::SendPipeline`] (e.g. through a
//!   broker, for several nodes) and a [`pipeline::SessionHook`] (e.g. push what a user
//!   missed while offline).
//! - [`metrics`]: metric names recorded through the `metrics` facade.
//!
//! See [`Engine`] for a complete server.

mod auth;
mod close;
mod config;
mod conn_manager;
pub mod connection;
mod engine;
mod error;
pub mod fanout;
mod ids;
pub mod membership;
mod message;
pub mod metrics;
mod outbound;
pub mod pipeline;
pub mod protocol;
pub mod sequencer;
mod session;
pub mod store;
mod sync;

pub use auth::{AuthError, Authenticator};
pub use close::CloseReason;
pub use config::{EngineConfig, RateLimit};
pub use conn_manager::{ConnectionManager, SessionHandle};
pub use engine::{Engine, EngineBuilder};
pub use error::EngineError;
pub use ids::{ClientMsgId, GroupId, Seq, SessionId, UserId};
pub use message::{Notification, StoredMessage};
pub use outbound::{Drained, OutFrame, Outbound, PushError};
pub use sync::{GroupPosition, SyncPage};
