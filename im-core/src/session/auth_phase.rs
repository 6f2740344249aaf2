//! The auth phase: the first successful frame must be `auth`, within the deadline.

use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{timeout_at, Instant};
use tokio_tungstenite::tungstenite::Message;

use crate::auth::AuthError;
use crate::close::CloseReason;
use crate::connection::io::{classify, send_frame};
use crate::connection::Connection;
use crate::engine::Engine;
use crate::ids::UserId;
use crate::protocol::{ClientFrame, ErrorCode, ServerFrame};

/// Waits for a valid `auth` frame. Other frames get error replies (the connection stays
/// until the deadline); a refused token closes it.
pub(super) async fn authenticate<S>(
    engine: &Engine,
    conn: &mut Connection<S>,
) -> Result<UserId, CloseReason>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let write_timeout = conn.config.write_timeout;
    let (sink, stream) = (&mut conn.sink, &mut conn.stream);
    let deadline = Instant::now() + engine.config().auth_timeout;
    loop {
        let message = match timeout_at(deadline, stream.next()).await {
            Err(_) => return Err(CloseReason::AuthTimeout),
            Ok(None) => return Err(CloseReason::ClientClosed),
            Ok(Some(Err(e))) => return Err(classify(&e)),
            Ok(Some(Ok(message))) => message,
        };
        let reply = match message {
            Message::Text(text) => match ClientFrame::decode(text.as_str()) {
                Ok(ClientFrame::Auth { token }) => {
                    let verdict = timeout_at(deadline, engine.inner.auth.authenticate(&token));
                    match verdict.await {
                        Err(_) => return Err(CloseReason::AuthTimeout),
                        Ok(Ok(user)) => return Ok(user),
                        Ok(Err(AuthError::Unavailable(why))) => {
                            tracing::warn!(error = %why, "authenticator unavailable");
                            ServerFrame::error(
                                ErrorCode::Internal,
                                "authentication unavailable; retry",
                                None,
                            )
                        }
                        Ok(Err(refused)) => {
                            let frame = ServerFrame::error(
                                ErrorCode::AuthFailed,
                                refused.to_string(),
                                None,
                            );
                            let _ = send_frame(sink, &frame, write_timeout).await;
                            return Err(CloseReason::AuthFailed);
                        }
                    }
                }
                Ok(other) => ServerFrame::error(
                    ErrorCode::NotAuthenticated,
                    "send `auth` first",
                    Some(other.type_name().to_owned()),
                ),
                Err(e) => ServerFrame::error(e.code(), e.to_string(), None),
            },
            Message::Binary(_) => ServerFrame::error(
                ErrorCode::BinaryNotSupported,
                "only text frames carry the protocol",
                None,
            ),
            Message::Close(_) => return Err(CloseReason::ClientClosed),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
        };
        send_frame(sink, &reply, write_timeout).await?;
    }
}
