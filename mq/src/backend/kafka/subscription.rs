//! A member of a consumer group on Kafka: one rdkafka consumer; each assigned partition
//! is a lane, delivered in offset order.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use async_trait::async_trait;
use futures::FutureExt;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Message as _, Offset, TopicPartitionList};
use tokio::time::Instant;

use super::context::GroupContext;
use super::convert;
use super::lanes::{KafkaAcker, Lanes};
use super::{kafka_error, KafkaConfig};
use crate::delivery::{AckToken, Acknowledger, Batch, Delivery};
use crate::error::Error;
use crate::subscriber::Subscription;

pub(super) struct KafkaSubscription {
    topic: String,
    config: Arc<KafkaConfig>,
    consumer: Option<Arc<StreamConsumer<GroupContext>>>,
    lanes: Arc<Lanes>,
    acker: Arc<dyn Acknowledger>,
    buffer: VecDeque<(u64, Batch)>,
    closed: bool,
}

impl KafkaSubscription {
    pub(super) fn new(
        topic: &str,
        config: Arc<KafkaConfig>,
        consumer: Arc<StreamConsumer<GroupContext>>,
        lanes: Arc<Lanes>,
    ) -> Self {
        let acker: Arc<dyn Acknowledger> = Arc::new(KafkaAcker {
            topic: topic.to_owned(),
            lanes: Arc::clone(&lanes),
            consumer: Arc::downgrade(&consumer),
            redelivery_delay: config.redelivery_delay,
        });
        Self {
            topic: topic.to_owned(),
            config,
            consumer: Some(consumer),
            lanes,
            acker,
            buffer: VecDeque::new(),
            closed: false,
        }
    }

    /// Seeks rewound partitions back to their oldest unacknowledged offset once their
    /// delay is over, and resumes them. Returns the next instant a rewind is due.
    fn apply_rewinds(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let mut due = Vec::new();
        let mut next = None::<Instant>;
        {
            let mut lanes = self.lanes.lock();
            for (&p, lane) in lanes.iter_mut() {
                match lane.rewind {
                    Some((offset, at)) if at <= now => {
                        lane.rewind = None;
                        due.push((p, offset));
                    }
                    Some((_, at)) => next = Some(next.map_or(at, |n| n.min(at))),
                    None => {}
                }
            }
        }
        let Some(consumer) = self.consumer.as_ref() else {
            return next;
        };
        for (p, offset) in due {
            let sought = consumer.seek(
                &self.topic,
                p,
                Offset::Offset(offset),
                self.config.operation_timeout,
            );
            if let Err(err) = sought {
                tracing::warn!(partition = p, error = %err, "seeking back failed; retrying");
                let retry_at = now + self.config.redelivery_delay;
                if let Some(lane) = self.lanes.lock().get_mut(&p) {
                    lane.rewind = Some((offset, retry_at));
                }
                next = Some(next.map_or(retry_at, |n| n.min(retry_at)));
                continue;
            }
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&self.topic, p);
            if let Err(err) = consumer.resume(&tpl) {
                tracing::warn!(partition = p, error = %err, "resuming a partition failed");
            }
        }
        next
    }

    /// Groups received records into per-partition batches, dropping those of partitions
    /// waiting for a rewind (they are read again after the seek).
    fn push_records(&mut self, records: Vec<(i32, i64, crate::Message)>) {
        let mut by_lane: HashMap<i32, Vec<(i64, crate::Message)>> = HashMap::new();
        for (p, offset, msg) in records {
            by_lane.entry(p).or_default().push((offset, msg));
        }
        let mut lanes = self.lanes.lock();
        for (p, records) in by_lane {
            let lane = lanes.entry(p).or_default();
            if lane.rewind.is_some() {
                continue;
            }
            let lane_id = u32::try_from(p).unwrap_or(0);
            let mut deliveries = Vec::with_capacity(records.len());
            for (offset, msg) in records {
                if lane.out.back().is_some_and(|(last, _)| *last >= offset) {
                    // Already handed out in this epoch (a duplicate fetch after a seek).
                    continue;
                }
                lane.out.push_back((offset, false));
                let attempt = match lane.retry {
                    Some((o, c)) if o == offset => c + 1,
                    _ => 1,
                };
                let token = AckToken {
                    lane: lane_id,
                    position: u64::try_from(offset).unwrap_or(0),
                    tag: lane.epoch,
                };
                deliveries.push(Delivery::new(msg, attempt, Arc::clone(&self.acker), token));
            }
            if !deliveries.is_empty() {
                self.buffer.push_back((
                    lane.epoch,
                    Batch {
                        lane: lane_id,
                        deliveries,
                    },
                ));
            }
        }
    }

    fn pop_current(&mut self) -> Option<Batch> {
        while let Some((epoch, batch)) = self.buffer.pop_front() {
            let current = self
                .lanes
                .lock()
                .get(&i32::try_from(batch.lane).unwrap_or(0))
                .is_some_and(|l| l.epoch == epoch);
            if current {
                return Some(batch);
            }
        }
        None
    }
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, Error> {
        loop {
            if self.closed {
                return Ok(None);
            }
            let wake = self.apply_rewinds();
            if let Some(batch) = self.pop_current() {
                return Ok(Some(batch));
            }
            let Some(consumer) = self.consumer.clone() else {
                return Ok(None);
            };
            let first = match wake {
                Some(at) => tokio::select! {
                    r = consumer.recv() => Some(r),
                    () = tokio::time::sleep_until(at) => None,
                },
                None => Some(consumer.recv().await),
            };
            let Some(first) = first else { continue };
            let record = first.map_err(|e| kafka_error(&e))?;
            let mut records = vec![(
                record.partition(),
                record.offset(),
                convert::message(&record),
            )];
            drop(record);
            while records.len() < max.max(1) {
                match consumer.recv().now_or_never() {
                    Some(Ok(r)) => records.push((r.partition(), r.offset(), convert::message(&r))),
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "receiving failed");
                        break;
                    }
                    None => break,
                }
            }
            self.push_records(records);
        }
    }

    async fn close(&mut self) -> Result<(), Error> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.buffer.clear();
        let Some(consumer) = self.consumer.take() else {
            return Ok(());
        };
        let lanes = Arc::clone(&self.lanes);
        // Committing and leaving the group block; keep them off the async workers.
        // Dropping the last handle closes the consumer, which leaves the group so that
        // its partitions move to the other members at once.
        tokio::task::spawn_blocking(move || {
            if let Err(err) = consumer.commit_consumer_state(CommitMode::Sync) {
                tracing::debug!(error = %err, "final commit");
            }
            let partitions: Vec<i32> = lanes.lock().keys().copied().collect();
            lanes.reset(partitions);
            drop(consumer);
        })
        .await
        .map_err(|e| Error::Backend {
            backend: "kafka",
            message: e.to_string(),
        })
    }
}

impl Drop for KafkaSubscription {
    fn drop(&mut self) {
        if let Some(consumer) = self.consumer.take() {
            // Closing blocks while it leaves the group: do it off the async workers.
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn_blocking(move || drop(consumer));
                }
                Err(_) => drop(consumer),
            }
        }
    }
}
