//! One WebSocket user: a reader that checks and times every delivery, and a sender.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::schedule::Schedule;
use crate::setup::User;

pub(crate) type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;

/// Microseconds since the first call in this process (send and receive share it).
pub(crate) fn now_us() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// The fields of a server frame the reader looks at, borrowed from the text where no
/// escape forces a copy (the load generator shares the machine with the servers it
/// measures: every microsecond it spends per delivery is taken from them).
#[derive(serde::Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default)]
    seq: u64,
    /// A message's body: the load generator sends `"lg|<send time>"` strings; other
    /// bodies are not timed.
    #[serde(default, borrow, deserialize_with = "string_or_none")]
    body: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    code: Option<std::borrow::Cow<'a, str>>,
}

/// A JSON string, or `None` for any other value.
fn string_or_none<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::borrow::Cow<'de, str>>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Body<'a> {
        Text(#[serde(borrow)] std::borrow::Cow<'a, str>),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Body::deserialize(d)? {
        Body::Text(t) => Some(t),
        Body::Other(_) => None,
    })
}

/// Counters of a run, shared by every client.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) sent: AtomicU64,
    pub(crate) confirmed: AtomicU64,
    /// Deliveries the confirmed messages owe (members of their group each).
    pub(crate) owed: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) out_of_order: AtomicU64,
    pub(crate) disconnects: AtomicU64,
    pub(crate) refused: Mutex<HashMap<String, u64>>,
}

impl Stats {
    pub(crate) fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Sends answered with an error.
    pub(crate) fn refused_total(&self) -> u64 {
        self.refused.lock().map(|r| r.values().sum()).unwrap_or(0)
    }

    /// Deliveries owed by the confirmed messages.
    pub(crate) fn expected(&self) -> u64 {
        self.owed.load(Ordering::Relaxed)
    }
}

/// A connected user.
pub(crate) struct Client {
    sink: Arc<tokio::sync::Mutex<Sink>>,
    group: String,
    stats: Arc<Stats>,
    /// Send-to-delivery latency of what this client received, in microseconds.
    pub(crate) latency: Arc<Mutex<Histogram<u64>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Client {
    /// Connects and authenticates `user` (whose group has `members`); starts its reader.
    pub(crate) async fn connect(
        base: &str,
        user: &User,
        members: u64,
        stats: Arc<Stats>,
    ) -> anyhow::Result<Self> {
        let url = format!("{}/ws", base.replacen("http", "ws", 1));
        let (ws, _) = connect_websocket(&url).await?;
        let (mut sink, mut stream) = ws.split();
        sink.send(Message::Text(
            json!({"type": "auth", "token": user.token})
                .to_string()
                .into(),
        ))
        .await?;
        let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .context("no auth_ok")?
            .context("closed")??;
        let ok: Value = serde_json::from_str(first.to_text()?)?;
        ensure!(ok["type"] == "auth_ok", "auth: {ok}");
        let latency = Arc::new(Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3)?));
        let (lat, st) = (Arc::clone(&latency), Arc::clone(&stats));
        let reader = tokio::spawn(async move {
            let mut last_seq = 0u64;
            while let Some(frame) = stream.next().await {
                let Ok(Message::Text(text)) = frame else {
                    if frame.is_err() {
                        break;
                    }
                    continue;
                };
                let Ok(f) = serde_json::from_str::<Frame<'_>>(text.as_str()) else {
                    continue;
                };
                match f.kind.as_ref() {
                    "message" => {
                        let seq = f.seq;
                        if seq <= last_seq {
                            st.duplicates.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        if seq != last_seq + 1 {
                            st.out_of_order.fetch_add(1, Ordering::Relaxed);
                        }
                        last_seq = seq;
                        st.delivered.fetch_add(1, Ordering::Relaxed);
                        let sent = f
                            .body
                            .as_deref()
                            .and_then(|b| b.strip_prefix("lg|"))
                            .and_then(|t| t.parse::<u64>().ok());
                        if let (Some(sent), Ok(mut h)) = (sent, lat.lock()) {
                            let _ = h.record(now_us().saturating_sub(sent).max(1));
                        }
                    }
                    "send_ok" => {
                        st.confirmed.fetch_add(1, Ordering::Relaxed);
                        st.owed.fetch_add(members, Ordering::Relaxed);
                    }
                    "error" => {
                        let code = f.code.as_deref().unwrap_or("?").to_owned();
                        if let Ok(mut r) = st.refused.lock() {
                            *r.entry(code).or_default() += 1;
                        }
                    }
                    _ => {}
                }
            }
            st.disconnects.fetch_add(1, Ordering::Relaxed);
        });
        Ok(Self {
            sink: Arc::new(tokio::sync::Mutex::new(sink)),
            group: user.group.clone(),
            stats,
            latency,
            reader,
        })
    }

    /// Sends `per_second` messages a second for `duration` (in a task).
    pub(crate) fn start_sending(
        &self,
        per_second: f64,
        duration: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let (sink, group, stats) = (
            Arc::clone(&self.sink),
            self.group.clone(),
            Arc::clone(&self.stats),
        );
        tokio::spawn(async move {
            let Some(mut schedule) = Schedule::new(per_second, duration, rand_fraction()) else {
                return;
            };
            while schedule.next().await {
                let frame = json!({"type": "send", "group_id": group,
                    "client_msg_id": uuid::Uuid::now_v7().to_string(), "body": format!("lg|{}", now_us())});
                if sink
                    .lock()
                    .await
                    .send(Message::Text(frame.to_string().into()))
                    .await
                    .is_err()
                {
                    return;
                }
                stats.sent.fetch_add(1, Ordering::Relaxed);
            }
        })
    }
}

/// How long a WebSocket connection (TCP, TLS-less upgrade) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a WebSocket to `url` (Nagle off), or says which URL failed and why.
pub(crate) async fn connect_websocket(
    url: &str,
) -> anyhow::Result<(
    WebSocketStream<MaybeTlsStream<TcpStream>>,
    tokio_tungstenite::tungstenite::handshake::client::Response,
)> {
    tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(url, None, true),
    )
    .await
    .map_err(|_| anyhow::anyhow!("WebSocket {url}: no answer within {CONNECT_TIMEOUT:?}"))?
    .with_context(|| format!("WebSocket {url}"))
}

/// A number in [0, 1) from the clock (spreading start times needs nothing better).
pub(crate) fn rand_fraction() -> f64 {
    f64::from(uuid::Uuid::now_v7().as_u128() as u16) / 65_536.0
}
