//! Engine configuration: the connection settings plus the protocol's limits.

use std::time::Duration;

use crate::connection::ConnectionConfig;

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
///
/// ```
/// let mut config = im_core::EngineConfig::default();
/// config.connection.idle_timeout = std::time::Duration::from_secs(30);
/// config.rate_limit = None;
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EngineConfig {
    /// Transport: buffers, outbound limit, heartbeat, timeouts.
    pub connection: ConnectionConfig,
    /// The first frame must be a successful `auth` within this time.
    pub auth_timeout: Duration,
    /// Largest message body (its JSON text) accepted by `send`.
    pub max_body_bytes: usize,
    /// Messages per `sync` when the client gives no limit.
    pub sync_default_limit: u32,
    /// Upper bound on a `sync` limit.
    pub sync_max_limit: u32,
    /// Upper bound on the body bytes of one `sync_result`; more is left for `has_more`.
    pub sync_max_bytes: usize,
    /// Upper bound on the groups of one `latest` request (and answer).
    pub latest_max_groups: usize,
    /// Frame rate limit per session after authentication (`None` for none).
    pub rate_limit: Option<RateLimit>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            connection: ConnectionConfig::default(),
            auth_timeout: Duration::from_secs(10),
            max_body_bytes: 16 * 1024,
            sync_default_limit: 100,
            sync_max_limit: 500,
            sync_max_bytes: 128 * 1024,
            latest_max_groups: 1000,
            rate_limit: Some(RateLimit {
                per_second: 100,
                burst: 200,
            }),
        }
    }
}
