//! Transport settings of one WebSocket connection: buffers, limits, heartbeat, timeouts.

use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Settings of a [`Connection`](crate::connection::Connection): what any WebSocket product
/// needs, independent of the frame protocol on top. Start from
/// `ConnectionConfig::default()` and change the fields you need.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectionConfig {
    /// The WebSocket handshake must complete within this time.
    pub handshake_timeout: Duration,
    /// The server sends a WebSocket ping about this often (with jitter).
    pub ping_interval: Duration,
    /// Jitter applied to each ping interval, as a fraction (0.1 = +/-10%), so that
    /// connections opened together do not ping together.
    pub ping_jitter: f64,
    /// Read deadline: a connection that sends nothing (not even a pong) for this long is
    /// closed with [`CloseReason::HeartbeatTimeout`](crate::CloseReason::HeartbeatTimeout).
    pub idle_timeout: Duration,
    /// A batch of outbound frames that cannot be written within this time closes the
    /// connection.
    pub write_timeout: Duration,
    /// Bound on the bytes queued for one connection; a reader that falls further behind is
    /// disconnected with reason `slow_consumer`.
    pub outbound_limit_bytes: usize,
    /// Largest WebSocket message or frame accepted; larger ones close the connection.
    pub max_frame_bytes: usize,
    /// WebSocket read buffer per connection (allocated eagerly and kept: keep it small;
    /// tungstenite's own default of 128 KiB would dominate idle memory).
    pub read_buffer_bytes: usize,
    /// Outbound bytes collected before tungstenite writes to the socket; a batch is
    /// always flushed at its end.
    pub write_buffer_bytes: usize,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(25),
            ping_jitter: 0.1,
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
            outbound_limit_bytes: 512 * 1024,
            max_frame_bytes: 64 * 1024,
            read_buffer_bytes: 1024,
            write_buffer_bytes: 16 * 1024,
        }
    }
}

impl ConnectionConfig {
    /// The tungstenite configuration derived from these settings.
    pub(crate) fn websocket(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_bytes.max(256))
            .write_buffer_size(self.write_buffer_bytes)
            // Must exceed write_buffer_size; the outbound queue bounds what is handed over.
            .max_write_buffer_size(usize::MAX)
            .max_message_size(Some(self.max_frame_bytes))
            .max_frame_size(Some(self.max_frame_bytes))
    }
}
