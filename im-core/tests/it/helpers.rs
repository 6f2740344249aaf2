//! Test helpers: a server on port 0 with fresh in-memory state, and WebSocket clients.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use im_core::membership::InMemoryMembership;
use im_core::protocol::{ClientFrame, ErrorCode, MessageBody, ServerFrame};
use im_core::store::{InMemoryStore, MessageStore};
use im_core::{
    AuthError, Authenticator, CloseReason, Engine, EngineBuilder, EngineConfig, GroupId, Seq,
    StoredMessage, UserId,
};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Default wait for one expected frame.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// Tokens are `ok:<user>`; anything else is refused.
#[derive(Debug)]
pub(crate) struct PrefixAuth;

#[async_trait::async_trait]
impl Authenticator for PrefixAuth {
    async fn authenticate(&self, token: &str) -> Result<UserId, AuthError> {
        match token.strip_prefix("ok:") {
            Some(user) if !user.is_empty() => Ok(UserId::from(user)),
            _ => Err(AuthError::Invalid("unknown token".into())),
        }
    }
}

/// Logs only when asked (`TEST_LOG=1`).
pub(crate) fn init_logging() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("im_core=debug")
                .with_test_writer()
                .try_init();
        }
    });
}

/// A running server.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) engine: Engine,
    pub(crate) store: Arc<InMemoryStore>,
    pub(crate) membership: Arc<InMemoryMembership>,
    pub(crate) closed: Arc<Mutex<Vec<CloseReason>>>,
}

/// A test configuration: no rate limit, defaults otherwise.
pub(crate) fn test_config() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.rate_limit = None;
    config
}

impl TestServer {
    pub(crate) async fn start(config: EngineConfig) -> Self {
        Self::start_with_store(config, Arc::new(InMemoryStore::new())).await
    }

    pub(crate) async fn start_with_store(config: EngineConfig, store: Arc<InMemoryStore>) -> Self {
        Self::start_with_stores(config, store.clone(), store).await
    }

    /// The engine uses `engine_store` (e.g. a wrapper around `store`); the test inspects
    /// `store`.
    pub(crate) async fn start_with_stores(
        config: EngineConfig,
        store: Arc<InMemoryStore>,
        engine_store: Arc<dyn MessageStore>,
    ) -> Self {
        Self::start_custom(config, store, engine_store, |b| b).await
    }

