//! The transport: one WebSocket connection with bounded outbound queue, write coalescing,
//! heartbeat and frame limits, independent of the frame protocol on top.
//!
//! The [`Engine`](crate::Engine) runs its JSON protocol on it; any other live-update
//! protocol can too. A connection runs as one task: it writes what its
//! [`Outbound`](crate::Outbound) queue holds (everything queued, one flush), hands
//! received frames to a [`FrameHandler`] one at a time, pings with jitter and closes a
//! peer that stays silent past the read deadline.
//!
//! ```no_run
//! use std::sync::Arc;
//! use im_core::connection::{self, ConnectionConfig, FrameHandler, Rejection, TextFrame};
//! use im_core::Outbound;
//!
//! /// Echoes every text frame back.
//! struct Echo(Arc<Outbound>);
//! impl FrameHandler for Echo {
//!     async fn on_text(&self, text: TextFrame) {
//!         let _ = self.0.push(text.into_out_frame());
//!     }
//! }
//!
//! # async fn run(tcp: tokio::net::TcpStream) -> Result<(), connection::HandshakeError> {
//! let config = ConnectionConfig::default();
//! let ((), conn) = connection::accept(tcp, &config, |_| Ok::<_, Rejection>(())).await?;
//! let outbound = Arc::new(Outbound::new(config.outbound_limit_bytes));
//! let reason = conn.run(&outbound, &Echo(outbound.clone())).await;
//! println!("closed: {reason}");
//! # Ok(()) }
//! ```

mod accept;
mod config;
mod drive;
mod handler;
mod heartbeat;
pub(crate) mod io;
mod request;
mod writer;

use std::fmt;

pub use accept::{accept, HandshakeError, Rejection};
pub use config::ConnectionConfig;
pub use handler::{FrameHandler, TextFrame};
pub use request::Request;

use io::{WsSink, WsStream};

/// One open WebSocket connection. Run it with [`Connection::run`].
pub struct Connection<S> {
    pub(crate) sink: WsSink<S>,
    pub(crate) stream: WsStream<S>,
    pub(crate) config: ConnectionConfig,
}

impl<S> fmt::Debug for Connection<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S> Connection<S> {
    /// The settings this connection runs with.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }
}
