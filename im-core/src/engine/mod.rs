//! The engine: ties sessions, the connection manager, the sequencer, storage and
//! membership together. Cheap to clone (an `Arc`). Sending and pushing are in
//! `messages.rs`, sync and read state in `positions.rs`.

mod messages;
mod positions;

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::close::CloseReason;
use crate::config::EngineConfig;
use crate::conn_manager::ConnectionManager;
use crate::error::EngineError;
use crate::ids::{GroupId, UserId};
use crate::membership::Membership;
use crate::pipeline::{SendPipeline, SessionHook};
use crate::sequencer::Sequencer;
use crate::store::MessageStore;

const MAX_ID_LEN: usize = 128;

/// The real-time engine. Hand it connections ([`Engine::accept`] for a raw stream,
/// [`Engine::serve_upgraded`] for an already upgraded one); use its methods to send,
/// sync, notify and kick from the application side.
///
/// ```no_run
/// use std::sync::Arc;
/// use im_core::{Engine, EngineConfig, AuthError, Authenticator, UserId};
/// use im_core::{membership::InMemoryMembership, store::InMemoryStore};
///
/// #[derive(Debug)]
/// struct TokenIsName;
/// #[async_trait::async_trait]
/// impl Authenticator for TokenIsName {
///     async fn authenticate(&self, token: &str) -> Result<UserId, AuthError> {
///         Ok(UserId::from(token))
///     }
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let engine = Engine::new(
///     EngineConfig::default(),
///     Arc::new(InMemoryStore::new()),
///     Arc::new(InMemoryMembership::new()),
///     Arc::new(TokenIsName),
/// );
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9000").await?;
/// loop {
///     let (tcp, _) = listener.accept().await?;
///     let engine = engine.clone();
///     tokio::spawn(async move { engine.accept(tcp).await });
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: EngineConfig,
    pub(crate) connections: ConnectionManager,
    pub(crate) sequencer: Sequencer,
    pub(crate) store: Arc<dyn MessageStore>,
    pub(crate) membership: Arc<dyn Membership>,
    pub(crate) auth: Arc<dyn Authenticator>,
    pub(crate) pipeline: Option<Arc<dyn SendPipeline>>,
    pub(crate) session_hook: Option<Arc<dyn SessionHook>>,
}

/// Builds an [`Engine`] with optional hooks: [`Engine::builder`].
#[must_use]
pub struct EngineBuilder {
    config: EngineConfig,
    store: Arc<dyn MessageStore>,
    membership: Arc<dyn Membership>,
    auth: Arc<dyn Authenticator>,
    pipeline: Option<Arc<dyn SendPipeline>>,
    session_hook: Option<Arc<dyn SessionHook>>,
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("config", &self.config)
            .field("pipeline", &self.pipeline.is_some())
            .field("session_hook", &self.session_hook.is_some())
            .finish_non_exhaustive()
    }
}

impl EngineBuilder {
    /// Sends go through `pipeline` instead of the in-process sequencer.
    pub fn pipeline(mut self, pipeline: Arc<dyn SendPipeline>) -> Self {
        self.pipeline = Some(pipeline);
        self
    }

    /// `hook` runs when each session starts.
    pub fn session_hook(mut self, hook: Arc<dyn SessionHook>) -> Self {
        self.session_hook = Some(hook);
        self
    }

    /// The engine.
    pub fn build(self) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                config: self.config,
                connections: ConnectionManager::new(),
                sequencer: Sequencer::new(self.store.clone()),
                store: self.store,
                membership: self.membership,
                auth: self.auth,
                pipeline: self.pipeline,
                session_hook: self.session_hook,
            }),
        }
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .field("connections", &self.inner.connections.connection_count())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over the given storage, membership and authentication hook.
    pub fn new(
        config: EngineConfig,
        store: Arc<dyn MessageStore>,
        membership: Arc<dyn Membership>,
        auth: Arc<dyn Authenticator>,
    ) -> Self {
        Self::builder(config, store, membership, auth).build()
    }

    /// An [`EngineBuilder`], to add a [`SendPipeline`] or a [`SessionHook`].
    pub fn builder(
        config: EngineConfig,
        store: Arc<dyn MessageStore>,
        membership: Arc<dyn Membership>,
        auth: Arc<dyn Authenticator>,
    ) -> EngineBuilder {
        EngineBuilder {
            config,
            store,
            membership,
            auth,
            pipeline: None,
            session_hook: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The sessions of this process.
    pub fn connections(&self) -> &ConnectionManager {
        &self.inner.connections
    }

    /// The message store.
    pub fn store(&self) -> &Arc<dyn MessageStore> {
        &self.inner.store
    }

    /// The membership source.
    pub fn membership(&self) -> &Arc<dyn Membership> {
        &self.inner.membership
    }

    async fn ensure_member(&self, group: &GroupId, user: &UserId) -> Result<(), EngineError> {
        if self.inner.membership.is_member(group, user).await? {
            Ok(())
        } else {
            Err(EngineError::NotMember)
        }
    }

    /// Closes every session of `user` (e.g. logged out everywhere, banned).
    pub fn kick_user(&self, user: &UserId, reason: &str) -> usize {
        self.inner
            .connections
            .kick_user(user, CloseReason::Kicked(reason.to_owned()))
    }

    /// Begins a graceful shutdown: every session gets its queued frames, then a close
    /// frame with reason `shutdown`. Returns how many sessions were told.
    pub fn shutdown(&self) -> usize {
        self.inner.connections.kick_all(CloseReason::Shutdown)
    }
}

fn check_id(field: &'static str, value: &str) -> Result<(), EngineError> {
    if value.is_empty() || value.len() > MAX_ID_LEN {
        return Err(EngineError::InvalidField {
            field,
            reason: format!("must be 1 to {MAX_ID_LEN} bytes"),
        });
    }
    if value.chars().any(char::is_control) {
        return Err(EngineError::InvalidField {
            field,
            reason: "must not contain control characters".into(),
        });
    }
    Ok(())
}
