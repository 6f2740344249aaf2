//! The load generator: idle connections, and bursts of group messages with a send
//! timestamp in each frame (latency = receive time - send time, one clock, one process).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::client::{self, Conn};

/// What the frames look like on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// gorilla-hub's micro protocol: the payload is relayed as it is.
    Micro,
    /// im-core's JSON protocol (`docs/protocol.md`): `auth`, `send`, `message`.
    Json,
}

/// Where the send timestamp (12 digits) is in a received text frame, if it is a delivery.
fn timestamp(protocol: Protocol, payload: &[u8]) -> Option<&[u8]> {
    match protocol {
        Protocol::Micro => payload.get(..12),
        Protocol::Json => {
            if !payload.starts_with(br#"{"type":"message""#) {
                return None; // send_ok and other replies
            }
            const BODY: &[u8] = br#""body":""#;
            let at = payload.windows(BODY.len()).position(|w| w == BODY)? + BODY.len();
            payload.get(at..at + 12)
        }
    }
}

/// The text of frame `n` of connection `i` in `round`, carrying the send time.
fn frame_text(
    protocol: Protocol,
    i: usize,
    group: usize,
    round: u32,
    n: usize,
    now_us: u64,
) -> String {
    let mut body = format!("{now_us:012}|{i:06}|{n:06}|");
    body.extend(std::iter::repeat_n('x', PAYLOAD.saturating_sub(body.len())));
    match protocol {
        Protocol::Micro => body,
        Protocol::Json => format!(
            r#"{{"type":"send","group_id":"g{group}","client_msg_id":"{round}-{n}","body":"{body}"}}"#
        ),
    }
}

/// Payload bytes per frame (timestamp, sender, number, padding).
pub const PAYLOAD: usize = 64;
const SHARDS: usize = 16;

/// What every reader records.
pub struct Recorder {
    base: Instant,
    received: AtomicU64,
    last_us: AtomicU64,
    latencies: Vec<Mutex<Vec<u32>>>,
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            base: Instant::now(),
            received: AtomicU64::new(0),
            last_us: AtomicU64::new(0),
            latencies: (0..SHARDS).map(|_| Mutex::new(Vec::new())).collect(),
        })
    }

    fn now_us(&self) -> u64 {
        self.base.elapsed().as_micros() as u64
    }

    fn record(&self, shard: usize, latencies: &mut Vec<u32>) {
        if latencies.is_empty() {
            return;
        }
        let now = self.now_us();
        self.received
            .fetch_add(latencies.len() as u64, Ordering::Relaxed);
        self.last_us.fetch_max(now, Ordering::Relaxed);
        self.latencies[shard % SHARDS]
            .lock()
            .unwrap()
            .append(latencies);
    }

    /// Forgets everything recorded (between warm-up and measurement).
    pub fn reset(&self) {
        self.received.store(0, Ordering::SeqCst);
        self.last_us.store(0, Ordering::SeqCst);
        for shard in &self.latencies {
            shard.lock().unwrap().clear();
        }
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }

    /// Sorted latencies in microseconds.
    fn sorted(&self) -> Vec<u32> {
        let mut all = Vec::new();
        for shard in &self.latencies {
            all.extend_from_slice(&shard.lock().unwrap());
        }
        all.sort_unstable();
        all
    }
}