    /// Like `start_with_stores`, with hooks added by `customise`.
    pub(crate) async fn start_custom(
        config: EngineConfig,
        store: Arc<InMemoryStore>,
        engine_store: Arc<dyn MessageStore>,
        customise: impl FnOnce(EngineBuilder) -> EngineBuilder,
    ) -> Self {
        init_logging();
        let membership = Arc::new(InMemoryMembership::new());
        let builder = Engine::builder(
            config,
            engine_store,
            membership.clone(),
            Arc::new(PrefixAuth),
        );
        let engine = customise(builder).build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let closed = Arc::new(Mutex::new(Vec::new()));
        let (e, c) = (engine.clone(), closed.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (e, c) = (e.clone(), c.clone());
                tokio::spawn(async move {
                    if let Ok(reason) = e.accept(tcp).await {
                        c.lock().unwrap().push(reason);
                    }
                });
            }
        });
        Self {
            addr,
            engine,
            store,
            membership,
            closed,
        }
    }

    pub(crate) fn join(&self, group: &str, users: &[&str]) {
        for u in users {
            self.membership.add(group.into(), (*u).into());
        }
    }

    pub(crate) fn close_reasons(&self) -> Vec<CloseReason> {
        self.closed.lock().unwrap().clone()
    }

    /// Waits until `n` sessions have ended with `reason` (the goodbye takes up to 1 s).
    pub(crate) async fn wait_close_reason(&self, reason: &CloseReason, n: usize) {
        let deadline = Instant::now() + WAIT;
        loop {
            let seen = self.close_reasons().iter().filter(|r| *r == reason).count();
            if seen >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {n} x {reason:?}: {:?}",
                self.close_reasons()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Connects without reading (no reader task).
    pub(crate) async fn raw(&self) -> Ws {
        let url = format!("ws://{}/ws", self.addr);
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        ws
    }

    /// Connects and authenticates as `user`, with a reader task.
    pub(crate) async fn client(&self, user: &str) -> Client {
        let mut client = Client::new(self.raw().await);
        client
            .send(&ClientFrame::Auth {
                token: format!("ok:{user}"),
            })
            .await;
        match client.next().await.unwrap() {
            ServerFrame::AuthOk { user_id } => assert_eq!(user_id.as_str(), user),
            other => panic!("expected auth_ok, got {other:?}"),
        }
        client
    }

    /// Waits until `user` has `n` sessions (registration happens after auth_ok is queued).
    pub(crate) async fn wait_sessions(&self, user: &str, n: usize) {
        let user = UserId::from(user);
        let deadline = Instant::now() + WAIT;
        while self.engine.connections().sessions_of(&user).len() != n {
            assert!(Instant::now() < deadline, "{user} never had {n} sessions");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// What a client's reader task saw.
#[derive(Debug)]
pub(crate) enum Event {
    Frame(ServerFrame, Instant),
    Closed(Option<(u16, String)>),
}

/// A client whose reader task keeps reading (so it answers pings).
pub(crate) struct Client {
    sink: SplitSink<Ws, Message>,
    events: mpsc::UnboundedReceiver<Event>,
    pub(crate) close: Option<(u16, String)>,
    reader: tokio::task::JoinHandle<()>,
    pings: Arc<(AtomicUsize, Notify)>,
}

impl Drop for Client {
    fn drop(&mut self) {
        // The reader task owns the read half: stop it so the socket closes.
        self.reader.abort();
    }
}

impl Client {
    pub(crate) fn new(ws: Ws) -> Self {
        let (sink, mut stream) = ws.split();
        let (tx, events) = mpsc::unbounded_channel();
        let pings = Arc::new((AtomicUsize::new(0), Notify::new()));
        let seen = pings.clone();
        let reader = tokio::spawn(async move {
            let mut close = None;
            while let Some(message) = stream.next().await {
                match message {
                    Ok(Message::Text(text)) => {
                        let frame = ServerFrame::from_json(text.as_str())
                            .unwrap_or_else(|e| panic!("bad server frame {text}: {e}"));
                        if tx.send(Event::Frame(frame, Instant::now())).is_err() {
                            return;
                        }
                    }
                    Ok(Message::Close(frame)) => {
                        close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                    }
                    // tungstenite queues the pong and sends it with the next read or write.
                    Ok(Message::Ping(_)) => {
                        seen.0.fetch_add(1, Ordering::SeqCst);
                        seen.1.notify_waiters();
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(Event::Closed(close));
        });
        Self {
            sink,
            events,
            close: None,
            reader,
            pings,
        }
    }

    /// Waits until the server has pinged this client `n` times in all.
    pub(crate) async fn wait_pings(&self, n: usize) {
        let wait = async {
            loop {
                let notified = self.pings.1.notified();
                if self.pings.0.load(Ordering::SeqCst) >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .unwrap_or_else(|_| panic!("fewer than {n} pings within {WAIT:?}"));
    }

    pub(crate) async fn send(&mut self, frame: &ClientFrame) {
        self.send_raw(Message::Text(frame.to_json().into())).await;
    }

    pub(crate) async fn send_raw(&mut self, message: Message) {
        let _ = self.sink.send(message).await;
    }

    pub(crate) async fn send_msg(&mut self, group: &str, client_msg_id: &str, text: &str) {
        self.send(&ClientFrame::Send {
            group_id: group.into(),
            client_msg_id: client_msg_id.into(),
            body: MessageBody::text(text),
        })
        .await;
    }

    /// The next frame with its arrival time.
    pub(crate) async fn next_timed(&mut self) -> anyhow::Result<(ServerFrame, Instant)> {
        match tokio::time::timeout(WAIT, self.events.recv()).await {
            Err(_) => bail!("no frame within {WAIT:?}"),
            Ok(None) => bail!("reader ended"),
            Ok(Some(Event::Frame(frame, at))) => Ok((frame, at)),
            Ok(Some(Event::Closed(close))) => {
                self.close = close.clone();
                Err(anyhow!("connection closed: {close:?}"))
            }
        }
    }

    pub(crate) async fn next(&mut self) -> anyhow::Result<ServerFrame> {
        Ok(self.next_timed().await?.0)
    }

    /// The next `error` frame's code and ref (skipping nothing: the next frame must be one).
    pub(crate) async fn expect_error(&mut self) -> (ErrorCode, Option<String>) {
        match self.next().await.unwrap() {
            ServerFrame::Error {
                code, reference, ..
            } => (code, reference),
            other => panic!("expected error, got {other:?}"),
        }
    }

    pub(crate) async fn expect_pong(&mut self) {
        self.send(&ClientFrame::Ping).await;
        match self.next().await.unwrap() {
            ServerFrame::Pong => {}
            other => panic!("expected pong, got {other:?}"),
        }
    }

    /// Waits for the connection to close; returns the close code and reason.
    pub(crate) async fn closed(&mut self) -> Option<(u16, String)> {
        loop {
            match tokio::time::timeout(WAIT, self.events.recv()).await {
                Err(_) => panic!("connection did not close within {WAIT:?}"),
                Ok(None) => return self.close.clone(),
                Ok(Some(Event::Closed(close))) => return close,
                Ok(Some(Event::Frame(..))) => {}
            }
        }
    }

    /// Sends a message and waits for its send_ok (collecting pushed messages on the way).
    pub(crate) async fn send_and_confirm(
        &mut self,
        group: &str,
        client_msg_id: &str,
        text: &str,
        seen: &mut Vec<StoredMessage>,
    ) -> Seq {
        self.send_msg(group, client_msg_id, text).await;
        loop {
            match self.next().await.unwrap() {
                ServerFrame::SendOk {
                    client_msg_id: c,
                    seq,
                    ..
                } if c.as_str() == client_msg_id => return seq,
                ServerFrame::Message(m) => seen.push(m),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Collects pushed messages of `group` until `n` have arrived (other frames ignored).
    pub(crate) async fn collect_messages(
        &mut self,
        group: &GroupId,
        n: usize,
    ) -> Vec<StoredMessage> {
        let mut got = Vec::new();
        while got.len() < n {
            match self.next().await {
                Ok(ServerFrame::Message(m)) if &m.group_id == group => got.push(m),
                Ok(_) => {}
                Err(e) => panic!("after {} of {n} messages: {e}", got.len()),
            }
        }
        got
    }
}

/// A connection to `addr` with a tiny receive buffer (a reader that is slow to drain).
pub(crate) async fn tiny_buffer_connect(addr: SocketAddr) -> anyhow::Result<Ws> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let tcp = socket.connect(addr).await?;
    let (ws, _) =
        tokio_tungstenite::client_async(format!("ws://{addr}/ws"), MaybeTlsStream::Plain(tcp))
            .await
            .context("handshake")?;
    Ok(ws)
}
