//! The per-session outbound queue, bounded by bytes.
//!
//! Producers (fan-out, replies) push encoded frames without waiting; the session's writer
//! drains everything queued and writes it with one flush. A push that would exceed the byte
//! limit closes the queue with [`CloseReason::SlowConsumer`] and frees what was queued, so a
//! slow reader costs at most its limit and never slows the producer.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::close::CloseReason;
use crate::metrics as m;
use crate::protocol::ServerFrame;

/// An encoded server frame (JSON text), cheap to clone and share between queues.
#[derive(Clone)]
pub struct OutFrame(pub(crate) Utf8Bytes);

impl OutFrame {
    /// Encodes a server frame.
    pub fn encode(frame: &ServerFrame) -> Self {
        Self(Utf8Bytes::from(frame.to_json()))
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Size in bytes (what counts against the queue limit).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for OutFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OutFrame").field(&self.as_str()).finish()
    }
}

/// Why a push was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The session is closing (`reason` says why); the frame was dropped.
    #[error("session closed: {0}")]
    Closed(CloseReason),
    /// The frame would exceed the byte limit: the session is now closed as a slow consumer.
    #[error("outbound queue full: slow consumer disconnected")]
    Overflow,
}

/// What [`Outbound::drain`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drained {
    /// Bytes moved into the batch.
    pub bytes: usize,
    /// Set once the queue is closed; the session should finish.
    pub closed: Option<CloseReason>,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<OutFrame>,
    bytes: usize,
    closed: Option<CloseReason>,
}

/// A session's outbound queue, bounded by bytes.
///
/// ```
/// use im_core::{Outbound, OutFrame, PushError, protocol::ServerFrame};
/// let q = Outbound::new(64);
/// q.push(OutFrame::encode(&ServerFrame::Pong)).unwrap();
/// let mut batch = Vec::new();
/// assert_eq!(q.drain(&mut batch).bytes, batch[0].len());
/// let big = OutFrame::encode(&ServerFrame::Kicked { reason: "x".repeat(100) });
/// assert_eq!(q.push(big), Err(PushError::Overflow));
/// ```
#[derive(Debug)]
pub struct Outbound {
    state: Mutex<State>,
    ready: Notify,
    closing: Notify,
    limit: usize,
}

impl Outbound {
    /// An empty queue holding at most `limit_bytes` of frames.
    pub fn new(limit_bytes: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            closing: Notify::new(),
            limit: limit_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a frame, recording the queue-bytes metric.
    pub fn push(&self, frame: OutFrame) -> Result<(), PushError> {
        let len = frame.len();
        self.push_quiet(frame)?;
        metrics::gauge!(m::QUEUE_BYTES).increment(len as f64);
        Ok(())
    }

    /// Queues a frame without touching metrics (fan-out records them once per message).
    pub(crate) fn push_quiet(&self, frame: OutFrame) -> Result<(), PushError> {
        let mut state = self.lock();
        if let Some(reason) = &state.closed {
            return Err(PushError::Closed(reason.clone()));
        }
        let len = frame.len();
        if state.bytes + len > self.limit {
            let freed = state.bytes;
            state.queue = VecDeque::new();
            state.bytes = 0;
            state.closed = Some(CloseReason::SlowConsumer);
            drop(state);
            metrics::gauge!(m::QUEUE_BYTES).decrement(freed as f64);
            self.wake_closing();
            return Err(PushError::Overflow);
        }
        let was_empty = state.queue.is_empty();
        state.queue.push_back(frame);
        state.bytes += len;
        drop(state);
        if was_empty {
            // The writer drains everything it finds, so one wake-up per empty->non-empty.
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Closes the queue; the first reason wins. Queued frames stay for the writer
    /// (except after an overflow). Returns false if it was already closed.
    pub fn close(&self, reason: CloseReason) -> bool {
        let mut state = self.lock();
        if state.closed.is_some() {
            return false;
        }
        state.closed = Some(reason);
        drop(state);
        self.wake_closing();
        true
    }

    fn wake_closing(&self) {
        self.ready.notify_one();
        self.closing.notify_one();
    }

    /// Moves every queued frame into `batch`.
    pub fn drain(&self, batch: &mut Vec<OutFrame>) -> Drained {
        let mut state = self.lock();
        let bytes = state.bytes;
        batch.extend(state.queue.drain(..));
        state.bytes = 0;
        if state.queue.capacity() > 64 {
            state.queue = VecDeque::new(); // give a burst's memory back while idle
        }
        let closed = state.closed.clone();
        drop(state);
        if bytes > 0 {
            metrics::gauge!(m::QUEUE_BYTES).decrement(bytes as f64);
        }
        Drained { bytes, closed }
    }

    /// Waits until frames were queued or the queue was closed.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Waits until the queue is closed; returns the reason.
    pub async fn closed(&self) -> CloseReason {
        loop {
            if let Some(reason) = self.close_reason() {
                return reason;
            }
            self.closing.notified().await;
        }
    }

    /// The close reason, once closed.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.lock().closed.clone()
    }

    /// Bytes queued now.
    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// The byte limit.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl Drop for Outbound {
    fn drop(&mut self) {
        // Frames never written (the session ended) leave the queue-bytes gauge too.
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if state.bytes > 0 {
            metrics::gauge!(m::QUEUE_BYTES).decrement(state.bytes as f64);
        }
    }
}
