//! The Redis Streams backend.
//!
//! # Layout
//! A topic is [`RedisConfig::partitions`] streams, `{prefix}{topic}:{lane}`. A keyed
//! message goes to the lane [`crate::backend::partition_for_key`] picks; messages without
//! a key are spread round robin. Each consumer group is a Redis consumer group on every
//! lane of the topic, created on demand at the oldest entry (`XGROUP CREATE ... 0 MKSTREAM`).
//! The first client to use a topic records its partition count in
//! `{prefix}{topic}:partitions`; a client configured with another count gets
//! [`crate::Error::InvalidConfig`] when it publishes or subscribes to the topic, instead
//! of writing to streams nobody reads.
//!
//! # Per-key order
//! Redis hands a stream's entries to any consumer of a group, which would let two members
//! handle one key at once. So each member of a group takes a *lease* on lanes
//! (`{prefix}lease:{topic}:{group}:{lane}`, renewed every `lease_ttl / 3`) and reads only
//! the lanes it holds; members rebalance to a fair share (`ceil(lanes / live members)`,
//! membership in `{prefix}members:{topic}:{group}`). A lane is handed over only when its
//! holder has no unsettled delivery of it, or when the holder died and its lease expired.
//! Within a lane, deliveries are handed out in stream order.
//!
//! # Acknowledgement, rejection, crashes
//! - Acknowledgements are queued and sent as one pipelined `XACK` per stream per round
//!   trip by a background task; `close` flushes them.
//! - A rejection rewinds the lane: after `redelivery_delay` the member rereads its own
//!   pending entries of that lane in order (`XREADGROUP ... <id>`), then new ones, so
//!   unrelated lanes are not blocked and the lane keeps its order.
//! - A member that takes a lane over (its holder crashed, or left) first claims every
//!   entry pending in that lane (`XAUTOCLAIM`, at once since the lease guarantees the old
//!   holder is gone) and handles them, in order, before new entries. The
//!   delivery count Redis keeps is the delivery's [`crate::Delivery::attempt`], so a
//!   poison-queue middleware can stop a message that keeps crashing its consumers.
//!
//! # Trimming
//! See [`TrimPolicy`]: the default removes only entries every group has acknowledged.
//! `MaxLen` bounds memory whatever the consumers do, at the price of dropping entries a
//! lagging group has not handled (counted and logged, never silent).
//!
//! # Durability and reconnection
//! `publish` returns once Redis has the entries; whether they survive a Redis crash
//! depends on the server's persistence (`appendonly yes`). Connections reconnect by
//! themselves; a subscription whose group vanished (a server restarted without
//! persistence) creates it again. When a read of new entries fails (the connection
//! dropped, the server died), the server may already have handed entries to the member:
//! the member rereads its pending entries of those lanes before new ones, so nothing is
//! left pending unseen.

mod acker;
mod config;
mod entry;
mod flusher;
mod layout;
mod scripts;
mod subscription;

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub use config::{RedisConfig, TrimPolicy};
use layout::TopicLayouts;
use subscription::RedisSubscription;

use crate::backend::partition_for_key;
use crate::error::{validate_name, Error};
use crate::message::Message;
use crate::publisher::Publisher;
use crate::subscriber::{Subscriber, Subscription};

pub(crate) fn backend_error(err: &dyn std::fmt::Display) -> Error {
    Error::Backend {
        backend: "redis",
        message: err.to_string(),
    }
}

/// A Redis Streams [`Publisher`] and [`Subscriber`]. Clones share the connection.
///
/// ```no_run
/// use mq::backend::redis::{RedisBroker, RedisConfig};
/// use mq::{Message, Publisher};
///
/// # async fn demo() -> Result<(), mq::Error> {
/// let broker = RedisBroker::connect(RedisConfig::new("redis://127.0.0.1:6379")).await?;
/// broker.publish("orders", vec![Message::new("one").with_key("order-1")]).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBroker {
    config: Arc<RedisConfig>,
    client: redis::Client,
    conn: ConnectionManager,
    round_robin: Arc<AtomicU32>,
    layouts: TopicLayouts,
}

