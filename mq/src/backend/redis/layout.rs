//! The partition count of each topic, recorded in Redis so that every publisher and
//! subscriber of a topic agrees on it.
//!
//! Keys are spread over `partitions` streams, so a publisher configured with more
//! partitions than a subscriber would write to streams nobody reads. The first client
//! to use a topic records its count (`SET NX`); every later client with another count
//! gets [`Error::InvalidConfig`] instead of silently losing messages.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use redis::aio::ConnectionManager;

use super::{backend_error, RedisConfig};
use crate::error::Error;

/// The topics this client has already checked (one round trip per topic and process).
#[derive(Clone, Debug, Default)]
pub(super) struct TopicLayouts {
    checked: Arc<Mutex<HashSet<String>>>,
}

impl TopicLayouts {
    /// Records `config.partitions` for `topic`, or checks it against the recorded count.
    pub(super) async fn ensure(
        &self,
        conn: &ConnectionManager,
        config: &RedisConfig,
        topic: &str,
    ) -> Result<(), Error> {
        if self.is_checked(topic) {
            return Ok(());
        }
        let key = config.layout_key(topic);
        let mut conn = conn.clone();
        let (recorded,): (u32,) = redis::pipe()
            .cmd("SET")
            .arg(&key)
            .arg(config.partitions)
            .arg("NX")
            .ignore()
            .cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .map_err(|e| backend_error(&e))?;
        if recorded != config.partitions {
            return Err(Error::invalid_config(
                "RedisConfig::partitions",
                format!(
                    "topic {topic:?} has {recorded} partitions in Redis (key {key:?}) but this client is configured with {}; every client of a topic must use the same count",
                    config.partitions
                ),
            ));
        }
        self.checked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(topic.to_owned());
        Ok(())
    }

    fn is_checked(&self, topic: &str) -> bool {
        self.checked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(topic)
    }
}