/// One connection's reader: parses frames, answers pings, records latencies.
async fn read_loop(
    mut conn_read: tokio::net::tcp::OwnedReadHalf,
    pending: Vec<u8>,
    write: Arc<tokio::sync::Mutex<tokio::net::tcp::OwnedWriteHalf>>,
    recorder: Arc<Recorder>,
    shard: usize,
    buffer: usize,
    protocol: Protocol,
) {
    let mut buf = pending;
    buf.reserve(buffer);
    let mut batch = Vec::new();
    loop {
        let mut pos = 0;
        while let Some(frame) = client::parse(&buf[pos..]) {
            let payload = &buf[pos + frame.start..pos + frame.end];
            match frame.opcode {
                0x1 => {
                    let sent = timestamp(protocol, payload)
                        .and_then(|d| std::str::from_utf8(d).ok())
                        .and_then(|d| d.parse::<u64>().ok());
                    if let Some(sent) = sent {
                        let now = recorder.now_us();
                        batch.push(now.saturating_sub(sent).min(u32::MAX as u64) as u32);
                    }
                }
                0x8 => return,
                0x9 => {
                    let mut pong = Vec::new();
                    client::encode(&mut pong, 0xA, payload);
                    let _ = write.lock().await.write_all(&pong).await;
                }
                _ => {}
            }
            pos += frame.end;
        }
        recorder.record(shard, &mut batch);
        buf.drain(..pos);
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(buffer);
        }
        match conn_read.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Connections of one run: `count`, user `u{i}`, group `g{i / group_size}`.
pub struct Clients {
    pub writers: Vec<Arc<tokio::sync::Mutex<tokio::net::tcp::OwnedWriteHalf>>>,
    pub group_size: usize,
    pub protocol: Protocol,
    readers: tokio::task::JoinSet<()>,
}

impl Clients {
    /// Opens the connections (at most 256 handshakes at a time) and starts their readers.
    pub async fn open(
        addr: &str,
        count: usize,
        group_size: usize,
        recorder: &Arc<Recorder>,
        read_buffer: usize,
        protocol: Protocol,
    ) -> anyhow::Result<Self> {
        let gate = Arc::new(Semaphore::new(256));
        let mut handshakes = tokio::task::JoinSet::new();
        for i in 0..count {
            let (addr, gate) = (addr.to_owned(), gate.clone());
            handshakes.spawn(async move {
                let _permit = gate.acquire_owned().await?;
                let mut tries = 0;
                loop {
                    let user = format!("u{i}");
                    let opened =
                        client::connect(&addr, &user, &format!("g{}", i / group_size)).await;
                    let opened = match (opened, protocol) {
                        (Ok(conn), Protocol::Json) => client::authenticate(conn, &user).await,
                        (other, _) => other,
                    };
                    match opened {
                        Ok(conn) => return anyhow::Ok((i, conn)),
                        Err(e) if tries < 5 => {
                            tries += 1;
                            let _ = e;
                            tokio::time::sleep(Duration::from_millis(50 * tries)).await;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            });
        }
        let mut conns: Vec<Option<Conn>> = (0..count).map(|_| None).collect();
        while let Some(done) = handshakes.join_next().await {
            let (i, conn) = done??;
            conns[i] = Some(conn);
        }
        let mut writers = Vec::with_capacity(count);
        let mut readers = tokio::task::JoinSet::new();
        for (i, conn) in conns.into_iter().enumerate() {
            let conn = conn.ok_or_else(|| anyhow::anyhow!("connection {i} missing"))?;
            writers.push(conn.write.clone());
            readers.spawn(read_loop(
                conn.read,
                conn.pending,
                conn.write,
                recorder.clone(),
                i,
                read_buffer,
                protocol,
            ));
        }
        Ok(Self {
            writers,
            group_size,
            protocol,
            readers,
        })
    }

    /// Closes every connection (and stops the readers).
    pub async fn close(mut self) {
        for w in &self.writers {
            let mut frame = Vec::new();
            client::encode(&mut frame, 0x8, &1000u16.to_be_bytes());
            let mut w = w.lock().await;
            let _ = w.write_all(&frame).await;
            let _ = w.shutdown().await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while self.readers.join_next().await.is_some() {}
        })
        .await;
        self.readers.abort_all();
    }
}

/// The outcome of one burst.
#[derive(Debug, Clone, Copy, Default)]
pub struct Burst {
    pub expected: u64,
    pub received: u64,
    pub seconds: f64,
    pub p50_us: u32,
    pub p99_us: u32,
    pub max_us: u32,
}

impl Burst {
    pub fn rate(&self) -> f64 {
        self.received as f64 / self.seconds.max(1e-9)
    }
}

/// Every connection sends `per_conn` frames: back to back and all at once when `period`
/// is `None` (a burst), else one every `period`, the connections' sends spread evenly
/// over the period (a steady rate). Waits until every delivery arrived or nothing arrived
/// for `quiet`.
pub async fn burst(
    clients: &Clients,
    recorder: &Arc<Recorder>,
    round: u32,
    per_conn: usize,
    period: Option<Duration>,
    quiet: Duration,
) -> Burst {
    recorder.reset();
    let expected = (clients.writers.len() * per_conn * clients.group_size) as u64;
    let start_us = recorder.now_us();
    let start = tokio::time::Instant::now();
    let conns = clients.writers.len() as u32;
    let mut senders = tokio::task::JoinSet::new();
    let (protocol, group_size) = (clients.protocol, clients.group_size);
    for (i, w) in clients.writers.iter().enumerate() {
        let (w, recorder) = (w.clone(), recorder.clone());
        senders.spawn(async move {
            let mut frame = Vec::with_capacity(PAYLOAD + 8);
            for n in 0..per_conn {
                if let Some(period) = period {
                    let offset = period / conns * i as u32;
                    tokio::time::sleep_until(start + offset + period * n as u32).await;
                }
                let text = frame_text(protocol, i, i / group_size, round, n, recorder.now_us());
                frame.clear();
                client::encode(&mut frame, 0x1, text.as_bytes());
                if w.lock().await.write_all(&frame).await.is_err() {
                    return;
                }
            }
        });
    }
    while senders.join_next().await.is_some() {}
    // Wait for the deliveries: done when all arrived, or when nothing moved for `quiet`.
    let mut last = (recorder.received(), Instant::now());
    loop {
        let received = recorder.received();
        if received >= expected {
            break;
        }
        if received != last.0 {
            last = (received, Instant::now());
        } else if last.1.elapsed() > quiet {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let received = recorder.received();
    let end_us = recorder.last_us.load(Ordering::SeqCst).max(start_us + 1);
    let sorted = recorder.sorted();
    let at = |q: f64| {
        sorted
            .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    Burst {
        expected,
        received,
        seconds: (end_us - start_us) as f64 / 1e6,
        p50_us: at(0.50),
        p99_us: at(0.99),
        max_us: sorted.last().copied().unwrap_or(0),
    }
}
