//! Sending, delivering and notifying: what puts frames into session queues.

use super::{check_id, Engine};
use crate::error::EngineError;
use crate::fanout::{push_to_users, FanoutReport};
use crate::ids::{ClientMsgId, GroupId, UserId};
use crate::membership::MemberList;
use crate::message::{Notification, StoredMessage};
use crate::outbound::OutFrame;
use crate::protocol::{MessageBody, ServerFrame};
use crate::sequencer::Draft;
use crate::store::Appended;

impl Engine {
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
        let pipeline_checks = self
            .inner
            .pipeline
            .as_ref()
            .is_some_and(|p| p.checks_membership());
        if !pipeline_checks {
            self.ensure_member(group, sender).await?;
        }
        let draft = Draft {
            group_id: group.clone(),
            sender_id: sender.clone(),
            client_msg_id,
            body,
        };
        if let Some(pipeline) = &self.inner.pipeline {
            return pipeline.submit(draft).await;
        }
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

    /// Delivers a message already stored elsewhere (e.g. by the sequencer of a
    /// [`SendPipeline`](crate::pipeline::SendPipeline), read back from the broker) to
    /// this process's sessions, keeping every session in seq order: a message at or
    /// below the last one pushed for its group is skipped (a redelivery), and a gap
    /// before it is filled from the store first (at most `sync_max_limit` messages;
    /// beyond that clients catch up by `sync`). Returns what was pushed.
    pub async fn deliver_stored(&self, message: &StoredMessage) -> FanoutReport {
        self.deliver_stored_batch(std::slice::from_ref(message))
            .await
    }

    /// [`Engine::deliver_stored`] for many messages (each group's in seq order, groups
    /// interleaved in any way): the member list of each group is read once for the
    /// whole batch, not once per message.
    pub async fn deliver_stored_batch(&self, messages: &[StoredMessage]) -> FanoutReport {
        let mut groups: Vec<&GroupId> = Vec::new();
        for message in messages {
            if !groups.contains(&&message.group_id) {
                groups.push(&message.group_id);
            }
        }
        let mut report = FanoutReport::default();
        for group in groups {
            let in_group = messages.iter().filter(|m| &m.group_id == group);
            report += self.deliver_in_group(group, in_group).await;
        }
        report
    }

    async fn deliver_in_group<'a>(
        &self,
        group: &GroupId,
        messages: impl Iterator<Item = &'a StoredMessage>,
    ) -> FanoutReport {
        let owner = self.inner.sequencer.group(group);
        let mut state = owner.lock().await;
        let mut members: Option<Option<MemberList>> = None;
        let mut report = FanoutReport::default();
        for message in messages {
            if let Some(last) = state.last {
                state.last = Some(last.max(message.seq));
            }
            let mut due = Vec::new();
            match state.pushed {
                Some(pushed) if message.seq <= pushed => continue,
                Some(pushed) if message.seq > pushed + 1 => {
                    due = self.gap_before(message, pushed).await;
                }
                _ => {}
            }
            if members.is_none() {
                members = Some(match self.inner.membership.members(group).await {
                    Ok(list) => Some(list),
                    Err(e) => {
                        // Stored but not pushed: members catch up by sync (gap detection).
                        tracing::warn!(group = %group, error = %e, "fan-out skipped");
                        None
                    }
                });
            }
            if let Some(Some(list)) = &members {
                for earlier in &due {
                    report += self.push_to(list, earlier);
                }
                report += self.push_to(list, message);
            }
            state.pushed = Some(message.seq);
        }
        report
    }

    /// The stored messages between `pushed` and `message` (at most `sync_max_limit`).
    async fn gap_before(&self, message: &StoredMessage, pushed: u64) -> Vec<StoredMessage> {
        let missing = (message.seq - pushed - 1).min(u64::from(self.inner.config.sync_max_limit));
        let limit = usize::try_from(missing).unwrap_or(usize::MAX);
        match self
            .inner
            .store
            .messages_after(&message.group_id, pushed, limit)
            .await
        {
            Ok(mut gap) => {
                gap.retain(|m| m.seq < message.seq);
                gap
            }
            Err(e) => {
                tracing::warn!(group = %message.group_id, error = %e, "gap not filled; clients sync");
                Vec::new()
            }
        }
    }

    fn push_to(&self, members: &MemberList, message: &StoredMessage) -> FanoutReport {
        let frame = OutFrame::encode(&ServerFrame::Message(message.clone()));
        push_to_users(&self.inner.connections, members.iter(), &frame)
    }

    /// Pushes a notification to every session of `user`; returns how many got it.
    pub fn notify_user(&self, user: &UserId, notification: &Notification) -> FanoutReport {
        let frame = OutFrame::encode(&ServerFrame::Notification(notification.clone()));
        push_to_users(&self.inner.connections, [user], &frame)
    }
}
