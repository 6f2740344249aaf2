//! The writer: drain the queue, write every frame, flush once (write coalescing).

use std::time::Duration;

use futures::SinkExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::Message;

use super::io::{classify, WsSink};
use crate::close::CloseReason;
use crate::metrics as m;
use crate::outbound::{OutFrame, Outbound};

/// A batch buffer grown past this many frames is released after use (idle memory).
const KEEP_BATCH_CAPACITY: usize = 64;

/// Writes everything queued, batch after batch, until the queue is empty. Each batch is
/// fed to the socket and flushed once, so frames that queue up while the socket is busy
/// go out together. Returns the close reason once the queue is closed. A batch that cannot
/// be written within `limit` ends the connection (`write_timeout`); a queue overflow while
/// writing (slow consumer) ends it at once.
pub(super) async fn write_queued<S>(
    sink: &mut WsSink<S>,
    outbound: &Outbound,
    batch: &mut Vec<OutFrame>,
    limit: Duration,
) -> Result<(), CloseReason>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let result = write_batches(sink, outbound, batch, limit).await;
    batch.clear();
    if batch.capacity() > KEEP_BATCH_CAPACITY {
        *batch = Vec::new();
    }
    result
}

async fn write_batches<S>(
    sink: &mut WsSink<S>,
    outbound: &Outbound,
    batch: &mut Vec<OutFrame>,
    limit: Duration,
) -> Result<(), CloseReason>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        batch.clear();
        let drained = outbound.drain(batch);
        if batch.is_empty() {
            return match drained.closed {
                Some(reason) => Err(reason),
                None => Ok(()),
            };
        }
        let count = batch.len() as u64;
        let write = async {
            for frame in batch.drain(..) {
                sink.feed(Message::Text(frame.0)).await?;
            }
            sink.flush().await
        };
        let cut_off = async {
            match outbound.closed().await {
                CloseReason::SlowConsumer => CloseReason::SlowConsumer,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            written = tokio::time::timeout(limit, write) => match written {
                Ok(Ok(())) => metrics::counter!(m::FRAMES_OUT).increment(count),
                Ok(Err(e)) => return Err(classify(&e)),
                Err(_) => return Err(CloseReason::WriteTimeout),
            },
            reason = cut_off => return Err(reason),
        }
        if let Some(reason) = drained.closed {
            return Err(reason);
        }
    }
}
