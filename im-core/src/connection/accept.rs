//! Opening a connection: the WebSocket handshake on a raw stream, or adopting a stream an
//! HTTP server has already upgraded.

use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request as HttpRequest, Response,
};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use super::{Connection, ConnectionConfig, Request};

/// A connection that never became a WebSocket.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The WebSocket handshake did not complete within the handshake timeout.
    #[error("WebSocket handshake timed out")]
    Timeout,
    /// The WebSocket handshake failed (not a WebSocket upgrade, bad headers, ...).
    #[error("WebSocket handshake failed: {0}")]
    Failed(String),
    /// The application refused the request (answered with an HTTP error status).
    #[error("request refused: {0}")]
    Refused(Rejection),
}

/// The application's answer to an upgrade request it refuses: an HTTP status and a text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status} {reason}")]
pub struct Rejection {
    /// HTTP status code (400 when not a valid client error code).
    pub status: u16,
    /// Response body.
    pub reason: String,
}

impl Rejection {
    /// A refusal with `status` and `reason`.
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
        }
    }

    fn into_response(self) -> ErrorResponse {
        let mut response = ErrorResponse::new(Some(self.reason));
        *response.status_mut() = StatusCode::from_u16(self.status)
            .ok()
            .filter(|s| s.is_client_error() || s.is_server_error())
            .unwrap_or(StatusCode::BAD_REQUEST);
        response
    }
}

/// Performs the WebSocket handshake on a raw stream (e.g. a `TcpStream`). `check` sees the
/// upgrade request first: what it returns comes back with the connection (e.g. the user
/// named in the query), and a [`Rejection`] is answered with that HTTP status.
///
/// ```no_run
/// use im_core::connection::{self, ConnectionConfig, Rejection};
/// # async fn run(tcp: tokio::net::TcpStream) -> Result<(), connection::HandshakeError> {
/// let config = ConnectionConfig::default();
/// let (user, conn) = connection::accept(tcp, &config, |request| {
///     request.query_param("user").map(str::to_owned).ok_or(Rejection::new(400, "no user"))
/// })
/// .await?;
/// # let _ = (user, conn); Ok(()) }
/// ```
pub async fn accept<S, T, F>(
    stream: S,
    config: &ConnectionConfig,
    check: F,
) -> Result<(T, Connection<S>), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request) -> Result<T, Rejection>,
{
    let mut verdict = None;
    let mut refused = None;
    // Borrowed, so the callback is `Unpin` whatever `check` captures.
    let mut check = Some(check);
    // The error type is tungstenite's (an HTTP response); it is built once per refusal.
    #[allow(clippy::result_large_err)]
    let callback = |request: &HttpRequest, response: Response| {
        let Some(check) = check.take() else {
            return Err(Rejection::new(500, "request checked twice").into_response());
        };
        match check(&Request::from_http(request)) {
            Ok(value) => {
                verdict = Some(value);
                Ok(response)
            }
            Err(rejection) => {
                refused = Some(rejection.clone());
                Err(rejection.into_response())
            }
        }
    };
    let handshake =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config.websocket()));
    let result = tokio::time::timeout(config.handshake_timeout, handshake).await;
    let ws = match result {
        Err(_) => return Err(HandshakeError::Timeout),
        Ok(Err(e)) => {
            return Err(match refused {
                Some(rejection) => HandshakeError::Refused(rejection),
                None => HandshakeError::Failed(e.to_string()),
            })
        }
        Ok(Ok(ws)) => ws,
    };
    let value = verdict.ok_or_else(|| HandshakeError::Failed("request not checked".into()))?;
    Ok((value, Connection::new(ws, config.clone())))
}

impl<S> Connection<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Adopts a stream an HTTP server has already upgraded to WebSocket (e.g. hyper's
    /// `Upgraded` behind `TokioIo`, as axum hands it out).
    pub async fn from_upgraded(stream: S, config: &ConnectionConfig) -> Self {
        let ws =
            WebSocketStream::from_raw_socket(stream, Role::Server, Some(config.websocket())).await;
        Self::new(ws, config.clone())
    }

    fn new(ws: WebSocketStream<S>, config: ConnectionConfig) -> Self {
        let (sink, stream) = ws.split();
        Self {
            sink,
            stream,
            config,
        }
    }
}
