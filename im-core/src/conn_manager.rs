//! The connection manager: user -> sessions (devices), sharded.
//!
//! Backed by `dashmap` (a hash map split into independently locked shards): a lookup or
//! push locks one shard for reading, registration one shard for writing, so there is no
//! global lock on the hot path. Counts are atomics.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;

use crate::close::CloseReason;
use crate::ids::{SessionId, UserId};
use crate::metrics as m;
use crate::outbound::Outbound;

/// One registered session: its id, its user and its outbound queue. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SessionHandle {
    id: SessionId,
    user: UserId,
    outbound: Arc<Outbound>,
}

impl SessionHandle {
    /// The session's id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The session's user.
    pub fn user(&self) -> &UserId {
        &self.user
    }

    /// The session's outbound queue.
    pub fn outbound(&self) -> &Arc<Outbound> {
        &self.outbound
    }
}

/// All sessions of this process, by user. One user may have many sessions (devices).
///
/// ```
/// use std::sync::Arc;
/// use im_core::{ConnectionManager, Outbound, CloseReason};
/// let cm = ConnectionManager::new();
/// let phone = cm.register("alice".into(), Arc::new(Outbound::new(1024)));
/// let laptop = cm.register("alice".into(), Arc::new(Outbound::new(1024)));
/// assert_eq!(cm.sessions_of(&"alice".into()).len(), 2);
/// assert!(cm.kick_session(&"alice".into(), phone.id(), CloseReason::Kicked("logout".into())));
/// assert_eq!(phone.outbound().close_reason(), Some(CloseReason::Kicked("logout".into())));
/// cm.unregister(&phone);
/// assert_eq!(cm.connection_count(), 1);
/// # let _ = laptop;
/// ```
#[derive(Debug)]
pub struct ConnectionManager {
    users: DashMap<UserId, Vec<SessionHandle>>,
    connections: AtomicUsize,
    next_id: AtomicU64,
}

/// Shards of the user map: enough that two threads rarely meet on one lock.
const SHARDS: usize = 64;

impl Default for ConnectionManager {
    fn default() -> Self {
        Self {
            users: DashMap::with_shard_amount(SHARDS),
            connections: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
        }
    }
}

impl ConnectionManager {
    /// No sessions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a session of `user` with its queue; returns its handle.
    pub fn register(&self, user: UserId, outbound: Arc<Outbound>) -> SessionHandle {
        let id = SessionId(self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let handle = SessionHandle {
            id,
            user: user.clone(),
            outbound,
        };
        self.users.entry(user).or_default().push(handle.clone());
        self.connections.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!(m::CONNECTIONS).increment(1.0);
        handle
    }

    /// Removes a session; returns false if it was not registered.
    pub fn unregister(&self, handle: &SessionHandle) -> bool {
        let mut removed = false;
        self.users.remove_if_mut(&handle.user, |_, sessions| {
            let before = sessions.len();
            sessions.retain(|s| s.id != handle.id);
            removed = sessions.len() != before;
            sessions.is_empty()
        });
        if removed {
            self.connections.fetch_sub(1, Ordering::Relaxed);
            metrics::gauge!(m::CONNECTIONS).decrement(1.0);
        }
        removed
    }

    /// Calls `f` for every session of `user`, holding one shard's read lock (no allocation).
    pub fn for_each_session(&self, user: &UserId, mut f: impl FnMut(&SessionHandle)) {
        if let Some(sessions) = self.users.get(user) {
            sessions.iter().for_each(&mut f);
        }
    }

    /// The sessions of `user`.
    pub fn sessions_of(&self, user: &UserId) -> Vec<SessionHandle> {
        self.users
            .get(user)
            .map(|s| s.value().clone())
            .unwrap_or_default()
    }

    /// Whether `user` has at least one session here.
    pub fn is_online(&self, user: &UserId) -> bool {
        self.users.get(user).is_some_and(|s| !s.is_empty())
    }

    /// Closes one session of `user`; returns false if there is no such session.
    pub fn kick_session(&self, user: &UserId, session: SessionId, reason: CloseReason) -> bool {
        let mut found = false;
        self.for_each_session(user, |s| {
            if s.id == session {
                found = true;
                s.outbound.close(reason.clone());
            }
        });
        found
    }

    /// Closes every session of `user`; returns how many.
    pub fn kick_user(&self, user: &UserId, reason: CloseReason) -> usize {
        let mut n = 0;
        self.for_each_session(user, |s| {
            n += 1;
            s.outbound.close(reason.clone());
        });
        n
    }

    /// Closes every session (e.g. on shutdown); returns how many.
    pub fn kick_all(&self, reason: CloseReason) -> usize {
        let mut n = 0;
        for entry in self.users.iter() {
            for s in entry.value() {
                n += 1;
                s.outbound.close(reason.clone());
            }
        }
        n
    }

    /// Open sessions in this process.
    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Users with at least one session.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }
}