impl fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBroker")
            .field("config", &self.config)
            .finish()
    }
}

impl RedisBroker {
    /// Connects (and keeps reconnecting) to the server in `config`.
    pub async fn connect(config: RedisConfig) -> Result<Self, Error> {
        config.validate()?;
        if let TrimPolicy::MaxLen { max_len } = config.trim {
            tracing::warn!(
                max_len,
                "TrimPolicy::MaxLen: streams are trimmed whether or not every group has handled their entries"
            );
        }
        let client = open_client(&config.url)?;
        let conn = Self::manager(&client, config.command_timeout).await?;
        Ok(Self {
            config: Arc::new(config),
            client,
            conn,
            round_robin: Arc::default(),
            layouts: TopicLayouts::default(),
        })
    }

    async fn manager(
        client: &redis::Client,
        response: std::time::Duration,
    ) -> Result<ConnectionManager, Error> {
        let cfg = ConnectionManagerConfig::new()
            .set_response_timeout(Some(response))
            .set_connection_timeout(Some(std::time::Duration::from_secs(5)))
            .set_number_of_retries(3);
        client
            .get_connection_manager_with_config(cfg)
            .await
            .map_err(|e| backend_error(&e))
    }

    /// The settings in use.
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    fn lane_of(&self, msg: &Message) -> u32 {
        let n = self.config.partitions.max(1);
        match msg.key() {
            Some(key) => partition_for_key(key, n),
            None => self.round_robin.fetch_add(1, Ordering::Relaxed) % n,
        }
    }
}

#[async_trait]
impl Publisher for RedisBroker {
    async fn publish(&self, topic: &str, messages: Vec<Message>) -> Result<(), Error> {
        validate_name(topic)?;
        if messages.is_empty() {
            return Ok(());
        }
        self.layouts.ensure(&self.conn, &self.config, topic).await?;
        // The stream names once per call, not once per message.
        let streams: Vec<String> = (0..self.config.partitions.max(1))
            .map(|lane| self.config.stream_key(topic, lane))
            .collect();
        let mut pipe = redis::pipe();
        for msg in &messages {
            let mut cmd = redis::cmd("XADD");
            cmd.arg(&streams[self.lane_of(msg) as usize]);
            if let TrimPolicy::MaxLen { max_len } = self.config.trim {
                cmd.arg("MAXLEN").arg("~").arg(max_len);
            }
            cmd.arg("*");
            entry::write_fields(&mut cmd, msg).map_err(|e| backend_error(&e))?;
            pipe.add_command(cmd).ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| backend_error(&e))
    }
}

#[async_trait]
impl Subscriber for RedisBroker {
    async fn subscribe(&self, topic: &str, group: &str) -> Result<Box<dyn Subscription>, Error> {
        validate_name(topic)?;
        validate_name(group)?;
        self.layouts.ensure(&self.conn, &self.config, topic).await?;
        let read_conn = Self::manager(
            &self.client,
            self.config.block + self.config.command_timeout,
        )
        .await?;
        let sub = RedisSubscription::start(
            Arc::clone(&self.config),
            self.conn.clone(),
            read_conn,
            topic,
            group,
        )
        .await?;
        Ok(Box::new(sub))
    }
}

/// A client for `url` whose TCP connections send small commands at once (the `redis`
/// crate leaves Nagle's algorithm on: a command written while an earlier one is
/// unacknowledged would wait for the server's delayed ACK, up to 40 ms).
fn open_client(url: &str) -> Result<redis::Client, Error> {
    use redis::IntoConnectionInfo;
    let info = url
        .into_connection_info()
        .map_err(|e| backend_error(&e))?
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    redis::Client::open(info).map_err(|e| backend_error(&e))
}
