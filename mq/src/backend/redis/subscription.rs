//! A member of a consumer group on Redis Streams.
//!
//! The member holds leases on some of the topic's lanes (streams), a fair share of
//! them given the live members, and reads only those, so a lane is handled by one
//! member at a time and stays in order. A lane is read from the member's own pending
//! entries first (after taking it over, or after a rejection), then new entries.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::acker::{token, AckCommand, LaneShared, RedisAcker};
use super::entry::{parse_read, Entry};
use super::scripts::{ACQUIRE, HEARTBEAT, RELEASE, TRIM_ACKNOWLEDGED};
use super::{backend_error, flusher, RedisConfig, TrimPolicy};
use crate::delivery::{Acknowledger, Batch, Delivery};
use crate::error::Error;
use crate::subscriber::Subscription;

enum Mode {
    /// Reading the member's own pending entries after this id.
    Pending(String),
    /// Reading new entries (`>`).
    New,
}

/// After a takeover or a rejection the lane's first pending entry is read alone, and
/// nothing more of the lane until it is settled. Reading a pending entry counts as a
/// delivery in Redis, so this keeps the entries behind a message that crashes its
/// consumers from piling up deliveries they never had (and being poisoned for it).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// Read the head alone next.
    Need,
    /// The head is out; wait until it is settled.
    Sent,
    /// Read pending entries in full batches.
    Done,
}

struct Lane {
    stream: String,
    lease: String,
    owned: bool,
    mode: Mode,
    probe: Probe,
}

/// How often a lane waiting for its probed head is looked at again.
const PROBE_POLL: std::time::Duration = std::time::Duration::from_millis(5);

type InflightRead = (Vec<(u32, u64)>, JoinHandle<redis::RedisResult<Value>>);

pub(super) struct RedisSubscription {
    config: Arc<RedisConfig>,
    group: String,
    consumer: String,
    members_key: String,
    conn: ConnectionManager,
    read_conn: ConnectionManager,
    lanes: Vec<Lane>,
    by_stream: HashMap<String, u32>,
    shared: Arc<[LaneShared]>,
    acker: Arc<dyn Acknowledger>,
    acks: Option<mpsc::UnboundedSender<AckCommand>>,
    flusher: Option<JoinHandle<()>>,
    buffer: VecDeque<(u64, Batch)>,
    inflight: Option<InflightRead>,
    next_maintenance: Instant,
    next_trim: Instant,
    spread: u32,
    closed: bool,
}

impl RedisSubscription {
    pub(super) async fn start(
        config: Arc<RedisConfig>,
        conn: ConnectionManager,
        read_conn: ConnectionManager,
        topic: &str,
        group: &str,
    ) -> Result<Self, Error> {
        let consumer = format!("c-{}", uuid::Uuid::now_v7().simple());
        let lanes: Vec<Lane> = (0..config.partitions.max(1))
            .map(|i| Lane {
                stream: config.stream_key(topic, i),
                lease: config.lease_key(topic, group, i),
                owned: false,
                mode: Mode::New,
                probe: Probe::Done,
            })
            .collect();
        let streams: Arc<[String]> = lanes.iter().map(|l| l.stream.clone()).collect();
        let by_stream = lanes
            .iter()
            .enumerate()
            .map(|(i, l)| (l.stream.clone(), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        let shared: Arc<[LaneShared]> = lanes.iter().map(|_| LaneShared::default()).collect();
        let (tx, rx) = mpsc::unbounded_channel();
        let flusher = tokio::spawn(flusher::run(
            conn.clone(),
            Arc::clone(&streams),
            group.to_owned(),
            rx,
        ));
        let acker: Arc<dyn Acknowledger> = Arc::new(RedisAcker {
            lanes: Arc::clone(&shared),
            acks: tx.clone(),
            redelivery_delay: config.redelivery_delay,
        });
        let spread =
            u32::try_from(rand::random::<u64>() % u64::from(config.partitions.max(1))).unwrap_or(0);
        let mut sub = Self {
            members_key: config.members_key(topic, group),
            config,
            group: group.to_owned(),
            consumer,
            conn,
            read_conn,
            lanes,
            by_stream,
            shared,
            acker,
            acks: Some(tx),
            flusher: Some(flusher),
            buffer: VecDeque::new(),
            inflight: None,
            next_maintenance: Instant::now(),
            next_trim: Instant::now(),
            spread,
            closed: false,
        };
        sub.create_groups().await?;
        sub.maintain().await?;
        Ok(sub)
    }

    async fn create_groups(&mut self) -> Result<(), Error> {
        for lane in &self.lanes {
            let created: redis::RedisResult<Value> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&lane.stream)
                .arg(&self.group)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut self.conn)
                .await;
            if let Err(err) = created {
                if err.code() != Some("BUSYGROUP") {
                    return Err(backend_error(&err));
                }
            }
        }
        Ok(())
    }

