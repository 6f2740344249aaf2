//! Starts the real user and activity servers (in this process, on free ports) over
//! SQLite or a fresh MariaDB database, sharing one in-memory broker the tests watch.
#![allow(dead_code)]

pub(crate) mod ws;

use std::time::Duration;

use anyhow::Context;
use bins::config::{BrokerSettings, Settings};
use bins::server::broker::Broker;
use bins::server::services::{activity_server, im_server, user_server};
use bins::server::Running;
use mq::backend::memory::MemoryBroker;
use mq::{Message, Subscriber, Subscription};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Which database a test runs on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Db {
    Sqlite,
    MariaDb,
}

/// The MariaDB server (`DATABASE_URL_MYSQL`, default the local one); each test gets
/// its own database on it.
pub(crate) fn mysql_base() -> String {
    std::env::var("DATABASE_URL_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

pub(crate) const SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// Which broker the servers of a test share.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Bus {
    /// One in-memory broker for all the servers (the default).
    Memory,
    /// Redis Streams (`MQ_TEST_REDIS_URL`, default the local server), keys under a
    /// prefix of this test's own.
    Redis,
    /// A Kafka-protocol broker (`MQ_TEST_KAFKA_BROKERS`, default 127.0.0.1:9092), topics
    /// and groups under a prefix of this test's own.
    Kafka,
}

/// Both servers, their broker and an HTTP client.
pub(crate) struct Env {
    pub(crate) users: Running,
    pub(crate) activities: Running,
    /// The IM server, when started with [`Env::start_full`].
    pub(crate) im: Option<Running>,
    /// A second IM node (`im.node_id = im-2`), when started with [`Env::start_two_im_nodes`].
    pub(crate) im2: Option<Running>,
    pub(crate) bus: Broker,
    pub(crate) client: reqwest::Client,
    pub(crate) settings: Settings,
    db: Db,
    mysql_db: Option<String>,
    _dir: tempfile::TempDir,
}

/// An HTTP answer: status and JSON body (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
}

