//! A WebSocket client speaking the JSON protocol, as an application would.

use std::time::Duration;

use anyhow::{bail, Context};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest wait for one expected frame.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A connected, authenticated client whose reader task keeps reading.
pub(crate) struct WsClient {
    sink: SplitSink<Ws, Message>,
    frames: mpsc::UnboundedReceiver<Option<Value>>,
    reader: tokio::task::JoinHandle<()>,
    /// Frames read past while waiting for another kind (kept in order).
    pub(crate) skipped: Vec<Value>,
}

impl Drop for WsClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl WsClient {
    /// Connects without authenticating.
    pub(crate) async fn connect_raw(url: &str) -> anyhow::Result<Self> {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .context("connect")?;
        let (sink, mut stream) = ws.split();
        let (tx, frames) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Text(text) = message {
                    let value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                    if tx.send(Some(value)).is_err() {
                        return;
                    }
                }
            }
            let _ = tx.send(None);
        });
        Ok(Self {
            sink,
            frames,
            reader,
            skipped: Vec::new(),
        })
    }

    /// Connects and authenticates with `token`; fails unless `auth_ok` comes back.
    pub(crate) async fn connect(url: &str, token: &str) -> anyhow::Result<Self> {
        let mut client = Self::connect_raw(url).await?;
        client.send(json!({"type": "auth", "token": token})).await?;
        let ok = client.next().await?;
        anyhow::ensure!(ok["type"] == "auth_ok", "expected auth_ok, got {ok}");
        Ok(client)
    }

    /// Sends one frame.
    pub(crate) async fn send(&mut self, frame: Value) -> anyhow::Result<()> {
        self.sink
            .send(Message::Text(frame.to_string().into()))
            .await?;
        Ok(())
    }

    /// The next frame.
    pub(crate) async fn next(&mut self) -> anyhow::Result<Value> {
        match tokio::time::timeout(WAIT, self.frames.recv()).await {
            Err(_) => bail!("no frame within {WAIT:?}"),
            Ok(None) | Ok(Some(None)) => bail!("connection closed"),
            Ok(Some(Some(frame))) => Ok(frame),
        }
    }

    /// The next frame of `kind`; frames of other kinds go to `skipped`.
    pub(crate) async fn next_of(&mut self, kind: &str) -> anyhow::Result<Value> {
        loop {
            let frame = self.next().await?;
            if frame["type"] == kind {
                return Ok(frame);
            }
            self.skipped.push(frame);
        }
    }

    /// Sends a text message and waits for its `send_ok` (or fails on an `error`);
    /// returns the seq.
    pub(crate) async fn say(&mut self, group: &str, cid: &str, text: &str) -> anyhow::Result<u64> {
        self.send(json!({"type": "send", "group_id": group, "client_msg_id": cid, "body": text}))
            .await?;
        loop {
            let frame = self.next().await?;
            match frame["type"].as_str() {
                Some("send_ok") if frame["client_msg_id"] == cid => {
                    return frame["seq"].as_u64().context("seq");
                }
                Some("error") => bail!("send {cid} refused: {frame}"),
                _ => self.skipped.push(frame),
            }
        }
    }

    /// Sends and expects an `error` frame; returns its code.
    pub(crate) async fn refused(&mut self, frame: Value) -> anyhow::Result<String> {
        self.send(frame).await?;
        let error = self.next_of("error").await?;
        Ok(error["code"].as_str().unwrap_or_default().to_owned())
    }

    /// `n` pushed messages of `group` (taking those already skipped first), in arrival
    /// order, as (seq, sender, text).
    pub(crate) async fn messages(
        &mut self,
        group: &str,
        n: usize,
    ) -> anyhow::Result<Vec<(u64, String, String)>> {
        let mut got = Vec::new();
        let is_msg = |f: &Value| f["type"] == "message" && f["group_id"] == group;
        let earlier: Vec<Value> = std::mem::take(&mut self.skipped);
        for frame in earlier {
            if is_msg(&frame) && got.len() < n {
                got.push(as_triple(&frame));
            } else {
                self.skipped.push(frame);
            }
        }
        while got.len() < n {
            let frame = self
                .next()
                .await
                .with_context(|| format!("after {} of {n} messages", got.len()))?;
            if is_msg(&frame) {
                got.push(as_triple(&frame));
            } else {
                self.skipped.push(frame);
            }
        }
        Ok(got)
    }

    /// Pings and returns every frame that arrived before the pong.
    pub(crate) async fn drain(&mut self) -> anyhow::Result<Vec<Value>> {
        self.send(json!({"type": "ping"})).await?;
        let mut before = std::mem::take(&mut self.skipped);
        loop {
            let frame = self.next().await?;
            if frame["type"] == "pong" {
                return Ok(before);
            }
            before.push(frame);
        }
    }
}

/// A stored message as (seq, sender, text).
pub(crate) fn as_triple(m: &Value) -> (u64, String, String) {
    (
        m["seq"].as_u64().unwrap_or(0),
        m["sender_id"].as_str().unwrap_or_default().to_owned(),
        m["body"].as_str().unwrap_or_default().to_owned(),
    )
}
