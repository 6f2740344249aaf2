//! `InMemoryStore`: a complete `MessageStore` held in process memory.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use dashmap::DashMap;

use crate::ids::{ClientMsgId, GroupId, Seq, UserId};
use crate::message::StoredMessage;
use crate::store::{Appended, MessageStore, StoreError};

/// A `MessageStore` in process memory: for single-process deployments, embedding and
/// development. Data lives as long as the value. Groups are sharded (one lock per shard).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use im_core::{store::{InMemoryStore, MessageStore}, GroupId};
/// let store = InMemoryStore::new();
/// assert_eq!(store.latest_seq(&GroupId::from("g")).await.unwrap(), 0);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct InMemoryStore {
    groups: DashMap<GroupId, GroupLog>,
}

#[derive(Debug, Default)]
struct GroupLog {
    messages: BTreeMap<Seq, StoredMessage>,
    dedup: HashMap<(UserId, ClientMsgId), Seq>,
    read: HashMap<UserId, Seq>,
    delivered: HashMap<UserId, Seq>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of messages stored in `group`.
    pub fn message_count(&self, group: &GroupId) -> usize {
        self.groups.get(group).map_or(0, |g| g.messages.len())
    }

    fn advance(
        &self,
        group: &GroupId,
        user: &UserId,
        seq: Seq,
        pick: fn(&mut GroupLog) -> &mut HashMap<UserId, Seq>,
    ) -> Seq {
        let mut log = self.groups.entry(group.clone()).or_default();
        let slot = pick(&mut log).entry(user.clone()).or_insert(0);
        *slot = (*slot).max(seq);
        *slot
    }

    fn position(
        &self,
        group: &GroupId,
        user: &UserId,
        pick: fn(&GroupLog) -> &HashMap<UserId, Seq>,
    ) -> Seq {
        self.groups
            .get(group)
            .and_then(|log| pick(&log).get(user).copied())
            .unwrap_or(0)
    }
}

#[async_trait]
impl MessageStore for InMemoryStore {
    async fn append(&self, message: StoredMessage) -> Result<Appended, StoreError> {
        let mut log = self.groups.entry(message.group_id.clone()).or_default();
        let key = (message.sender_id.clone(), message.client_msg_id.clone());
        if let Some(seq) = log.dedup.get(&key) {
            if let Some(original) = log.messages.get(seq) {
                return Ok(Appended::Duplicate(original.clone()));
            }
        }
        if log.messages.contains_key(&message.seq) {
            return Err(StoreError::SeqConflict {
                group: message.group_id.clone(),
                seq: message.seq,
            });
        }
        log.dedup.insert(key, message.seq);
        log.messages.insert(message.seq, message.clone());
        Ok(Appended::Stored(message))
    }

    async fn messages_after(
        &self,
        group: &GroupId,
        after_seq: Seq,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let Some(log) = self.groups.get(group) else {
            return Ok(Vec::new());
        };
        let start = after_seq.saturating_add(1);
        Ok(log
            .messages
            .range(start..)
            .take(limit)
            .map(|(_, m)| m.clone())
            .collect())
    }

    async fn latest_seq(&self, group: &GroupId) -> Result<Seq, StoreError> {
        Ok(self
            .groups
            .get(group)
            .and_then(|log| log.messages.keys().next_back().copied())
            .unwrap_or(0))
    }

    async fn set_read_position(
        &self,
        group: &GroupId,
        user: &UserId,
        seq: Seq,
    ) -> Result<Seq, StoreError> {
        Ok(self.advance(group, user, seq, |log| &mut log.read))
    }

    async fn read_position(&self, group: &GroupId, user: &UserId) -> Result<Seq, StoreError> {
        Ok(self.position(group, user, |log| &log.read))
    }

    async fn set_delivered_position(
        &self,
        group: &GroupId,
        user: &UserId,
        seq: Seq,
    ) -> Result<Seq, StoreError> {
        Ok(self.advance(group, user, seq, |log| &mut log.delivered))
    }

    async fn delivered_position(&self, group: &GroupId, user: &UserId) -> Result<Seq, StoreError> {
        Ok(self.position(group, user, |log| &log.delivered))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::MessageBody;

    fn msg(seq: Seq, sender: &str, cid: &str) -> StoredMessage {
        StoredMessage {
            group_id: "g".into(),
            seq,
            sender_id: sender.into(),
            client_msg_id: cid.into(),
            body: MessageBody::text("x"),
            sent_at: 0,
        }
    }

    #[tokio::test]
    async fn enforces_both_unique_keys() {
        let store = InMemoryStore::new();
        let g = GroupId::from("g");
        assert!(matches!(
            store.append(msg(1, "a", "c1")).await.unwrap(),
            Appended::Stored(_)
        ));
        // same dedup key, different seq: the original comes back
        let dup = store.append(msg(2, "a", "c1")).await.unwrap();
        assert!(matches!(dup, Appended::Duplicate(ref m) if m.seq == 1));
        // same seq, different key: conflict
        assert!(matches!(
            store.append(msg(1, "b", "c1")).await,
            Err(StoreError::SeqConflict { seq: 1, .. })
        ));
        assert_eq!(store.latest_seq(&g).await.unwrap(), 1);
        assert_eq!(store.message_count(&g), 1);
    }

    #[tokio::test]
    async fn positions_only_move_forward_and_count_unread() {
        let store = InMemoryStore::new();
        let (g, u) = (GroupId::from("g"), UserId::from("u"));
        for seq in 1..=5 {
            store
                .append(msg(seq, "a", &format!("c{seq}")))
                .await
                .unwrap();
        }
        assert_eq!(store.set_read_position(&g, &u, 3).await.unwrap(), 3);
        assert_eq!(store.set_read_position(&g, &u, 2).await.unwrap(), 3);
        assert_eq!(store.unread_count(&g, &u).await.unwrap(), 2);
        let after = store.messages_after(&g, 3, 10).await.unwrap();
        assert_eq!(after.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(store.messages_after(&g, 0, 2).await.unwrap().len(), 2);
    }
}
