//! Server settings: built-in defaults, then a TOML file, then environment variables.
//!
//! Every server starts with zero configuration: SQLite next to the working directory,
//! the in-memory broker, HTTP on 127.0.0.1:8080. A file (`--config PATH`, or the
//! `SOCIAL_IM_CONFIG` variable, or `social-im.toml` when it exists) overrides the
//! defaults, and `SOCIAL_IM_<SECTION>__<KEY>` variables override the file, e.g.
//! `SOCIAL_IM_DATABASE__URL=mysql://root@127.0.0.1/test`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file, variable or value could not be read or has the wrong type.
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// A value was read but is not usable.
    #[error("configuration: {setting}: {reason}")]
    Invalid {
        /// The setting, e.g. `auth.jwt_secret`.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// All settings of a server; each binary reads the sections it needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The HTTP listener.
    pub http: HttpSettings,
    /// The gRPC listener.
    pub grpc: GrpcSettings,
    /// The database.
    pub database: DatabaseSettings,
    /// The message broker.
    pub broker: BrokerSettings,
    /// Login tokens.
    pub auth: AuthSettings,
    /// Where the other services are (for the servers run separately).
    pub services: ServiceSettings,
    /// The IM service: this node's name and the chat limits.
    pub im: ImSettings,
    /// The gateway: where it sends each path.
    pub gateway: GatewaySettings,
}

/// Where the gateway sends requests: base URLs of the servers' HTTP listeners.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// The user server. Default `http://127.0.0.1:8081`.
    pub users: String,
    /// The activity server. Default `http://127.0.0.1:8082`.
    pub activities: String,
    /// The IM nodes, used in turn. Default `["http://127.0.0.1:8083"]`.
    pub im: Vec<String>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            users: "http://127.0.0.1:8081".into(),
            activities: "http://127.0.0.1:8082".into(),
            im: vec!["http://127.0.0.1:8083".into()],
        }
    }
}

/// The IM service's settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImSettings {
    /// This node's name, unique among the IM nodes sharing a broker: its consumer group
    /// for stored messages is `im.push.<node_id>`. Default `im-1`.
    pub node_id: String,
    /// Most characters of a chat message's text. Default 4,000.
    pub max_text_chars: usize,
    /// Messages a user may send per second, all devices together. Default 20.
    pub sends_per_second: u32,
    /// Messages a user may send in a burst. Default 40.
    pub send_burst: u32,
    /// Redis for presence (which node holds which user's sessions), e.g.
    /// `redis://127.0.0.1:6379`. With it, each stored message goes only to the nodes
    /// with members of its group online; without it (the default), every node gets
    /// every stored message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_redis_url: Option<String>,
    /// Prefix of the presence keys. Default `social-im:`.
    pub presence_key_prefix: String,
    /// How stored chat messages reach the IM nodes, when `presence_redis_url` is set
    /// (without it, always `broadcast`): `presence` (the default: a router forwards each
    /// to the nodes holding members of its group, which pays off with many nodes and
    /// groups spread over few of them) or `broadcast` (every node reads every stored
    /// message: the least work per message when most groups have members on most
    /// nodes). Notifications are routed by presence either way.
    pub push_routing: PushRouting,
}

/// How stored chat messages reach the IM nodes (see [`ImSettings::push_routing`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushRouting {
    /// Forwarded to the nodes holding members of the group (needs presence).
    #[default]
    Presence,
    /// Every node reads every stored message.
    Broadcast,
}

impl Default for ImSettings {
    fn default() -> Self {
        Self {
            node_id: "im-1".into(),
            max_text_chars: 4000,
            sends_per_second: 20,
            send_burst: 40,
            presence_redis_url: None,
            presence_key_prefix: "social-im:".into(),
            push_routing: PushRouting::default(),
        }
    }
}

/// The HTTP listener and its limits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Address to listen on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes (413 beyond). Default 64 KiB.
    pub body_limit: usize,
    /// Longest a request may take before a 503 answer. Default 10 s.
    pub request_timeout_ms: u64,
    /// Longest wait for a request's headers before the connection is closed (a client
    /// holding connections open without finishing a request). Default 10 s.
    pub header_read_timeout_ms: u64,
}

/// The gRPC listener.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcSettings {
    /// Address to listen on. Default `127.0.0.1:9090`.
    pub listen: SocketAddr,
}

/// The database.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://FILE?mode=rwc` (default `sqlite://social-im.db?mode=rwc`) or
    /// `mysql://user:password@host:port/database`.
    pub url: String,
}

/// Which broker carries the events.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum BrokerSettings {
    /// In-process (only for everything in one process). The default.
    Memory,
    /// Redis Streams.
    Redis {
        /// e.g. `redis://127.0.0.1:6379`.
        url: String,
        /// Prefix of every key the broker writes (default `mq:`): deployments sharing a
        /// Redis server use different ones.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_prefix: Option<String>,
        /// How long a consumer keeps its lanes without renewing them, in milliseconds
        /// (default 10,000): a crashed consumer's pending messages go to a live one
        /// after at most this long.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lease_ttl_ms: Option<u64>,
        /// Streams per topic (default 4): the lanes consumers work on in parallel, each
        /// in order. Every process of a deployment must use the same value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        partitions: Option<u32>,
    },
    /// Kafka or a Kafka-protocol broker.
    Kafka {
        /// Bootstrap servers, e.g. `127.0.0.1:9092`.
        brokers: String,
        /// Prefix of every topic and consumer group (default none): deployments sharing
        /// a Kafka cluster use different ones.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic_prefix: Option<String>,
        /// Partitions of the topics this deployment creates (default 4).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        partitions: Option<i32>,
        /// How long the producer waits to fill a batch, in milliseconds (default 5).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        linger_ms: Option<u64>,
        /// Longest a fetch waits at the broker for new records, in milliseconds
        /// (default 100). Kafka answers as soon as records arrive; a broker that holds
        /// every fetch this long (tansu 0.6) adds it to each hop of a message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fetch_wait_ms: Option<u64>,
    },
}

