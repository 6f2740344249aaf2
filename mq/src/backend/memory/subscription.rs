//! A member of a consumer group on the in-memory broker.

use std::pin::pin;
use std::sync::Arc;

use async_trait::async_trait;

use super::topic::{Fetch, Group, GroupAcker, Topic};
use super::{MemoryBroker, WaitingGuard};
use crate::delivery::{Acknowledger, Batch};
use crate::error::Error;
use crate::subscriber::Subscription;

pub(super) struct MemorySubscription {
    broker: MemoryBroker,
    topic: Arc<Topic>,
    group: Arc<Group>,
    id: u64,
    acker: Arc<dyn Acknowledger>,
    start: u32,
    closed: bool,
}

impl MemorySubscription {
    pub(super) fn new(broker: MemoryBroker, topic: Arc<Topic>, group: Arc<Group>, id: u64) -> Self {
        let acker: Arc<dyn Acknowledger> = Arc::new(GroupAcker {
            topic: Arc::clone(&topic),
            group: Arc::clone(&group),
        });
        let start = u32::try_from(id % u64::from(topic.partition_count())).unwrap_or(0);
        Self {
            broker,
            topic,
            group,
            id,
            acker,
            start,
            closed: false,
        }
    }
}

#[async_trait]
impl Subscription for MemorySubscription {
    async fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, Error> {
        loop {
            let topic = &self.topic;
            let _waiting = WaitingGuard::enter(&topic.consumers_waiting);
            let mut woken = pin!(topic.data_ready.notified());
            woken.as_mut().enable();
            // Checked after registering for wake-ups: a close between the check and the
            // registration would otherwise go unnoticed until the next message.
            if self.closed || self.broker.is_closed() {
                return Ok(None);
            }
            let fetched = topic.fetch(&self.group, self.id, self.start, max, &self.acker);
            let wake_at = match fetched {
                Fetch::Batch(batch) => {
                    // Start the next scan after this lane, so lanes are served fairly.
                    self.start = (batch.lane + 1) % topic.partition_count();
                    return Ok(Some(batch));
                }
                Fetch::Wait(at) => at,
            };
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        () = woken => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => woken.await,
            }
        }
    }

    async fn close(&mut self) -> Result<(), Error> {
        if !self.closed {
            self.closed = true;
            self.topic.release(&self.group, self.id);
        }
        Ok(())
    }
}

impl Drop for MemorySubscription {
    fn drop(&mut self) {
        if !self.closed {
            self.topic.release(&self.group, self.id);
        }
    }
}
