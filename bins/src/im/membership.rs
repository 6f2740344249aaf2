//! [`GroupMembership`]: im-core's membership on the IM service's groups.
//!
//! `is_member` and `groups_of` ask the database every time, so a removal takes effect
//! at once for reads and syncs on every node (they share the database). Member lists
//! for fan-out come from a cache keyed by the group's membership version, which grows
//! with every change of its members (see `domain::MemberSnapshot`): the persister
//! stamps each stored message with the version read after storing it, and the push and
//! route handlers [`pin`](GroupMembership::pin) that version before fanning out, so a
//! list older than the message is read again (one statement) and a list at or past it
//! is used as it is. A member removed before a message was stored never gets it. Members
//! of a dissolved group stay members (they can still read its history); the send
//! pipeline refuses new messages to it.

use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;
use domain::service::GroupService;
use im_core::membership::{MemberList, Membership, MembershipError};
use im_core::{GroupId, UserId};

/// Groups whose member lists are kept; past it, half are dropped (they are read again
/// when next needed).
const CACHED_GROUPS: usize = 100_000;

/// Membership answered by the [`GroupService`], with member lists cached by version.
#[derive(Clone, Debug)]
pub struct GroupMembership {
    groups: Arc<GroupService>,
    lists: Arc<DashMap<GroupId, Cached>>,
}

#[derive(Clone, Debug)]
struct Cached {
    version: u64,
    members: MemberList,
}

impl GroupMembership {
    /// Membership over `groups`.
    pub fn new(groups: Arc<GroupService>) -> Self {
        Self {
            groups,
            lists: Arc::new(DashMap::new()),
        }
    }

    /// Makes sure the cached member list of `group` is at membership version `at` or
    /// later (reading it when older or missing); `None`: read it in any case.
    pub async fn pin(&self, group: &GroupId, at: Option<u64>) -> Result<(), MembershipError> {
        if let (Some(at), Some(cached)) = (at, self.lists.get(group)) {
            if cached.version >= at {
                return Ok(());
            }
        }
        self.load(group).await.map(|_| ())
    }

    /// Reads the members and their version, and keeps them unless a newer list was
    /// kept meanwhile.
    async fn load(&self, group: &GroupId) -> Result<MemberList, MembershipError> {
        let Some(id) = parse_group(group) else {
            return Ok(Arc::from(Vec::new()));
        };
        let snapshot = match self.groups.member_snapshot(&id).await {
            Ok(s) => s,
            Err(e) if e.kind() == domain::ErrorKind::NotFound => {
                return Ok(Arc::from(Vec::new()));
            }
            Err(e) => return Err(failed(e)),
        };
        let fresh = Cached {
            version: snapshot.version,
            members: snapshot
                .members
                .iter()
                .map(|u| UserId::from(u.as_str()))
                .collect(),
        };
        if self.lists.len() >= CACHED_GROUPS {
            let mut keep = false;
            self.lists.retain(|_, _| {
                keep = !keep;
                keep
            });
        }
        let mut entry = self.lists.entry(group.clone()).or_insert(fresh.clone());
        if entry.version < fresh.version {
            *entry = fresh;
        }
        Ok(entry.members.clone())
    }
}

fn failed(e: domain::DomainError) -> MembershipError {
    MembershipError(Box::new(e))
}

/// The group id, or `None` when it cannot be one of ours (so nobody is a member).
fn parse_group(group: &GroupId) -> Option<domain::GroupId> {
    domain::GroupId::parse(group.as_str()).ok()
}

fn parse_user(user: &UserId) -> Option<domain::UserId> {
    domain::UserId::parse(user.as_str()).ok()
}

#[async_trait]
impl Membership for GroupMembership {
    async fn is_member(&self, group: &GroupId, user: &UserId) -> Result<bool, MembershipError> {
        let (Some(group), Some(user)) = (parse_group(group), parse_user(user)) else {
            return Ok(false);
        };
        self.groups.is_member(&group, &user).await.map_err(failed)
    }

    /// The cached list (as of the latest version pinned or read), read when missing.
    async fn members(&self, group: &GroupId) -> Result<MemberList, MembershipError> {
        if let Some(cached) = self.lists.get(group) {
            return Ok(cached.members.clone());
        }
        self.load(group).await
    }

    async fn groups_of(&self, user: &UserId) -> Result<Vec<GroupId>, MembershipError> {
        let Some(user) = parse_user(user) else {
            return Ok(Vec::new());
        };
        let groups = self.groups.groups_of(&user).await.map_err(failed)?;
        Ok(groups
            .iter()
            .map(|g| GroupId::from(g.id.as_str()))
            .collect())
    }
}
