//! Entry points: hand the engine a raw stream (it does the WebSocket handshake) or an
//! already upgraded one.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use crate::close::CloseReason;
use crate::engine::Engine;

/// A connection that never became a session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The WebSocket handshake did not complete within the auth timeout.
    #[error("WebSocket handshake timed out")]
    HandshakeTimeout,
    /// The WebSocket handshake failed (not a WebSocket upgrade, bad headers, ...).
    #[error("WebSocket handshake failed: {0}")]
    Handshake(String),
}

impl Engine {
    /// Performs the WebSocket handshake on a raw stream (e.g. a `TcpStream`), then runs
    /// the session until it closes. Returns why it closed.
    pub async fn accept<S>(&self, stream: S) -> Result<CloseReason, SessionError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let config = self.config().websocket();
        let handshake = tokio_tungstenite::accept_async_with_config(stream, Some(config));
        let ws = tokio::time::timeout(self.config().auth_timeout, handshake)
            .await
            .map_err(|_| SessionError::HandshakeTimeout)?
            .map_err(|e| SessionError::Handshake(e.to_string()))?;
        Ok(super::run(self.clone(), ws).await)
    }

    /// Runs a session on a stream an HTTP server already upgraded to WebSocket (e.g.
    /// hyper's `Upgraded` behind `TokioIo`). Returns why it closed.
    pub async fn serve_upgraded<S>(&self, stream: S) -> CloseReason
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let config = self.config().websocket();
        let ws = WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await;
        super::run(self.clone(), ws).await
    }
}
