//! Sending, delivering and notifying: what puts frames into session queues.

use super::{check_id, Engine};
use crate::error::EngineError;
use crate::fanout::{push_to_users, FanoutReport};
use crate::ids::{ClientMsgId, GroupId, UserId};
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
}