impl Answer {
    /// The error code of an error answer.
    pub(crate) fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl Env {
    pub(crate) async fn start(db: Db) -> anyhow::Result<Self> {
        Self::start_with(db, |_| {}).await
    }

    /// The user, activity and IM servers.
    pub(crate) async fn start_full(db: Db) -> anyhow::Result<Self> {
        Self::start_servers(db, Bus::Memory, true, |_| {}).await
    }

    /// The user, activity and IM servers on `bus`.
    pub(crate) async fn start_full_on(db: Db, bus: Bus) -> anyhow::Result<Self> {
        Self::start_servers(db, bus, true, |_| {}).await
    }

    /// The user and activity servers and two IM nodes sharing the database and `bus`.
    /// Presence is kept in Redis (`MQ_TEST_REDIS_URL`) under a prefix of the test's own,
    /// so stored messages are routed to the nodes that need them.
    pub(crate) async fn start_two_im_nodes(
        db: Db,
        bus: Bus,
        routing: bins::config::PushRouting,
    ) -> anyhow::Result<Self> {
        let prefix = format!("t-{}:", uuid::Uuid::now_v7().simple());
        let mut env = Self::start_servers(db, bus, true, |s| {
            s.im.presence_redis_url = Some(
                std::env::var("MQ_TEST_REDIS_URL")
                    .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            );
            s.im.presence_key_prefix = prefix.clone();
            s.im.push_routing = routing;
        })
        .await?;
        let mut settings = env.settings.clone();
        settings.im.node_id = "im-2".into();
        env.im2 = Some(im_server(settings, env.bus.clone()).await?);
        Ok(env)
    }

    /// The WebSocket URL of the second IM node.
    pub(crate) fn ws_url_2(&self) -> String {
        let node = self.im2.as_ref().expect("two IM nodes");
        format!("ws://{}/ws", node.http)
    }

    pub(crate) async fn start_with(db: Db, tweak: impl Fn(&mut Settings)) -> anyhow::Result<Self> {
        Self::start_servers(db, Bus::Memory, false, tweak).await
    }

    async fn start_servers(
        db: Db,
        bus: Bus,
        with_im: bool,
        tweak: impl Fn(&mut Settings),
    ) -> anyhow::Result<Self> {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir()?;
        let (url, mysql_db) = match db {
            Db::Sqlite => (
                format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
                None,
            ),
            Db::MariaDb => {
                let name = format!("t_{}", uuid::Uuid::now_v7().simple());
                admin(&format!("CREATE DATABASE {name} CHARACTER SET utf8mb4")).await?;
                (format!("{}/{name}", mysql_base()), Some(name))
            }
        };
        let mut settings = Settings::default();
        settings.http.listen = "127.0.0.1:0".parse()?;
        settings.grpc.listen = "127.0.0.1:0".parse()?;
        settings.database.url = url;
        let unique = uuid::Uuid::now_v7().simple().to_string();
        settings.broker = match bus {
            Bus::Memory => BrokerSettings::Memory,
            Bus::Redis => BrokerSettings::Redis {
                url: std::env::var("MQ_TEST_REDIS_URL")
                    .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
                key_prefix: Some(format!("t-{unique}:")),
                lease_ttl_ms: Some(2000),
                partitions: None,
            },
            Bus::Kafka => BrokerSettings::Kafka {
                brokers: std::env::var("MQ_TEST_KAFKA_BROKERS")
                    .unwrap_or_else(|_| "127.0.0.1:9092".into()),
                topic_prefix: Some(format!("t-{unique}.")),
                partitions: None,
                linger_ms: None,
                fetch_wait_ms: None,
            },
        };
        settings.auth.jwt_secret = Some(SECRET.into());
        tweak(&mut settings);
        let shared = match bus {
            Bus::Memory => {
                let broker = MemoryBroker::default();
                Broker {
                    publisher: std::sync::Arc::new(broker.clone()),
                    subscriber: std::sync::Arc::new(broker),
                    kind: "memory",
                }
            }
            Bus::Redis | Bus::Kafka => Broker::connect(&settings.broker).await?,
        };
        let users = user_server(settings.clone(), shared.clone()).await?;
        let activities = activity_server(settings.clone(), shared.clone()).await?;
        let im = if with_im {
            Some(im_server(settings.clone(), shared.clone()).await?)
        } else {
            None
        };
        Ok(Self {
            users,
            activities,
            im,
            im2: None,
            bus: shared,
            client: reqwest::Client::new(),
            settings,
            db,
            mysql_db,
            _dir: dir,
        })
    }

    /// Stops both servers and drops the test's MariaDB database.
    pub(crate) async fn finish(self) -> anyhow::Result<()> {
        self.users.shutdown();
        self.activities.shutdown();
        for im in self.im.iter().chain(self.im2.iter()) {
            im.shutdown();
        }
        self.users.wait().await.map_err(anyhow::Error::msg)?;
        self.activities.wait().await.map_err(anyhow::Error::msg)?;
        for im in self.im.into_iter().chain(self.im2) {
            im.wait().await.map_err(anyhow::Error::msg)?;
        }
        if let Some(name) = self.mysql_db {
            admin(&format!("DROP DATABASE {name}")).await?;
        }
        Ok(())
    }

    fn base(&self, path: &str) -> String {
        let im_path = path.starts_with("/api/v1/groups")
            || path.starts_with("/api/v1/notifications")
            || path.starts_with("/ws");
        let server = match &self.im {
            Some(im) if im_path => im,
            _ if path.starts_with("/api/v1/users") => &self.users,
            _ => &self.activities,
        };
        format!("http://{}{path}", server.http)
    }

    /// The WebSocket URL of the IM server.
    pub(crate) fn ws_url(&self) -> String {
        self.base("/ws").replacen("http://", "ws://", 1)
    }

    /// Sends `body` (JSON) with an optional token; returns status and JSON body.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Answer> {
        let mut request = self.client.request(method, self.base(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await?).await
    }

    /// Sends raw bytes with a content type.
    pub(crate) async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Answer> {
        let mut request = self
            .client
            .request(method, self.base(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request.send().await?).await
    }

    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> anyhow::Result<Answer> {
        self.call(Method::GET, path, token, None).await
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> anyhow::Result<Answer> {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Registers and logs in `username`; returns (user_id, token).
    pub(crate) async fn user(&self, username: &str) -> anyhow::Result<(String, String)> {
        let reg = self
            .post(
                "/api/v1/users/register",
                None,
                json!({"username": username, "password": "correct horse 1"}),
            )
            .await?;
        anyhow::ensure!(
            reg.status == StatusCode::CREATED,
            "register {username}: {reg:?}"
        );
        let login = self
            .post(
                "/api/v1/users/login",
                None,
                json!({"username": username, "password": "correct horse 1"}),
            )
            .await?;
        anyhow::ensure!(
            login.status == StatusCode::OK,
            "login {username}: {login:?}"
        );
        Ok((
            login.body["user_id"]
                .as_str()
                .context("user_id")?
                .to_owned(),
            login.body["token"].as_str().context("token")?.to_owned(),
        ))
    }

    /// Creates an activity starting in a day; returns its JSON.
    pub(crate) async fn activity(
        &self,
        token: &str,
        title: &str,
        capacity: u32,
        requires_approval: bool,
    ) -> anyhow::Result<Value> {
        let starts_at = time_in(Duration::from_secs(86_400));
        let created = self
            .post(
                "/api/v1/activities",
                Some(token),
                json!({
                    "title": title,
                    "description": "bring water",
                    "location": "the hill",
                    "starts_at": starts_at,
                    "capacity": capacity,
                    "requires_approval": requires_approval,
                }),
            )
            .await?;
        anyhow::ensure!(created.status == StatusCode::CREATED, "create: {created:?}");
        Ok(created.body)
    }

    /// Subscribes to `topic` (before the actions whose events the test expects).
    pub(crate) async fn watch(&self, topic: &str) -> anyhow::Result<Watch> {
        let group = format!("test-{}", uuid::Uuid::now_v7().simple());
        Ok(Watch(self.bus.subscriber.subscribe(topic, &group).await?))
    }

    pub(crate) fn db(&self) -> Db {
        self.db
    }
}

/// A subscription the test reads events from.
pub(crate) struct Watch(Box<dyn Subscription>);

impl Watch {
    /// The next `n` events (JSON payloads with their keys), or an error after 10 s.
    pub(crate) async fn next(&mut self, n: usize) -> anyhow::Result<Vec<(String, Value)>> {
        let mut got = Vec::new();
        while got.len() < n {
            let batch = tokio::time::timeout(Duration::from_secs(10), self.0.next_batch(n))
                .await
                .with_context(|| format!("waited 10 s for event {} of {n}", got.len() + 1))??
                .context("subscription ended")?;
            for d in batch.deliveries {
                let msg: &Message = d.message();
                got.push((
                    msg.key().unwrap_or_default().to_owned(),
                    serde_json::from_slice(msg.payload())?,
                ));
                d.ack();
            }
        }
        Ok(got)
    }

    /// Fails if an event arrives within `quiet`.
    pub(crate) async fn none_within(&mut self, quiet: Duration) -> anyhow::Result<()> {
        match tokio::time::timeout(quiet, self.0.next_batch(10)).await {
            Err(_) => Ok(()),
            Ok(Ok(Some(batch))) => anyhow::bail!(
                "unexpected event: {:?}",
                batch
                    .deliveries
                    .iter()
                    .map(|d| String::from_utf8_lossy(d.message().payload()).into_owned())
                    .collect::<Vec<_>>()
            ),
            Ok(other) => anyhow::bail!("subscription: {other:?}"),
        }
    }
}

/// A service token (what the servers mint to call each other) for the test secret.
pub(crate) fn service_token() -> String {
    let issuer = domain::TokenIssuer::new(SECRET, "social-im", Duration::from_secs(3600)).unwrap();
    let service = domain::UserId::parse(bins::grpc::auth::SERVICE_ID).unwrap();
    issuer.issue(&service).unwrap().token
}

/// A gRPC channel to `url` whose calls carry `token` (none for `None`).
pub(crate) async fn grpc_channel(
    url: &str,
    token: Option<&str>,
) -> anyhow::Result<
    tonic::service::interceptor::InterceptedService<
        tonic::transport::Channel,
        impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone,
    >,
> {
    let channel = tonic::transport::Channel::from_shared(url.to_owned())?
        .connect()
        .await?;
    let header: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>> =
        token.map(|t| format!("Bearer {t}").parse()).transpose()?;
    Ok(tonic::service::interceptor::InterceptedService::new(
        channel,
        move |mut request: tonic::Request<()>| {
            if let Some(h) = &header {
                request.metadata_mut().insert("authorization", h.clone());
            }
            Ok(request)
        },
    ))
}

/// RFC 3339 time `after` from now.
pub(crate) fn time_in(after: Duration) -> String {
    domain::Timestamp::now().plus(after).to_rfc3339()
}

async fn answer(response: reqwest::Response) -> anyhow::Result<Answer> {
    let status = response.status();
    let bytes = response.bytes().await?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Answer { status, body })
}

pub(crate) async fn admin(sql: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::MySqlConnection::connect(&mysql_base()).await?;
    sqlx::query(sql).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// Runs `body` on SQLite and on MariaDB.
#[macro_export]
macro_rules! on_both_databases {
    ($name:ident, $body:path) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> anyhow::Result<()> {
                $body(super::support::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mariadb() -> anyhow::Result<()> {
                $body(super::support::Db::MariaDb).await
            }
        }
    };
}
