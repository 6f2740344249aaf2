//! Settings of the Redis Streams backend.

use std::time::Duration;

/// How streams are trimmed (see the module documentation for the trade-off).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrimPolicy {
    /// Never trim: streams grow until trimmed by an operator.
    Never,
    /// Every `every`, the member holding a lane removes the entries that every consumer
    /// group of the stream has acknowledged (`XTRIM MINID`). Never drops an
    /// unacknowledged entry. A group created later starts at the oldest entry left.
    Acknowledged {
        /// How often each lane is trimmed (zero: at every lease renewal,
        /// `lease_ttl / 3`).
        every: Duration,
    },
    /// Cap each stream at about `max_len` entries on every publish (`XADD MAXLEN ~`).
    /// Bounded memory whatever consumers do, at a price: entries a lagging group has
    /// not read yet can be dropped before it reads them (Redis then reports the group's
    /// `lag` as unknown in `XINFO GROUPS`), and entries it read but had not acknowledged
    /// come back as holes, which the subscriber acknowledges, counts in
    /// `mq_redis_trimmed_unhandled_total` and logs. Choose it only where losing old
    /// entries beats unbounded growth; the broker logs a warning when it is used.
    MaxLen {
        /// Approximate most entries kept per stream.
        max_len: usize,
    },
}

/// How the Redis Streams backend publishes, reads, claims and acknowledges.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// Server URL, e.g. `redis://127.0.0.1:6379/0`.
    pub url: String,
    /// Prefix of every key this backend writes. Default `mq:`.
    pub key_prefix: String,
    /// Streams (lanes) per topic; keyed messages are spread over them by
    /// [`crate::backend::partition_for_key`]. Publishers and subscribers of a topic must
    /// agree on it. Default 4.
    pub partitions: u32,
    /// How long one blocking read waits for new entries. Default 1 s.
    pub block: Duration,
    /// How long a member keeps a lane (and its group membership) without renewing it.
    /// A crashed member's lanes, and its pending entries, are taken over by a live member
    /// after at most this long. Default 10 s.
    pub lease_ttl: Duration,
    /// How long a rejected entry waits before it is delivered again. Default 100 ms.
    pub redelivery_delay: Duration,
    /// Kept for compatibility; acknowledgements go out as soon as they are made (one
    /// pipelined `XACK` per stream for all those queued at that moment): holding them
    /// back, even for 2 ms, loses them when a poison message crashes the process, and
    /// the messages handled just before it are delivered again. Default 2 ms.
    pub ack_flush_interval: Duration,
    /// How streams are trimmed. Default: [`TrimPolicy::Acknowledged`] every 30 s.
    pub trim: TrimPolicy,
    /// Timeout of one non-blocking command. Default 5 s.
    pub command_timeout: Duration,
}

impl RedisConfig {
    /// Defaults for the server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key_prefix: "mq:".into(),
            partitions: 4,
            block: Duration::from_secs(1),
            lease_ttl: Duration::from_secs(10),
            redelivery_delay: Duration::from_millis(100),
            ack_flush_interval: Duration::from_millis(2),
            trim: TrimPolicy::Acknowledged {
                every: Duration::from_secs(30),
            },
            command_timeout: Duration::from_secs(5),
        }
    }

    /// Checks the settings: counts, durations and `max_len` must be greater than zero,
    /// and `partitions` at most 4096.
    pub fn validate(&self) -> Result<(), crate::Error> {
        use crate::Error;
        let positive = |setting: &'static str, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(Error::invalid_config(setting, "must be greater than zero"))
            }
        };
        positive("RedisConfig::partitions", self.partitions > 0)?;
        if self.partitions > 4096 {
            return Err(Error::invalid_config(
                "RedisConfig::partitions",
                "must be at most 4096",
            ));
        }
        positive("RedisConfig::block", !self.block.is_zero())?;
        positive("RedisConfig::lease_ttl", !self.lease_ttl.is_zero())?;
        positive(
            "RedisConfig::ack_flush_interval",
            !self.ack_flush_interval.is_zero(),
        )?;
        positive(
            "RedisConfig::command_timeout",
            !self.command_timeout.is_zero(),
        )?;
        match self.trim {
            // `Acknowledged { every: ZERO }` trims at every lease renewal.
            TrimPolicy::Never | TrimPolicy::Acknowledged { .. } => {}
            TrimPolicy::MaxLen { max_len } => {
                positive("RedisConfig::trim (MaxLen::max_len)", max_len > 0)?;
            }
        }
        Ok(())
    }

    pub(super) fn layout_key(&self, topic: &str) -> String {
        // Topic names cannot hold ':', and stream keys end in a lane number, so this
        // key never names a stream.
        format!("{}{}:partitions", self.key_prefix, topic)
    }

    pub(super) fn stream_key(&self, topic: &str, lane: u32) -> String {
        format!("{}{}:{}", self.key_prefix, topic, lane)
    }

    pub(super) fn lease_key(&self, topic: &str, group: &str, lane: u32) -> String {
        format!("{}lease:{}:{}:{}", self.key_prefix, topic, group, lane)
    }

    pub(super) fn members_key(&self, topic: &str, group: &str) -> String {
        format!("{}members:{}:{}", self.key_prefix, topic, group)
    }
}