    fn bump(&self, lane: usize) {
        if let Some(shared) = self.shared.get(lane) {
            shared.epoch.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn epoch(&self, lane: usize) -> u64 {
        self.shared
            .get(lane)
            .map_or(0, |s| s.epoch.load(Ordering::Acquire) & 0xffff_ffff)
    }

    async fn flush_acks(&self) {
        let Some(acks) = &self.acks else { return };
        let (tx, rx) = oneshot::channel();
        if acks.send(AckCommand::Flush(tx)).is_ok() {
            let _ = tokio::time::timeout(self.config.command_timeout, rx).await;
        }
    }

    /// Heartbeat, lease renewal, rebalancing to a fair share, takeover of lanes whose
    /// holder died, and trimming.
    async fn maintain(&mut self) -> Result<(), Error> {
        let ttl_ms = u64::try_from(self.config.lease_ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let live: u32 = HEARTBEAT
            .key(&self.members_key)
            .arg(&self.consumer)
            .arg(ttl_ms)
            .arg("stay")
            .invoke_async(&mut self.conn)
            .await
            .map_err(|e| backend_error(&e))?;
        let n = u32::try_from(self.lanes.len()).unwrap_or(u32::MAX);
        let share = n.div_ceil(live.max(1)) as usize;

        for i in 0..self.lanes.len() {
            if !self.lanes[i].owned {
                continue;
            }
            let kept: i64 = ACQUIRE
                .key(&self.lanes[i].lease)
                .arg(&self.consumer)
                .arg(ttl_ms)
                .invoke_async(&mut self.conn)
                .await
                .map_err(|e| backend_error(&e))?;
            if kept != 1 {
                tracing::warn!(stream = self.lanes[i].stream, "lost the lease on a lane");
                self.lanes[i].owned = false;
                self.bump(i);
            }
        }

        let mut owned = self.lanes.iter().filter(|l| l.owned).count();
        if owned > share {
            self.flush_acks().await;
            for i in 0..self.lanes.len() {
                if owned <= share {
                    break;
                }
                let idle = self.shared[i].outstanding.load(Ordering::Acquire) <= 0
                    && !self.buffer.iter().any(|(_, b)| b.lane as usize == i);
                if self.lanes[i].owned && idle {
                    let _: i64 = RELEASE
                        .key(&self.lanes[i].lease)
                        .arg(&self.consumer)
                        .invoke_async(&mut self.conn)
                        .await
                        .map_err(|e| backend_error(&e))?;
                    self.lanes[i].owned = false;
                    self.bump(i);
                    owned -= 1;
                }
            }
        }
        if owned < share {
            for k in 0..n {
                if owned >= share {
                    break;
                }
                let i = ((self.spread + k) % n) as usize;
                if self.lanes[i].owned {
                    continue;
                }
                let got: i64 = ACQUIRE
                    .key(&self.lanes[i].lease)
                    .arg(&self.consumer)
                    .arg(ttl_ms)
                    .invoke_async(&mut self.conn)
                    .await
                    .map_err(|e| backend_error(&e))?;
                if got == 1 {
                    self.take_over(i).await?;
                    owned += 1;
                }
            }
        }

        if let TrimPolicy::Acknowledged { every } = self.config.trim {
            if Instant::now() >= self.next_trim {
                for lane in self.lanes.iter().filter(|l| l.owned) {
                    let removed: i64 = TRIM_ACKNOWLEDGED
                        .key(&lane.stream)
                        .invoke_async(&mut self.conn)
                        .await
                        .map_err(|e| backend_error(&e))?;
                    if removed > 0 {
                        tracing::debug!(
                            stream = lane.stream,
                            removed,
                            "trimmed acknowledged entries"
                        );
                    }
                }
                self.next_trim = Instant::now() + every;
            }
        }
        self.next_maintenance = Instant::now() + self.config.lease_ttl / 3;
        Ok(())
    }

    /// Makes lane `i` ours: claims every entry pending for the group in that stream
    /// (its previous holder's), then reads them in order before new ones.
    async fn take_over(&mut self, i: usize) -> Result<(), Error> {
        let mut start = "0-0".to_owned();
        loop {
            let reply: Value = redis::cmd("XAUTOCLAIM")
                .arg(&self.lanes[i].stream)
                .arg(&self.group)
                .arg(&self.consumer)
                .arg(0)
                .arg(&start)
                .arg("COUNT")
                .arg(1000)
                .arg("JUSTID")
                .query_async(&mut self.conn)
                .await
                .map_err(|e| backend_error(&e))?;
            let next = match &reply {
                Value::Array(items) => match items.first() {
                    Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                    Some(Value::SimpleString(s)) => s.clone(),
                    _ => "0-0".to_owned(),
                },
                _ => "0-0".to_owned(),
            };
            if next == "0-0" {
                break;
            }
            start = next;
        }
        self.lanes[i].owned = true;
        self.lanes[i].mode = Mode::Pending("0".into());
        self.lanes[i].probe = Probe::Need;
        self.bump(i);
        Ok(())
    }

    /// Turns rejections signalled by the acker into rereads of the lane's pending entries.
    fn apply_rewinds(&mut self) {
        for (i, shared) in self.shared.iter().enumerate() {
            if shared.rewound.swap(false, Ordering::AcqRel) {
                self.lanes[i].mode = Mode::Pending("0".into());
                self.lanes[i].probe = Probe::Need;
                self.buffer.retain(|(_, b)| b.lane as usize != i);
            }
        }
    }

    fn paused(&self, i: usize, now: Instant) -> Option<Instant> {
        let at = self.shared[i].resume_at.lock().ok().and_then(|g| *g)?;
        (at > now).then_some(at)
    }

    fn deliveries(
        &self,
        lane: u32,
        epoch: u64,
        entries: Vec<Entry>,
        attempts: &HashMap<String, u32>,
    ) -> (Batch, Vec<String>) {
        let mut deliveries = Vec::with_capacity(entries.len());
        let mut holes = Vec::new();
        for entry in entries {
            let Some(message) = entry.message else {
                holes.push(entry.id);
                continue;
            };
            let Some(t) = token(lane, &entry.id, epoch) else {
                continue;
            };
            let attempt = attempts.get(&entry.id).copied().unwrap_or(1);
            deliveries.push(Delivery::new(message, attempt, Arc::clone(&self.acker), t));
        }
        self.shared[lane as usize].outstanding.fetch_add(
            i64::try_from(deliveries.len()).unwrap_or(i64::MAX),
            Ordering::AcqRel,
        );
        (Batch { lane, deliveries }, holes)
    }

    /// Acknowledges entries that were trimmed away before this group handled them.
    fn ack_holes(&self, lane: u32, holes: Vec<String>) {
        if holes.is_empty() {
            return;
        }
        tracing::warn!(
            stream = self.lanes[lane as usize].stream,
            count = holes.len(),
            "entries were trimmed before this group handled them"
        );
        metrics::counter!("mq_redis_trimmed_unhandled_total").increment(holes.len() as u64);
        if let Some(acks) = &self.acks {
            for id in holes {
                let _ = acks.send(AckCommand::Ack { lane, id });
            }
        }
    }

    /// Reads the member's own pending entries of lane `i` after its cursor.
    async fn read_pending(&mut self, i: usize, max: usize) -> Result<Option<Batch>, Error> {
        let Mode::Pending(after) = &self.lanes[i].mode else {
            return Ok(None);
        };
        self.flush_acks().await;
        let epoch = self.epoch(i);
        let reply: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(max.max(1))
            .arg("STREAMS")
            .arg(&self.lanes[i].stream)
            .arg(after)
            .query_async(&mut self.conn)
            .await
            .map_err(|e| backend_error(&e))?;
        let entries: Vec<Entry> = parse_read(reply)
            .map_err(|e| backend_error(&e))?
            .into_iter()
            .flat_map(|(_, entries)| entries)
            .collect();
        let (Some(first), Some(last)) = (
            entries.first().map(|e| e.id.clone()),
            entries.last().map(|e| e.id.clone()),
        ) else {
            self.lanes[i].mode = Mode::New;
            return Ok(None);
        };
        let pending: Value = redis::cmd("XPENDING")
            .arg(&self.lanes[i].stream)
            .arg(&self.group)
            .arg(&first)
            .arg(&last)
            .arg(entries.len())
            .arg(&self.consumer)
            .query_async(&mut self.conn)
            .await
            .map_err(|e| backend_error(&e))?;
        let attempts = parse_attempts(pending);
        self.lanes[i].mode = Mode::Pending(last);
        let lane = u32::try_from(i).unwrap_or(u32::MAX);
        let (batch, holes) = self.deliveries(lane, epoch, entries, &attempts);
        self.ack_holes(lane, holes);
        Ok((!batch.deliveries.is_empty()).then_some(batch))
    }

    fn start_new_read(&mut self, ready: Vec<usize>, max: usize, block_ms: u64) {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(max.max(1))
            .arg("BLOCK")
            .arg(block_ms.max(1))
            .arg("STREAMS");
        for &i in &ready {
            cmd.arg(&self.lanes[i].stream);
        }
        for _ in &ready {
            cmd.arg(">");
        }
        let epochs = ready
            .iter()
            .map(|&i| (u32::try_from(i).unwrap_or(u32::MAX), self.epoch(i)))
            .collect();
        let mut conn = self.read_conn.clone();
        // Spawned so that dropping `next_batch` never loses entries the server already
        // handed to this member: the reply is collected on the next call.
        let handle = tokio::spawn(async move { cmd.query_async::<Value>(&mut conn).await });
        self.inflight = Some((epochs, handle));
    }

    async fn finish_new_read(&mut self) -> Result<(), Error> {
        let Some((epochs, handle)) = self.inflight.as_mut() else {
            return Ok(());
        };
        let joined = handle.await;
        let epochs = std::mem::take(epochs);
        self.inflight = None;
        let reply = match joined {
            Ok(Ok(reply)) => reply,
            Ok(Err(err)) => {
                self.reread_after_lost_reply(&epochs);
                if err.code() == Some("NOGROUP") {
                    // The server lost the group (restarted without persistence).
                    self.create_groups().await?;
                }
                return Err(backend_error(&err));
            }
            Err(join) => {
                self.reread_after_lost_reply(&epochs);
                return Err(Error::Backend {
                    backend: "redis",
                    message: join.to_string(),
                });
            }
        };
        for (stream, entries) in parse_read(reply).map_err(|e| backend_error(&e))? {
            let Some(&lane) = self.by_stream.get(&stream) else {
                continue;
            };
            let Some(&(_, epoch)) = epochs.iter().find(|(l, _)| *l == lane) else {
                continue;
            };
            if self.epoch(lane as usize) != epoch || !self.lanes[lane as usize].owned {
                // Rewound or given up meanwhile: the entries stay pending and are read
                // again from the pending list, in order.
                continue;
            }
            let (batch, holes) = self.deliveries(lane, epoch, entries, &HashMap::new());
            self.ack_holes(lane, holes);
            if !batch.deliveries.is_empty() {
                self.buffer.push_back((epoch, batch));
            }
        }
        Ok(())
    }

    /// A read of new entries failed (the connection dropped, the server was killed,
    /// the reply timed out): the server may have handed entries to this member before
    /// the reply was lost. They are pending for this member and `>` never returns them
    /// again, so the lanes of that read are reread from their pending entries first, as
    /// after a rejection (the epoch bump makes what is still out stale, so the lane
    /// keeps its order).
    fn reread_after_lost_reply(&mut self, epochs: &[(u32, u64)]) {
        for &(lane, epoch) in epochs {
            let i = lane as usize;
            if i < self.lanes.len() && self.lanes[i].owned && self.epoch(i) == epoch {
                self.bump(i);
                self.lanes[i].mode = Mode::Pending("0".into());
                self.lanes[i].probe = Probe::Need;
                self.buffer.retain(|(_, b)| b.lane != lane);
            }
        }
    }

    async fn give_back(&mut self) {
        if let Some((_, handle)) = self.inflight.take() {
            // Entries read now stay pending; whoever takes the lane over claims them.
            let _ = handle.await;
        }
        self.buffer.clear();
        self.flush_acks().await;
        for i in 0..self.lanes.len() {
            if self.lanes[i].owned {
                let released: redis::RedisResult<i64> = RELEASE
                    .key(&self.lanes[i].lease)
                    .arg(&self.consumer)
                    .invoke_async(&mut self.conn)
                    .await;
                if let Err(err) = released {
                    tracing::warn!(error = %err, "releasing a lane failed; it expires by itself");
                }
                self.lanes[i].owned = false;
                self.bump(i);
            }
        }
        let left: redis::RedisResult<i64> = HEARTBEAT
            .key(&self.members_key)
            .arg(&self.consumer)
            .arg(1)
            .arg("leave")
            .invoke_async(&mut self.conn)
            .await;
        if let Err(err) = left {
            tracing::warn!(error = %err, "leaving the group failed; membership expires by itself");
        }
        if let Some(acks) = self.acks.take() {
            let _ = acks.send(AckCommand::Close);
        }
        if let Some(flusher) = self.flusher.take() {
            let _ = tokio::time::timeout(self.config.command_timeout, flusher).await;
        }
    }
}

fn parse_attempts(v: Value) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    if let Value::Array(rows) = v {
        for row in rows {
            if let Value::Array(fields) = row {
                let id = match fields.first() {
                    Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                    Some(Value::SimpleString(s)) => s.clone(),
                    _ => continue,
                };
                let count = match fields.get(3) {
                    Some(Value::Int(n)) => u32::try_from(*n).unwrap_or(u32::MAX),
                    _ => 1,
                };
                out.insert(id, count.max(1));
            }
        }
    }
    out
}

#[async_trait]
impl Subscription for RedisSubscription {
    async fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, Error> {
        let result = self.next_batch_inner(max).await;
        if let Err(Error::Backend { message, .. }) = &result {
            if message.contains("NOGROUP") {
                // The server lost the group (restarted without persistence, or the key
                // was deleted): create it again so that the next call can read.
                if let Err(err) = self.create_groups().await {
                    tracing::warn!(error = %err, "recreating the consumer group failed");
                }
            }
        }
        result
    }

    async fn close(&mut self) -> Result<(), Error> {
        self.close_inner().await
    }
}

impl RedisSubscription {
    async fn next_batch_inner(&mut self, max: usize) -> Result<Option<Batch>, Error> {
        loop {
            if self.closed {
                return Ok(None);
            }
            self.finish_new_read().await?;
            self.apply_rewinds();
            while let Some((epoch, batch)) = self.buffer.pop_front() {
                if self.epoch(batch.lane as usize) == epoch {
                    return Ok(Some(batch));
                }
            }
            let now = Instant::now();
            if now >= self.next_maintenance {
                self.maintain().await?;
            }
            let mut wake = self.next_maintenance;
            let mut ready = Vec::new();
            for i in 0..self.lanes.len() {
                if !self.lanes[i].owned {
                    continue;
                }
                if let Some(at) = self.paused(i, now) {
                    wake = wake.min(at);
                    continue;
                }
                while matches!(self.lanes[i].mode, Mode::Pending(_)) {
                    let count = match self.lanes[i].probe {
                        Probe::Need => 1,
                        Probe::Sent if self.shared[i].outstanding.load(Ordering::Acquire) > 0 => {
                            // Look again soon: the head is being handled.
                            wake = wake.min(now + PROBE_POLL);
                            break;
                        }
                        Probe::Sent | Probe::Done => {
                            self.lanes[i].probe = Probe::Done;
                            max
                        }
                    };
                    let read = self.read_pending(i, count).await?;
                    if self.lanes[i].probe == Probe::Need {
                        self.lanes[i].probe = Probe::Sent;
                    }
                    if let Some(batch) = read {
                        return Ok(Some(batch));
                    }
                }
                if matches!(self.lanes[i].mode, Mode::New) {
                    ready.push(i);
                }
            }
            let until = wake.saturating_duration_since(Instant::now());
            if ready.is_empty() {
                tokio::time::sleep(until).await;
                continue;
            }
            let block = until.min(self.config.block);
            let block_ms = u64::try_from(block.as_millis()).unwrap_or(u64::MAX).max(1);
            self.start_new_read(ready, max, block_ms);
        }
    }

    async fn close_inner(&mut self) -> Result<(), Error> {
        if !self.closed {
            self.closed = true;
            self.give_back().await;
        }
        Ok(())
    }
}

impl Drop for RedisSubscription {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        if let Some(acks) = self.acks.take() {
            let _ = acks.send(AckCommand::Close);
        }
        // Best effort: hand the lanes back now rather than when their leases expire.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut conn = self.conn.clone();
        let leases: Vec<String> = self
            .lanes
            .iter()
            .filter(|l| l.owned)
            .map(|l| l.lease.clone())
            .collect();
        let consumer = self.consumer.clone();
        let members = self.members_key.clone();
        for i in 0..self.lanes.len() {
            self.bump(i);
        }
        runtime.spawn(async move {
            for lease in leases {
                let _: redis::RedisResult<i64> = RELEASE
                    .key(&lease)
                    .arg(&consumer)
                    .invoke_async(&mut conn)
                    .await;
            }
            let _: redis::RedisResult<i64> = HEARTBEAT
                .key(&members)
                .arg(&consumer)
                .arg(1)
                .arg("leave")
                .invoke_async(&mut conn)
                .await;
        });
    }
}
