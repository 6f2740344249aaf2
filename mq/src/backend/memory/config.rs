//! Settings of the in-memory backend.

use std::time::Duration;

/// How the in-memory broker stores and redelivers messages.
#[derive(Clone, Debug)]
pub struct MemoryConfig {
    /// Lanes per topic. Messages with the same key share a lane and keep their order;
    /// lanes are handled in parallel. Default 16.
    pub partitions: u32,
    /// Most messages a partition holds before publishers wait (backpressure). Default 65,536.
    pub partition_capacity: usize,
    /// Most payload bytes a partition holds before publishers wait. Default 64 MiB.
    pub partition_capacity_bytes: usize,
    /// How long `publish` waits for room before failing with
    /// [`crate::Error::Backpressure`]. Default 30 s.
    pub publish_timeout: Duration,
    /// How long a rejected message waits before it is delivered again. Default 100 ms.
    pub redelivery_delay: Duration,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            partitions: 16,
            partition_capacity: 65_536,
            partition_capacity_bytes: 64 * 1024 * 1024,
            publish_timeout: Duration::from_secs(30),
            redelivery_delay: Duration::from_millis(100),
        }
    }
}

impl MemoryConfig {
    /// Checks the settings: partitions, capacities and the publish timeout must be
    /// greater than zero.
    pub fn validate(&self) -> Result<(), crate::Error> {
        let zero = [
            ("MemoryConfig::partitions", self.partitions == 0),
            (
                "MemoryConfig::partition_capacity",
                self.partition_capacity == 0,
            ),
            (
                "MemoryConfig::partition_capacity_bytes",
                self.partition_capacity_bytes == 0,
            ),
            (
                "MemoryConfig::publish_timeout",
                self.publish_timeout.is_zero(),
            ),
        ];
        match zero.iter().find(|(_, is_zero)| *is_zero) {
            Some((setting, _)) => Err(crate::Error::invalid_config(
                setting,
                "must be greater than zero",
            )),
            None => Ok(()),
        }
    }

    /// The settings with every zero that [`validate`](Self::validate) rejects raised to
    /// the smallest working value (1, or 1 ms for the timeout).
    pub(super) fn clamped(mut self) -> Self {
        self.partitions = self.partitions.max(1);
        self.partition_capacity = self.partition_capacity.max(1);
        self.partition_capacity_bytes = self.partition_capacity_bytes.max(1);
        self.publish_timeout = self.publish_timeout.max(Duration::from_millis(1));
        self
    }
}
