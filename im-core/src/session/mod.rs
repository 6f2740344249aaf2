//! A session: one WebSocket connection of one authenticated user, run as one task.
//!
//! The task authenticates the connection, registers it with the connection manager, then
//! loops over three events: frames queued for it (written in batches, one flush each),
//! frames from the client (handled in order), and the heartbeat timer (ping with jitter,
//! read deadline). It ends by unregistering and sending a close frame with the reason.

mod accept;
mod auth_phase;
mod dispatch;
mod heartbeat;
mod io;
mod writer;

use std::sync::Arc;

use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::close::CloseReason;
use crate::engine::Engine;
use crate::metrics as m;
use crate::outbound::{OutFrame, Outbound};
use crate::protocol::{ErrorCode, ServerFrame};

pub use accept::SessionError;

/// Runs a session over an upgraded WebSocket until it closes; returns why it closed.
pub(crate) async fn run<S>(engine: Engine, ws: WebSocketStream<S>) -> CloseReason
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    let config = engine.config().clone();
    let user = match auth_phase::authenticate(&engine, &mut sink, &mut stream).await {
        Ok(user) => user,
        Err(reason) => {
            io::finish(sink, stream, &reason).await;
            record_disconnect(&reason);
            return reason;
        }
    };

    let outbound = Arc::new(Outbound::new(config.outbound_limit_bytes));
    // Queued before registration, so it is the first frame the client gets.
    let _ = outbound.push(OutFrame::encode(&ServerFrame::AuthOk {
        user_id: user.clone(),
    }));
    let handle = engine
        .connections()
        .register(user.clone(), outbound.clone());
    tracing::debug!(user = %user, session = %handle.id(), "session started");

    let ctx = dispatch::Context::new(engine.clone(), user, outbound.clone());
    let mut beat = heartbeat::Heartbeat::new(&config);
    let timer = tokio::time::sleep_until(beat.next_deadline());
    tokio::pin!(timer);

    let reason = loop {
        tokio::select! {
            biased;
            () = outbound.ready() => {
                if let Err(reason) = writer::write_queued(&mut sink, &outbound, config.write_timeout).await {
                    break reason;
                }
            }
            incoming = stream.next() => {
                let message = match incoming {
                    None => break CloseReason::ClientClosed,
                    Some(Err(e)) => break io::classify(&e),
                    Some(Ok(message)) => message,
                };
                beat.seen();
                metrics::counter!(m::FRAMES_IN).increment(1);
                match message {
                    Message::Text(text) => dispatch::handle_text(&ctx, text.as_str()).await,
                    Message::Binary(_) => ctx.reply_error(
                        ErrorCode::BinaryNotSupported,
                        "only text frames carry the protocol",
                        None,
                    ),
                    Message::Close(_) => break CloseReason::ClientClosed,
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
            }
            () = &mut timer => {
                match beat.tick() {
                    heartbeat::Tick::Dead => break CloseReason::HeartbeatTimeout,
                    heartbeat::Tick::Ping => {
                        if let Err(reason) = io::send(&mut sink, Message::Ping(Default::default()), config.write_timeout).await {
                            break reason;
                        }
                    }
                    heartbeat::Tick::Wait => {}
                }
                timer.as_mut().reset(beat.next_deadline());
            }
        }
    };

    engine.connections().unregister(&handle);
    outbound.close(reason.clone());
    // Frames still queued (e.g. before a kick) are written before the close frame.
    if matches!(reason, CloseReason::Kicked(_) | CloseReason::Shutdown) {
        let _ = writer::write_queued(&mut sink, &outbound, config.write_timeout).await;
    }
    io::finish(sink, stream, &reason).await;
    record_disconnect(&reason);
    tracing::debug!(session = %handle.id(), reason = %reason, "session closed");
    reason
}

fn record_disconnect(reason: &CloseReason) {
    metrics::counter!(m::DISCONNECTS, "reason" => reason.as_str()).increment(1);
}
