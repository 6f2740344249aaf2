//! Router settings.

use std::time::Duration;

/// How a [`crate::Router`] fetches and shuts down.
#[derive(Clone, Debug)]
pub struct RouterConfig {
    /// How long `run` waits for in-flight handlers after shutdown is asked for, before
    /// abandoning them (their messages are delivered again). Default 30 s.
    pub close_timeout: Duration,
    /// Most deliveries fetched at once per handler. Default 256.
    pub batch_size: usize,
    /// Pause after a subscription reports an error, before fetching again. Default 1 s.
    pub fetch_error_backoff: Duration,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            close_timeout: Duration::from_secs(30),
            batch_size: 256,
            fetch_error_backoff: Duration::from_secs(1),
        }
    }
}

impl RouterConfig {
    /// Checks the settings: a zero batch size or close timeout is an error.
    pub fn validate(&self) -> Result<(), crate::Error> {
        if self.batch_size == 0 {
            return Err(crate::Error::invalid_config(
                "RouterConfig::batch_size",
                "must be at least 1",
            ));
        }
        if self.close_timeout.is_zero() {
            return Err(crate::Error::invalid_config(
                "RouterConfig::close_timeout",
                "must be longer than zero",
            ));
        }
        Ok(())
    }
}
