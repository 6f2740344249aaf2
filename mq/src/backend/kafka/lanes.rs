//! Per-partition bookkeeping shared by a subscription and its deliveries: which offsets
//! are out, which are acknowledged, which offset to store, and rewinds.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::TopicPartitionList;
use tokio::time::Instant;

use super::context::GroupContext;
use crate::delivery::{AckToken, Acknowledger};

/// One partition's state.
#[derive(Default)]
pub(super) struct Lane {
    pub(super) epoch: u64,
    /// Offsets handed out, oldest first, with their acknowledged flag.
    pub(super) out: VecDeque<(i64, bool)>,
    /// A rejection: seek back to this offset at this instant.
    pub(super) rewind: Option<(i64, Instant)>,
    /// The offset last rejected and how many times.
    pub(super) retry: Option<(i64, u32)>,
}

/// Every partition's state, by partition number.
#[derive(Default)]
pub(super) struct Lanes {
    inner: Mutex<HashMap<i32, Lane>>,
}

impl Lanes {
    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<i32, Lane>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets everything handed out from these partitions (revoked or reassigned):
    /// older deliveries become stale.
    pub(super) fn reset(&self, partitions: impl IntoIterator<Item = i32>) {
        let mut lanes = self.lock();
        for p in partitions {
            let lane = lanes.entry(p).or_default();
            lane.epoch += 1;
            lane.out.clear();
            lane.rewind = None;
        }
    }
}

pub(super) struct KafkaAcker {
    pub(super) topic: String,
    pub(super) lanes: Arc<Lanes>,
    /// Weak, so that closing the subscription really closes the consumer (and leaves
    /// the group) even while deliveries are still held somewhere.
    pub(super) consumer: Weak<StreamConsumer<GroupContext>>,
    pub(super) redelivery_delay: std::time::Duration,
}

fn partition(token: AckToken) -> i32 {
    i32::try_from(token.lane).unwrap_or(i32::MAX)
}

fn offset(token: AckToken) -> i64 {
    i64::try_from(token.position).unwrap_or(i64::MAX)
}

impl Acknowledger for KafkaAcker {
    fn ack(&self, token: AckToken) {
        let p = partition(token);
        let mut lanes = self.lanes.lock();
        let Some(lane) = lanes.get_mut(&p) else {
            return;
        };
        if lane.epoch != token.tag {
            return;
        }
        let o = offset(token);
        if let Some(entry) = lane.out.iter_mut().find(|(off, _)| *off == o) {
            entry.1 = true;
        }
        let mut last = None;
        while lane.out.front().is_some_and(|(_, acked)| *acked) {
            last = lane.out.pop_front().map(|(off, _)| off);
        }
        if lane
            .retry
            .is_some_and(|(r, _)| last.is_some_and(|l| r <= l))
        {
            lane.retry = None;
        }
        drop(lanes);
        if let (Some(last), Some(consumer)) = (last, self.consumer.upgrade()) {
            // Committed by the next auto-commit (and on close); librdkafka stores last + 1.
            if let Err(err) = consumer.store_offset(&self.topic, p, last) {
                tracing::warn!(partition = p, error = %err, "storing an offset failed; the message may be delivered again");
            }
        }
    }

    fn nack(&self, token: AckToken) {
        let p = partition(token);
        let mut lanes = self.lanes.lock();
        let Some(lane) = lanes.get_mut(&p) else {
            return;
        };
        if lane.epoch != token.tag {
            return;
        }
        let o = offset(token);
        let Some(&(target, _)) = lane.out.front() else {
            return;
        };
        lane.retry = match lane.retry {
            Some((r, c)) if r == o => Some((r, c.saturating_add(1))),
            _ => Some((o, 1)),
        };
        lane.epoch += 1;
        lane.out.clear();
        lane.rewind = Some((target, Instant::now() + self.redelivery_delay));
        drop(lanes);
        let Some(consumer) = self.consumer.upgrade() else {
            return;
        };
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.topic, p);
        if let Err(err) = consumer.pause(&tpl) {
            tracing::warn!(partition = p, error = %err, "pausing a partition failed");
        }
    }

    fn is_stale(&self, token: AckToken) -> bool {
        self.lanes
            .lock()
            .get(&partition(token))
            .is_none_or(|lane| lane.epoch != token.tag)
    }
}
