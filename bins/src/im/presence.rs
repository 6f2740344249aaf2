//! Presence: which IM nodes hold sessions of which users, in Redis, so stored messages
//! go only to the nodes that have members of the group online (the route table of the
//! brief's section 6) instead of to every node.
//!
//! Each user has a sorted set `<prefix>presence:<user>`: members are node ids, scores
//! the time (Unix ms) until which the entry is valid. A node adds itself when a user's
//! first session on it starts, removes itself when the last one ends, and renews every
//! entry it holds every `ttl / 3`; a node that dies stops renewing, and its entries
//! expire after `ttl` (lookups ignore expired scores, renewals trim them).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use im_core::pipeline::SessionHook;
use im_core::{SessionHandle, UserId};
use redis::aio::ConnectionManager;

/// How long an entry lives without renewal.
const TTL: Duration = Duration::from_secs(30);

/// A presence lookup failed (the caller falls back to every node it knows).
#[derive(Debug, thiserror::Error)]
#[error("presence: {0}")]
pub struct PresenceError(#[from] redis::RedisError);

/// Where users are connected.
#[derive(Clone)]
pub struct RedisPresence {
    redis: ConnectionManager,
    prefix: Arc<str>,
    node: Arc<str>,
    /// Sessions per user on this node.
    local: Arc<Mutex<HashMap<String, usize>>>,
}

impl std::fmt::Debug for RedisPresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPresence")
            .field("prefix", &self.prefix)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    domain::Timestamp::now().unix_millis()
}

fn ttl_ms() -> i64 {
    i64::try_from(TTL.as_millis()).unwrap_or(30_000)
}

impl RedisPresence {
    /// Connects to `url`; this node is `node`; keys start with `prefix`. Starts the
    /// renewal task (it ends with the last clone).
    pub async fn connect(url: &str, prefix: &str, node: &str) -> Result<Self, PresenceError> {
        // Nagle off: presence lookups are small commands on the push path.
        let info = redis::IntoConnectionInfo::into_connection_info(url)?
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
        let client = redis::Client::open(info)?;
        let redis = client.get_connection_manager().await?;
        let presence = Self {
            redis,
            prefix: prefix.into(),
            node: node.into(),
            local: Arc::default(),
        };
        let weak = Arc::downgrade(&presence.local);
        let renewer = presence.clone_without_local();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TTL / 3);
            loop {
                tick.tick().await;
                let Some(local) = weak.upgrade() else { return };
                let users: Vec<String> = match local.lock() {
                    Ok(map) => map.keys().cloned().collect(),
                    Err(_) => return,
                };
                drop(local);
                if let Err(e) = renewer.renew(&users).await {
                    tracing::warn!(error = %e, "presence renewal failed");
                }
            }
        });
        Ok(presence)
    }

    fn clone_without_local(&self) -> Self {
        Self {
            redis: self.redis.clone(),
            prefix: Arc::clone(&self.prefix),
            node: Arc::clone(&self.node),
            local: Arc::default(),
        }
    }

    fn key(&self, user: &str) -> String {
        format!("{}presence:{user}", self.prefix)
    }

    async fn renew(&self, users: &[String]) -> Result<(), PresenceError> {
        let until = now_ms() + ttl_ms();
        for chunk in users.chunks(500) {
            let mut pipe = redis::pipe();
            for user in chunk {
                let key = self.key(user);
                pipe.zadd(&key, &*self.node, until).ignore();
                pipe.zrembyscore(&key, "-inf", now_ms()).ignore();
                pipe.pexpire(&key, ttl_ms()).ignore();
            }
            let mut redis = self.redis.clone();
            pipe.query_async::<()>(&mut redis).await?;
        }
        Ok(())
    }

    /// Records a session of `user` on this node.
    pub async fn connected(&self, user: &str) -> Result<(), PresenceError> {
        let first = {
            let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
            let n = local.entry(user.to_owned()).or_insert(0);
            *n += 1;
            *n == 1
        };
        if first {
            self.renew(&[user.to_owned()]).await?;
        }
        Ok(())
    }

    /// Records that a session of `user` on this node ended.
    pub async fn disconnected(&self, user: &str) -> Result<(), PresenceError> {
        let last = {
            let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
            match local.get_mut(user) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    local.remove(user);
                    true
                }
                None => false,
            }
        };
        if last {
            let mut redis = self.redis.clone();
            redis::cmd("ZREM")
                .arg(self.key(user))
                .arg(&*self.node)
                .query_async::<()>(&mut redis)
                .await?;
        }
        Ok(())
    }

    /// The nodes holding a session of any of `users`.
    pub async fn nodes_of(&self, users: &[UserId]) -> Result<BTreeSet<String>, PresenceError> {
        let now = now_ms();
        let mut nodes = BTreeSet::new();
        for chunk in users.chunks(500) {
            let mut pipe = redis::pipe();
            for user in chunk {
                pipe.zrangebyscore(self.key(user.as_str()), now, "+inf");
            }
            let mut redis = self.redis.clone();
            let answers: Vec<Vec<String>> = pipe.query_async(&mut redis).await?;
            nodes.extend(answers.into_iter().flatten());
        }
        Ok(nodes)
    }
}

/// Keeps presence as sessions start and end.
#[derive(Debug, Clone)]
pub struct PresenceHook(pub RedisPresence);

#[async_trait]
impl SessionHook for PresenceHook {
    async fn on_session_started(&self, session: &SessionHandle) {
        if let Err(e) = self.0.connected(session.user().as_str()).await {
            tracing::warn!(error = %e, "presence not recorded");
        }
    }

    async fn on_session_ended(&self, session: &SessionHandle) {
        if let Err(e) = self.0.disconnected(session.user().as_str()).await {
            tracing::warn!(error = %e, "presence not cleared");
        }
    }
}

/// Several hooks in order.
#[derive(Clone)]
pub struct Hooks(pub Vec<Arc<dyn SessionHook>>);

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hooks({})", self.0.len())
    }
}

#[async_trait]
impl SessionHook for Hooks {
    async fn on_session_started(&self, session: &SessionHandle) {
        for hook in &self.0 {
            hook.on_session_started(session).await;
        }
    }

    async fn on_session_ended(&self, session: &SessionHandle) {
        for hook in &self.0 {
            hook.on_session_ended(session).await;
        }
    }
}
