//! Engine configuration: timeouts, limits and buffer sizes.

use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Per-session frame rate limit (token bucket).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained frames per second.
    pub per_second: u32,
    /// Frames allowed in a burst.
    pub burst: u32,
}

/// Settings of an [`Engine`](crate::Engine). Start from `EngineConfig::default()` and
/// change the fields you need.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EngineConfig {
    /// The first frame must be a successful `auth` within this time.
    pub auth_timeout: Duration,
    /// The server sends a WebSocket ping about this often (with jitter).
    pub ping_interval: Duration,
    /// Jitter applied to each ping interval, as a fraction (0.1 = +/-10%).
    pub ping_jitter: f64,
    /// Read deadline: a session that sends nothing (not even a pong) for this long is closed.
    pub idle_timeout: Duration,
    /// A batch of outbound frames that cannot be written within this time closes the session.
    pub write_timeout: Duration,
    /// Bound on the bytes queued for one session; a reader that falls behind further is
    /// disconnected with reason `slow_consumer`.
    pub outbound_limit_bytes: usize,
    /// Largest WebSocket message or frame accepted; larger ones close the connection.
    pub max_frame_bytes: usize,
    /// Largest message body (its JSON text) accepted by `send`.
    pub max_body_bytes: usize,
    /// Messages per `sync` when the client gives no limit.
    pub sync_default_limit: u32,
    /// Upper bound on a `sync` limit.
    pub sync_max_limit: u32,
    /// Upper bound on the body bytes of one `sync_result`; more is left for `has_more`.
    pub sync_max_bytes: usize,
    /// WebSocket read buffer per connection (allocated eagerly; keep it small).
    pub read_buffer_bytes: usize,
    /// WebSocket write buffer target per connection.
    pub write_buffer_bytes: usize,
    /// Frame rate limit per session after authentication (`None` for none).
    pub rate_limit: Option<RateLimit>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            auth_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(25),
            ping_jitter: 0.1,
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
            outbound_limit_bytes: 512 * 1024,
            max_frame_bytes: 64 * 1024,
            max_body_bytes: 16 * 1024,
            sync_default_limit: 100,
            sync_max_limit: 500,
            sync_max_bytes: 128 * 1024,
            read_buffer_bytes: 1024,
            write_buffer_bytes: 4 * 1024,
            rate_limit: Some(RateLimit {
                per_second: 100,
                burst: 200,
            }),
        }
    }
}

impl EngineConfig {
    /// The tungstenite configuration derived from these settings (small buffers: the
    /// 128 KiB default read buffer would dominate idle memory).
    pub(crate) fn websocket(&self) -> WebSocketConfig {
        let write = self.write_buffer_bytes;
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_bytes.max(256))
            .write_buffer_size(write)
            // Must exceed write_buffer_size; our own queue bounds what is handed over.
            .max_write_buffer_size(usize::MAX)
            .max_message_size(Some(self.max_frame_bytes))
            .max_frame_size(Some(self.max_frame_bytes))
    }
}
