//! One topic of the in-memory broker: partitioned logs and per-group cursors.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::config::MemoryConfig;
use crate::backend::partition_for_key;
use crate::delivery::{AckToken, Acknowledger, Batch, Delivery};
use crate::message::Message;

/// A topic: `partitions` append-only logs. A log keeps each message until every
/// consumer group has acknowledged it.
pub(super) struct Topic {
    partitions: Box<[Mutex<PartitionLog>]>,
    groups: Mutex<HashMap<String, Arc<Group>>>,
    round_robin: AtomicU32,
    config: MemoryConfig,
    /// Woken when messages are appended or a lane is released.
    pub(super) data_ready: Notify,
    pub(super) consumers_waiting: AtomicUsize,
    /// Woken when a log is trimmed.
    pub(super) space_ready: Notify,
    pub(super) publishers_waiting: AtomicUsize,
}

/// A consumer group of one topic.
pub(super) struct Group {
    index: usize,
    /// One epoch per partition, bumped whenever the group's lane is rewound, so that
    /// deliveries made before the rewind are known to be stale without a lock.
    epochs: Box<[AtomicU64]>,
}

struct PartitionLog {
    /// Offset of `log[0]`.
    base: u64,
    log: VecDeque<Message>,
    bytes: usize,
    /// Indexed by `Group::index`.
    cursors: Vec<Cursor>,
}

struct Cursor {
    /// Every offset below this is acknowledged.
    committed: u64,
    /// The next offset to deliver.
    next: u64,
    /// Acknowledged flags for offsets `committed..next`.
    acked: VecDeque<bool>,
    /// The subscription that holds the lane while deliveries are outstanding.
    holder: Option<u64>,
    paused_until: Option<Instant>,
    /// The offset last rejected and how many times it was.
    retry: Option<(u64, u32)>,
    epoch: u64,
}

/// The outcome of looking for work.
pub(super) enum Fetch {
    Batch(Batch),
    /// Nothing to deliver now; look again at this instant (a paused lane) or when woken.
    Wait(Option<Instant>),
}