/// Login tokens (JWT, HS256).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Signing secret, at least 32 bytes. When absent, a random secret is made and
    /// kept in `secret_file`, so tokens survive a restart of a zero-config server.
    pub jwt_secret: Option<String>,
    /// Where a generated secret is kept. Default `social-im.secret`.
    pub secret_file: PathBuf,
    /// The `iss` claim. Default `social-im`.
    pub issuer: String,
    /// How long a token is valid, in seconds. Default 86,400 (a day).
    pub token_ttl_secs: u64,
}

/// Addresses of the other services' gRPC endpoints.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    /// The user service, e.g. `http://127.0.0.1:9091`.
    pub user_grpc: Option<String>,
    /// The activity service.
    pub activity_grpc: Option<String>,
    /// The IM service.
    pub im_grpc: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings {
                listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
                body_limit: 64 * 1024,
                request_timeout_ms: 10_000,
                header_read_timeout_ms: 10_000,
            },
            grpc: GrpcSettings {
                listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            },
            database: DatabaseSettings {
                url: "sqlite://social-im.db?mode=rwc".into(),
            },
            broker: BrokerSettings::Memory,
            auth: AuthSettings {
                jwt_secret: None,
                secret_file: PathBuf::from("social-im.secret"),
                issuer: "social-im".into(),
                token_ttl_secs: 86_400,
            },
            services: ServiceSettings::default(),
            im: ImSettings::default(),
            gateway: GatewaySettings::default(),
        }
    }
}

/// The default settings file, read when it exists and no other file is named.
pub const DEFAULT_FILE: &str = "social-im.toml";
/// The prefix of environment overrides (`SOCIAL_IM_HTTP__LISTEN=...`).
pub const ENV_PREFIX: &str = "SOCIAL_IM_";

impl Settings {
    /// Defaults, then `file` (or `SOCIAL_IM_CONFIG`, or `social-im.toml` if present),
    /// then the environment; then [`validate`](Self::validate).
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        let named = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("SOCIAL_IM_CONFIG").map(PathBuf::from));
        match named {
            Some(path) => {
                if !path.exists() {
                    return Err(ConfigError::Invalid {
                        setting: "config file",
                        reason: format!("{} does not exist", path.display()),
                    });
                }
                figment = figment.merge(Toml::file_exact(path));
            }
            None => figment = figment.merge(Toml::file(DEFAULT_FILE)),
        }
        let settings: Settings = figment
            .merge(Env::prefixed(ENV_PREFIX).split("__").ignore(&["config"]))
            .extract()
            .map_err(Box::new)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, reason: &str| {
            Err(ConfigError::Invalid {
                setting,
                reason: reason.to_owned(),
            })
        };
        if self.http.body_limit == 0 {
            return invalid("http.body_limit", "must be greater than zero");
        }
        if self.http.request_timeout_ms == 0 {
            return invalid("http.request_timeout_ms", "must be greater than zero");
        }
        if self.http.header_read_timeout_ms == 0 {
            return invalid("http.header_read_timeout_ms", "must be greater than zero");
        }
        if !(self.database.url.starts_with("sqlite:") || self.database.url.starts_with("mysql:")) {
            return invalid("database.url", "must start with sqlite: or mysql:");
        }
        if let Some(secret) = &self.auth.jwt_secret {
            if secret.len() < 32 {
                return invalid("auth.jwt_secret", "must be at least 32 bytes");
            }
        }
        if self.auth.issuer.trim().is_empty() {
            return invalid("auth.issuer", "must not be empty");
        }
        if self.auth.token_ttl_secs == 0 || self.auth.token_ttl_secs > 365 * 86_400 {
            return invalid("auth.token_ttl_secs", "must be between 1 and a year");
        }
        let node = &self.im.node_id;
        if node.is_empty()
            || node.len() > 64
            || !node
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return invalid("im.node_id", "must be 1 to 64 of A-Z a-z 0-9 - _");
        }
        if self.im.max_text_chars == 0 || self.im.max_text_chars > 16_000 {
            return invalid("im.max_text_chars", "must be between 1 and 16000");
        }
        let upstreams = [&self.gateway.users, &self.gateway.activities]
            .into_iter()
            .chain(self.gateway.im.iter());
        for url in upstreams {
            if !url.starts_with("http://") || url.parse::<axum::http::Uri>().is_err() {
                return invalid("gateway", "upstreams must be http:// URLs");
            }
        }
        if self.gateway.im.is_empty() {
            return invalid("gateway.im", "needs at least one IM server");
        }
        if self.im.sends_per_second == 0 || self.im.send_burst == 0 {
            return invalid("im.sends_per_second", "rates must be greater than zero");
        }
        Ok(())
    }

    /// [`HttpSettings::request_timeout_ms`] as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.http.request_timeout_ms)
    }
}
