//! Entry points: hand the engine a raw stream (it does the WebSocket handshake) or an
//! already upgraded one.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::close::CloseReason;
use crate::connection::{self, Connection, HandshakeError, Rejection};
use crate::engine::Engine;

impl Engine {
    /// Performs the WebSocket handshake on a raw stream (e.g. a `TcpStream`), then runs
    /// the session until it closes. Returns why it closed.
    pub async fn accept<S>(&self, stream: S) -> Result<CloseReason, HandshakeError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let config = &self.config().connection;
        let ((), conn) = connection::accept(stream, config, |_| Ok::<_, Rejection>(())).await?;
        Ok(self.serve(conn).await)
    }

    /// Runs a session on a stream an HTTP server already upgraded to WebSocket (e.g.
    /// hyper's `Upgraded` behind `TokioIo`). Returns why it closed.
    pub async fn serve_upgraded<S>(&self, stream: S) -> CloseReason
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let conn = Connection::from_upgraded(stream, &self.config().connection).await;
        self.serve(conn).await
    }

    /// Runs the protocol session on an open connection (e.g. one from
    /// [`connection::accept`] after routing on its request). Returns why it closed.
    pub async fn serve<S>(&self, conn: Connection<S>) -> CloseReason
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        super::run(self.clone(), conn).await
    }
}
