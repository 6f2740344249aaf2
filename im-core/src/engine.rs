//! The engine: ties sessions, the connection manager, the sequencer, storage and
//! membership together. Cheap to clone (an `Arc`).

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::close::CloseReason;
use crate::config::EngineConfig;
use crate::conn_manager::ConnectionManager;
use crate::error::EngineError;
use crate::fanout::{push_to_users, FanoutReport};
use crate::ids::{ClientMsgId, GroupId, Seq, UserId};
use crate::membership::Membership;
use crate::message::{Notification, StoredMessage};
use crate::outbound::OutFrame;
use crate::protocol::{MessageBody, ServerFrame};
use crate::sequencer::{Draft, Sequencer};
use crate::store::{Appended, MessageStore};
use crate::sync::{GroupPosition, SyncPage};

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
        Self {
            inner: Arc::new(Inner {
                config,
                connections: ConnectionManager::new(),
                sequencer: Sequencer::new(store.clone()),
                store,
                membership,
                auth,
            }),
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

    /// Sends a message as `sender`: checks membership and limits, assigns the seq,
    /// persists, then pushes it to every online session of every member (sender
    /// included). A retry with the same `client_msg_id` returns the original message
    /// as [`Appended::Duplicate`] and pushes nothing.
    pub async fn send(
        &self,
        sender: &UserId,
        group: &GroupId,
        client_msg_id: ClientMsgId,
        body: MessageBody,
    ) -> Result<Appended, EngineError> {
        check_id("group_id", group.as_str())?;
        check_id("client_msg_id", client_msg_id.as_str())?;
        let max = self.inner.config.max_body_bytes;
        if body.len() > max {
            return Err(EngineError::BodyTooLarge {
                size: body.len(),
                max,
            });
        }
        self.ensure_member(group, sender).await?;
        let draft = Draft {
            group_id: group.clone(),
            sender_id: sender.clone(),
            client_msg_id,
            body,
        };
        let appended = self
            .inner
            .sequencer
            .append(draft, |stored| async move {
                self.push_stored(&stored).await;
            })
            .await?;
        Ok(appended)
    }

    /// Pushes a stored message to the online sessions of the group's members.
    async fn push_stored(&self, message: &StoredMessage) -> FanoutReport {
        let members = match self.inner.membership.members(&message.group_id).await {
            Ok(members) => members,
            Err(e) => {
                // Stored but not pushed: members catch up by sync (gap detection).
                tracing::warn!(group = %message.group_id, error = %e, "fan-out skipped");
                return FanoutReport::default();
            }
        };
        let frame = OutFrame::encode(&ServerFrame::Message(message.clone()));
        push_to_users(&self.inner.connections, members.iter(), &frame)
    }

    /// Delivers a message already stored elsewhere (e.g. by another node, read from the
    /// broker) to this process's sessions. Call it in seq order per group.
    pub async fn deliver_stored(&self, message: &StoredMessage) -> FanoutReport {
        let mut report = FanoutReport::default();
        let report_ref = &mut report;
        self.inner
            .sequencer
            .observe(&message.group_id, message.seq, || async move {
                *report_ref = self.push_stored(message).await;
            })
            .await;
        report
    }

    /// Pushes a notification to every session of `user`; returns how many got it.
    pub fn notify_user(&self, user: &UserId, notification: &Notification) -> FanoutReport {
        let frame = OutFrame::encode(&ServerFrame::Notification(notification.clone()));
        push_to_users(&self.inner.connections, [user], &frame)
    }

    /// Messages of `group` after `after_seq` for `user` (a member), bounded by the
    /// configured limits; `has_more` says whether to ask again.
    pub async fn sync(
        &self,
        user: &UserId,
        group: &GroupId,
        after_seq: Seq,
        limit: Option<u32>,
    ) -> Result<SyncPage, EngineError> {
        check_id("group_id", group.as_str())?;
        self.ensure_member(group, user).await?;
        crate::sync::read_page(
            &*self.inner.store,
            &self.inner.config,
            group,
            after_seq,
            limit,
        )
        .await
    }

    /// Where `user` stands in `groups` (latest seq, read position, unread count), or in
    /// every group of `user` when `groups` is `None` (at most `latest_max_groups` of
    /// them, by group id). Every listed group must have `user` as a member.
    pub async fn latest(
        &self,
        user: &UserId,
        groups: Option<&[GroupId]>,
    ) -> Result<Vec<GroupPosition>, EngineError> {
        let max = self.inner.config.latest_max_groups;
        let groups = match groups {
            Some(groups) if groups.len() > max => {
                return Err(EngineError::InvalidField {
                    field: "group_ids",
                    reason: format!("at most {max} groups per request"),
                })
            }
            Some(groups) => {
                for group in groups {
                    check_id("group_ids", group.as_str())?;
                    self.ensure_member(group, user).await?;
                }
                groups.to_vec()
            }
            None => {
                let mut all = self.inner.membership.groups_of(user).await?;
                all.truncate(max);
                all
            }
        };
        let store = &self.inner.store;
        let mut positions = Vec::with_capacity(groups.len());
        for group_id in groups {
            let latest_seq = store.latest_seq(&group_id).await?;
            let read_seq = store.read_position(&group_id, user).await?;
            positions.push(GroupPosition {
                group_id,
                latest_seq,
                read_seq,
                unread: latest_seq.saturating_sub(read_seq),
            });
        }
        Ok(positions)
    }

    /// Records that `user` has read `group` up to `seq`; returns the stored position.
    pub async fn mark_read(
        &self,
        user: &UserId,
        group: &GroupId,
        seq: Seq,
    ) -> Result<Seq, EngineError> {
        self.check_position(user, group, seq).await?;
        Ok(self.inner.store.set_read_position(group, user, seq).await?)
    }

    /// Records that `user` has received `group` up to `seq`; returns the stored position.
    pub async fn ack(&self, user: &UserId, group: &GroupId, seq: Seq) -> Result<Seq, EngineError> {
        self.check_position(user, group, seq).await?;
        Ok(self
            .inner
            .store
            .set_delivered_position(group, user, seq)
            .await?)
    }

    async fn check_position(
        &self,
        user: &UserId,
        group: &GroupId,
        seq: Seq,
    ) -> Result<(), EngineError> {
        check_id("group_id", group.as_str())?;
        self.ensure_member(group, user).await?;
        let latest = self.inner.store.latest_seq(group).await?;
        if seq > latest {
            return Err(EngineError::InvalidField {
                field: "seq",
                reason: format!("{seq} is beyond the latest seq {latest}"),
            });
        }
        Ok(())
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
    Ok(())
}