fn lock(m: &Mutex<PartitionLog>) -> MutexGuard<'_, PartitionLog> {
    // A panic while holding the lock cannot leave the log half-changed in a way that
    // matters more than stopping the broker would, so poisoning is ignored.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Topic {
    pub(super) fn new(config: MemoryConfig) -> Self {
        let partitions = (0..config.partitions.max(1))
            .map(|_| {
                Mutex::new(PartitionLog {
                    base: 0,
                    log: VecDeque::new(),
                    bytes: 0,
                    cursors: Vec::new(),
                })
            })
            .collect();
        Self {
            partitions,
            groups: Mutex::new(HashMap::new()),
            round_robin: AtomicU32::new(0),
            config,
            data_ready: Notify::new(),
            consumers_waiting: AtomicUsize::new(0),
            space_ready: Notify::new(),
            publishers_waiting: AtomicUsize::new(0),
        }
    }

    pub(super) fn partition_count(&self) -> u32 {
        // The slice was built from a u32 count.
        u32::try_from(self.partitions.len()).unwrap_or(u32::MAX)
    }

    /// The group named `name`, created (at the oldest retained offset) if new.
    pub(super) fn group(&self, name: &str) -> Arc<Group> {
        let mut groups = self
            .groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(g) = groups.get(name) {
            return Arc::clone(g);
        }
        let index = groups.len();
        for p in self.partitions.iter() {
            let mut p = lock(p);
            let base = p.base;
            p.cursors.push(Cursor {
                committed: base,
                next: base,
                acked: VecDeque::new(),
                holder: None,
                paused_until: None,
                retry: None,
                epoch: 0,
            });
        }
        let group = Arc::new(Group {
            index,
            epochs: self.partitions.iter().map(|_| AtomicU64::new(0)).collect(),
        });
        groups.insert(name.to_owned(), Arc::clone(&group));
        group
    }

    /// The group named `name`, if it exists.
    pub(super) fn existing_group(&self, name: &str) -> Option<Arc<Group>> {
        self.groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Picks the partition of a message: by key, or round robin without one.
    pub(super) fn partition_of(&self, msg: &Message) -> u32 {
        let n = self.partition_count();
        match msg.key() {
            Some(key) => partition_for_key(key, n),
            None => self.round_robin.fetch_add(1, Ordering::Relaxed) % n,
        }
    }

    /// Appends `msg` to partition `p`, or gives it back when the partition is full.
    pub(super) fn try_append(&self, p: u32, msg: Message) -> Result<(), Message> {
        let Some(part) = self.partitions.get(p as usize) else {
            return Err(msg);
        };
        let mut part = lock(part);
        let size = msg.payload().len();
        let full = part.log.len() >= self.config.partition_capacity
            || (!part.log.is_empty() && part.bytes + size > self.config.partition_capacity_bytes);
        if full && !part.cursors.is_empty() {
            return Err(msg);
        }
        part.log.push_back(msg);
        part.bytes += size;
        if part.cursors.is_empty() {
            // Nobody has subscribed yet: keep the newest `capacity` messages for the
            // first group, dropping the oldest.
            while part.log.len() > self.config.partition_capacity
                || part.bytes > self.config.partition_capacity_bytes && part.log.len() > 1
            {
                if let Some(old) = part.log.pop_front() {
                    part.bytes -= old.payload().len();
                    part.base += 1;
                }
            }
        }
        Ok(())
    }

    /// Hands the subscription `consumer` up to `max` messages of one lane it may take.
    pub(super) fn fetch(
        &self,
        group: &Group,
        consumer: u64,
        start: u32,
        max: usize,
        acker: &Arc<dyn Acknowledger>,
    ) -> Fetch {
        let n = self.partition_count();
        let now = Instant::now();
        let mut wake_at: Option<Instant> = None;
        for i in 0..n {
            let p = (start + i) % n;
            let mut part = lock(&self.partitions[p as usize]);
            let end = part.base + part.log.len() as u64;
            let base = part.base;
            let Some(cursor) = part.cursors.get_mut(group.index) else {
                continue;
            };
            if cursor.holder.is_some_and(|h| h != consumer) || cursor.next >= end {
                continue;
            }
            if let Some(until) = cursor.paused_until {
                if until > now {
                    wake_at = Some(wake_at.map_or(until, |w| w.min(until)));
                    continue;
                }
                cursor.paused_until = None;
            }
            cursor.holder = Some(consumer);
            let take = max.max(1).min((end - cursor.next) as usize);
            let first = cursor.next;
            let epoch = cursor.epoch;
            let retry = cursor.retry;
            cursor.next += take as u64;
            cursor.acked.extend(std::iter::repeat_n(false, take));
            let from = (first - base) as usize;
            let deliveries = part
                .log
                .range(from..from + take)
                .enumerate()
                .map(|(i, m)| {
                    let offset = first + i as u64;
                    let attempt = match retry {
                        Some((o, c)) if o == offset => c + 1,
                        _ => 1,
                    };
                    Delivery::new(
                        m.clone(),
                        attempt,
                        Arc::clone(acker),
                        AckToken {
                            lane: p,
                            position: offset,
                            tag: epoch,
                        },
                    )
                })
                .collect();
            return Fetch::Batch(Batch {
                lane: p,
                deliveries,
            });
        }
        Fetch::Wait(wake_at)
    }

    pub(super) fn ack(&self, group: &Group, token: AckToken) {
        let Some(part) = self.partitions.get(token.lane as usize) else {
            return;
        };
        let mut part = lock(part);
        let end = part.base + part.log.len() as u64;
        let Some(cursor) = part.cursors.get_mut(group.index) else {
            return;
        };
        if cursor.epoch != token.tag || token.position < cursor.committed {
            return;
        }
        let idx = (token.position - cursor.committed) as usize;
        match cursor.acked.get_mut(idx) {
            Some(flag) if !*flag => *flag = true,
            _ => return,
        }
        let before = cursor.committed;
        while cursor.acked.front() == Some(&true) {
            cursor.acked.pop_front();
            cursor.committed += 1;
        }
        if cursor.retry.is_some_and(|(o, _)| o < cursor.committed) {
            cursor.retry = None;
        }
        let mut released = false;
        if cursor.committed == cursor.next {
            cursor.holder = None;
            released = cursor.next < end;
        }
        let advanced = cursor.committed > before;
        let trimmed = advanced && trim(&mut part);
        drop(part);
        if trimmed && self.publishers_waiting.load(Ordering::SeqCst) > 0 {
            self.space_ready.notify_waiters();
        }
        if released && self.consumers_waiting.load(Ordering::SeqCst) > 0 {
            self.data_ready.notify_waiters();
        }
    }

    pub(super) fn nack(&self, group: &Group, token: AckToken) {
        let Some(part) = self.partitions.get(token.lane as usize) else {
            return;
        };
        let mut part = lock(part);
        let Some(cursor) = part.cursors.get_mut(group.index) else {
            return;
        };
        if cursor.epoch != token.tag
            || token.position < cursor.committed
            || token.position >= cursor.next
        {
            return;
        }
        cursor.retry = match cursor.retry {
            Some((o, c)) if o == token.position => Some((o, c.saturating_add(1))),
            _ => Some((token.position, 1)),
        };
        cursor.paused_until = Some(Instant::now() + self.config.redelivery_delay);
        rewind(cursor, &group.epochs[token.lane as usize]);
        drop(part);
        // A member asleep without a deadline must learn when the lane resumes.
        if self.consumers_waiting.load(Ordering::SeqCst) > 0 {
            self.data_ready.notify_waiters();
        }
    }

    /// Gives back every lane `consumer` holds: unacknowledged messages are delivered
    /// again, to whichever member of the group asks first.
    pub(super) fn release(&self, group: &Group, consumer: u64) {
        let mut any = false;
        for (p, part) in self.partitions.iter().enumerate() {
            let mut part = lock(part);
            if let Some(cursor) = part.cursors.get_mut(group.index) {
                if cursor.holder == Some(consumer) {
                    rewind(cursor, &group.epochs[p]);
                    any = true;
                }
            }
        }
        if any {
            self.data_ready.notify_waiters();
        }
    }

    pub(super) fn is_stale(&self, group: &Group, token: AckToken) -> bool {
        group
            .epochs
            .get(token.lane as usize)
            .is_none_or(|e| e.load(Ordering::Acquire) != token.tag)
    }

    /// Messages held for `group` and not yet acknowledged (for tests and metrics).
    pub(super) fn lag(&self, group: &Group) -> u64 {
        self.partitions
            .iter()
            .map(|part| {
                let part = lock(part);
                let end = part.base + part.log.len() as u64;
                part.cursors
                    .get(group.index)
                    .map_or(0, |c| end.saturating_sub(c.committed))
            })
            .sum()
    }
}

