//! Socket helpers: single writes with a deadline, closing with a reason, error mapping.

use std::io::ErrorKind;
use std::time::Duration;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::close::CloseReason;
use crate::outbound::OutFrame;
use crate::protocol::{ErrorCode, ServerFrame};

/// The write half of a session's socket.
pub(crate) type WsSink<S> = SplitSink<WebSocketStream<S>, Message>;
/// The read half of a session's socket.
pub(crate) type WsStream<S> = SplitStream<WebSocketStream<S>>;

/// How long the goodbye (last frames and close frame) may take.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Sends one message and flushes, within `limit`.
pub(crate) async fn send<S>(
    sink: &mut WsSink<S>,
    message: Message,
    limit: Duration,
) -> Result<(), CloseReason>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(limit, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(classify(&e)),
        Err(_) => Err(CloseReason::WriteTimeout),
    }
}

/// Sends a server frame directly (outside the queue), within `limit`.
pub(crate) async fn send_frame<S>(
    sink: &mut WsSink<S>,
    frame: &ServerFrame,
    limit: Duration,
) -> Result<(), CloseReason>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    send(sink, Message::Text(OutFrame::encode(frame).0), limit).await
}

/// Says goodbye: a last frame where the reason deserves one, a close frame with the
/// reason's code and text, then waits for the peer's close reply (draining what it still
/// sends, so the socket closes cleanly instead of with a reset). Bounded in time.
pub(crate) async fn finish<S>(mut sink: WsSink<S>, stream: WsStream<S>, reason: &CloseReason)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let last = match reason {
        CloseReason::Kicked(_) | CloseReason::Shutdown => Some(ServerFrame::Kicked {
            reason: reason.close_text(),
        }),
        CloseReason::FrameTooLarge => Some(ServerFrame::error(
            ErrorCode::FrameTooLarge,
            "frame exceeds the maximum size; closing",
            None,
        )),
        CloseReason::AuthTimeout => Some(ServerFrame::error(
            ErrorCode::NotAuthenticated,
            "no auth within the deadline; closing",
            None,
        )),
        _ => None,
    };
    let goodbye = async move {
        match reason {
            CloseReason::Io | CloseReason::WriteTimeout => return,
            CloseReason::ClientClosed => {
                let _ = sink.close().await;
                return;
            }
            _ => {}
        }
        if let Some(frame) = last {
            if send_frame(&mut sink, &frame, CLOSE_TIMEOUT).await.is_err() {
                return;
            }
        }
        let close = CloseFrame {
            code: CloseCode::from(reason.close_code()),
            reason: reason.close_text().into(),
        };
        if sink.send(Message::Close(Some(close))).await.is_err() {
            return;
        }
        let Ok(mut ws) = stream.reunite(sink) else {
            return;
        };
        // Until the peer's close reply (the stream then ends) or an error. After a read
        // error the stream is fused: go straight to draining.
        let read_failed = matches!(
            reason,
            CloseReason::FrameTooLarge | CloseReason::ProtocolViolation
        );
        let broken = read_failed
            || loop {
                match ws.next().await {
                    Some(Ok(_)) => continue,
                    Some(Err(_)) => break true,
                    None => break false,
                }
            };
        if broken {
            // The WebSocket state is unusable (e.g. after an oversized frame): drain the
            // raw socket so closing it does not reset the connection.
            let mut buf = [0u8; 1024];
            while let Ok(n) = ws.get_mut().read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, goodbye).await;
}

/// Maps a WebSocket error to a close reason.
pub(crate) fn classify(error: &WsError) -> CloseReason {
    match error {
        WsError::Capacity(_) => CloseReason::FrameTooLarge,
        WsError::ConnectionClosed | WsError::AlreadyClosed => CloseReason::ClientClosed,
        WsError::Io(e)
            if matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof
            ) =>
        {
            CloseReason::ClientClosed
        }
        WsError::Io(_) => CloseReason::Io,
        _ => CloseReason::ProtocolViolation,
    }
}
