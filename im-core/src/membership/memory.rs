//! `InMemoryMembership`: groups and members held in process memory.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;

use crate::ids::{GroupId, UserId};
use crate::membership::{MemberList, Membership, MembershipError};

/// Membership in process memory. Each group keeps a member set and a shared snapshot
/// list (rebuilt on change) so fan-out clones one `Arc`, not the list; each user keeps
/// the set of their groups.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use im_core::membership::{InMemoryMembership, Membership};
/// let m = InMemoryMembership::new();
/// m.add("g".into(), "alice".into());
/// assert!(m.is_member(&"g".into(), &"alice".into()).await.unwrap());
/// assert_eq!(m.groups_of(&"alice".into()).await.unwrap(), vec!["g".into()]);
/// m.remove(&"g".into(), &"alice".into());
/// assert!(m.members(&"g".into()).await.unwrap().is_empty());
/// # });
/// ```
#[derive(Debug, Default)]
pub struct InMemoryMembership {
    groups: DashMap<GroupId, Members>,
    users: DashMap<UserId, BTreeSet<GroupId>>,
}

#[derive(Debug)]
struct Members {
    set: HashSet<UserId>,
    list: MemberList,
}

impl Members {
    fn rebuild(&mut self) {
        let mut list: Vec<UserId> = self.set.iter().cloned().collect();
        list.sort();
        self.list = list.into();
    }
}

impl InMemoryMembership {
    /// No groups.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `user` to `group` (creating the group); returns false if already a member.
    pub fn add(&self, group: GroupId, user: UserId) -> bool {
        let added = {
            let mut entry = self.groups.entry(group.clone()).or_insert_with(|| Members {
                set: HashSet::new(),
                list: Arc::from(Vec::new()),
            });
            let added = entry.set.insert(user.clone());
            if added {
                entry.rebuild();
            }
            added
        }; // one map locked at a time
        if added {
            self.users.entry(user).or_default().insert(group);
        }
        added
    }

    /// Removes `user` from `group`; returns false if not a member.
    pub fn remove(&self, group: &GroupId, user: &UserId) -> bool {
        let Some(mut entry) = self.groups.get_mut(group) else {
            return false;
        };
        let removed = entry.set.remove(user);
        if removed {
            entry.rebuild();
        }
        drop(entry);
        if removed {
            self.forget(user, group);
        }
        removed
    }

    /// Removes the whole group.
    pub fn remove_group(&self, group: &GroupId) -> bool {
        let Some((_, members)) = self.groups.remove(group) else {
            return false;
        };
        for user in &members.set {
            self.forget(user, group);
        }
        true
    }

    fn forget(&self, user: &UserId, group: &GroupId) {
        self.users.remove_if_mut(user, |_, groups| {
            groups.remove(group);
            groups.is_empty()
        });
    }

    /// Members of `group`, without going through the async trait.
    pub fn members_now(&self, group: &GroupId) -> MemberList {
        self.groups
            .get(group)
            .map_or_else(|| Arc::from(Vec::new()), |m| m.list.clone())
    }
}

#[async_trait]
impl Membership for InMemoryMembership {
    async fn is_member(&self, group: &GroupId, user: &UserId) -> Result<bool, MembershipError> {
        Ok(self.groups.get(group).is_some_and(|m| m.set.contains(user)))
    }

    async fn members(&self, group: &GroupId) -> Result<MemberList, MembershipError> {
        Ok(self.members_now(group))
    }

    async fn groups_of(&self, user: &UserId) -> Result<Vec<GroupId>, MembershipError> {
        Ok(self
            .users
            .get(user)
            .map(|groups| groups.iter().cloned().collect())
            .unwrap_or_default())
    }
}