fn rewind(cursor: &mut Cursor, epoch: &AtomicU64) {
    cursor.next = cursor.committed;
    cursor.acked.clear();
    cursor.holder = None;
    cursor.epoch += 1;
    epoch.store(cursor.epoch, Ordering::Release);
}

/// Drops messages every group has acknowledged. Returns true if any were dropped.
fn trim(part: &mut PartitionLog) -> bool {
    let Some(min) = part.cursors.iter().map(|c| c.committed).min() else {
        return false;
    };
    let mut trimmed = false;
    while part.base < min {
        match part.log.pop_front() {
            Some(old) => {
                part.bytes -= old.payload().len();
                part.base += 1;
                trimmed = true;
            }
            None => break,
        }
    }
    trimmed
}

/// Settles deliveries of one group of one topic.
pub(super) struct GroupAcker {
    pub(super) topic: Arc<Topic>,
    pub(super) group: Arc<Group>,
}

impl Acknowledger for GroupAcker {
    fn ack(&self, token: AckToken) {
        self.topic.ack(&self.group, token);
    }

    fn nack(&self, token: AckToken) {
        self.topic.nack(&self.group, token);
    }

    fn is_stale(&self, token: AckToken) -> bool {
        self.topic.is_stale(&self.group, token)
    }
}
