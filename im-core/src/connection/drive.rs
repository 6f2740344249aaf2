//! The connection loop: write what is queued, read and handle frames one at a time, keep
//! the heartbeat; then say goodbye with the close reason.

use std::pin::pin;

use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::Message;

use super::handler::{FrameHandler, TextFrame};
use super::heartbeat::{Heartbeat, Tick};
use super::{io, writer, Connection};
use crate::close::CloseReason;
use crate::metrics as m;
use crate::outbound::Outbound;

impl<S> Connection<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Runs the connection until it closes; returns why.
    ///
    /// Frames queued on `outbound` are written in batches (one flush each); received frames
    /// go to `handler`, one at a time; a ping is sent about every `ping_interval` and a
    /// peer silent for `idle_timeout` is closed. Closing `outbound` (a kick, a slow
    /// consumer) closes the connection: queued frames are still written for a kick or a
    /// shutdown, then a close frame with the reason's code and text.
    pub async fn run<H: FrameHandler>(mut self, outbound: &Outbound, handler: &H) -> CloseReason {
        let reason = self.drive(outbound, handler).await;
        outbound.close(reason.clone());
        handler.on_close(&reason);
        if matches!(reason, CloseReason::Kicked(_) | CloseReason::Shutdown) {
            let limit = self.config.write_timeout.min(io::CLOSE_TIMEOUT);
            let mut batch = Vec::new();
            let _ = writer::write_queued(&mut self.sink, outbound, &mut batch, limit).await;
        }
        self.finish(&reason).await;
        metrics::counter!(m::DISCONNECTS, "reason" => reason.as_str()).increment(1);
        reason
    }

    /// Sends the goodbye for `reason` (a last frame where the reason deserves one, then a
    /// close frame) and waits, briefly, for the peer's close reply.
    pub(crate) async fn finish(self, reason: &CloseReason) {
        io::finish(self.sink, self.stream, reason).await;
    }

    async fn drive<H: FrameHandler>(&mut self, outbound: &Outbound, handler: &H) -> CloseReason {
        let config = &self.config;
        let sink = &mut self.sink;
        let stream = &mut self.stream;
        let mut beat = Heartbeat::new(config);
        let mut timer = pin!(tokio::time::sleep_until(beat.next_deadline()));
        // The frame being handled; no further frame is read until it is done.
        let mut inflight = pin!(None);
        let mut batch = Vec::new();
        loop {
            // Unbiased (random branch order on each poll): a session that receives a
            // steady stream of pushes still reads its client, and one whose client sends
            // a steady stream still writes.
            tokio::select! {
                () = outbound.ready() => {
                    if let Err(reason) = writer::write_queued(sink, outbound, &mut batch, config.write_timeout).await {
                        return reason;
                    }
                }
                () = async { if let Some(f) = inflight.as_mut().as_pin_mut() { f.await } }, if inflight.is_some() => {
                    inflight.set(None);
                }
                incoming = stream.next(), if inflight.is_none() => {
                    let message = match incoming {
                        None => return CloseReason::ClientClosed,
                        Some(Err(e)) => return io::classify(&e),
                        Some(Ok(message)) => message,
                    };
                    beat.seen();
                    match message {
                        Message::Text(text) => {
                            metrics::counter!(m::FRAMES_IN).increment(1);
                            inflight.set(Some(handler.on_text(TextFrame(text))));
                        }
                        Message::Binary(data) => {
                            metrics::counter!(m::FRAMES_IN).increment(1);
                            handler.on_binary(data.len());
                        }
                        Message::Close(_) => return CloseReason::ClientClosed,
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
                () = &mut timer => {
                    match beat.tick() {
                        Tick::Dead => return CloseReason::HeartbeatTimeout,
                        Tick::Ping => {
                            if let Err(reason) = io::send(sink, Message::Ping(Default::default()), config.write_timeout).await {
                                return reason;
                            }
                        }
                        Tick::Wait => {}
                    }
                    timer.as_mut().reset(beat.next_deadline());
                }
            }
        }
    }
}
