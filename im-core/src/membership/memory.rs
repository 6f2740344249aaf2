//! `InMemoryMembership`: groups and members held in process memory.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;

use crate::ids::{GroupId, UserId};
use crate::membership::{MemberList, Membership, MembershipError};

/// Membership in process memory. Each group keeps a member set and a shared snapshot
/// list (rebuilt on change) so fan-out clones one `Arc`, not the list.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use im_core::membership::{InMemoryMembership, Membership};
/// let m = InMemoryMembership::new();
/// m.add("g".into(), "alice".into());
/// assert!(m.is_member(&"g".into(), &"alice".into()).await.unwrap());
/// m.remove(&"g".into(), &"alice".into());
/// assert!(m.members(&"g".into()).await.unwrap().is_empty());
/// # });
/// ```
#[derive(Debug, Default)]
pub struct InMemoryMembership {
    groups: DashMap<GroupId, Members>,
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
        let mut entry = self.groups.entry(group).or_insert_with(|| Members {
            set: HashSet::new(),
            list: Arc::from(Vec::new()),
        });
        let added = entry.set.insert(user);
        if added {
            entry.rebuild();
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
        removed
    }

    /// Removes the whole group.
    pub fn remove_group(&self, group: &GroupId) -> bool {
        self.groups.remove(group).is_some()
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
}
