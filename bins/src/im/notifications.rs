//! The notification module: platform events become stored notifications, pushed live
//! to every online session of each recipient; a session that starts gets its unread
//! ones (what arrived while offline), oldest first. Clients dedup by notification id.

use std::sync::Arc;

use async_trait::async_trait;
use domain::events::topics;
use domain::service::{notification_for, GroupService, NotificationService, Recipients};
use domain::{DomainError, UserId};
use im_core::pipeline::SessionHook;
use im_core::protocol::ServerFrame;
use im_core::{Engine, OutFrame, SessionHandle};
use mq::{Message, Router, Subscriber};

use super::groups::handler_error;

/// The topics that make notifications.
pub const NOTIFYING_TOPICS: [&str; 6] = [
    topics::USER_REGISTERED,
    topics::ACTIVITY_MEMBER_JOINED,
    topics::ACTIVITY_SIGNUP_REJECTED,
    topics::GROUP_MEMBER_REMOVED,
    topics::ACTIVITY_UPDATED,
    topics::ACTIVITY_CANCELLED,
];

/// How many unread notifications a new session gets.
const ON_CONNECT: u32 = 100;

/// The live side of a notification.
pub fn to_frame(n: &domain::Notification) -> OutFrame {
    OutFrame::encode(&ServerFrame::Notification(im_core::Notification {
        id: n.id.clone(),
        kind: n.kind.clone(),
        payload: n.payload.clone(),
        created_at: n.created_at.unix_millis(),
    }))
}

/// Turns events into notifications and pushes them.
#[derive(Clone, Debug)]
pub struct Notifier {
    notifications: Arc<NotificationService>,
    groups: Arc<GroupService>,
    engine: Engine,
}

impl Notifier {
    /// A notifier storing through `notifications`, finding activity members in
    /// `groups`, pushing through `engine`.
    pub fn new(
        notifications: Arc<NotificationService>,
        groups: Arc<GroupService>,
        engine: Engine,
    ) -> Self {
        Self {
            notifications,
            groups,
            engine,
        }
    }

    /// Handles one event (its message id makes it idempotent).
    pub async fn on_event(&self, topic: &str, msg: &Message) -> Result<(), DomainError> {
        let Some(draft) = notification_for(topic, msg.payload())? else {
            return Ok(());
        };
        let recipients: Vec<UserId> = match &draft.recipients {
            Recipients::User(user) => vec![user.clone()],
            Recipients::GroupOfActivity(activity) => {
                match self.groups.group_by_activity(activity).await? {
                    Some(group) => self
                        .groups
                        .members(&group.id)
                        .await?
                        .into_iter()
                        .map(|m| m.user_id)
                        .collect(),
                    None => return Err(DomainError::GroupNotReady),
                }
            }
        };
        let stored = self
            .notifications
            .notify(msg.id(), &recipients, draft.kind, draft.payload.clone())
            .await?;
        for n in &stored {
            let user = im_core::UserId::from(n.user_id.as_str());
            im_core::fanout::push_to_users(self.engine.connections(), [&user], &to_frame(n));
        }
        Ok(())
    }

    /// Registers one handler per notifying topic on `router`.
    pub fn register(&self, router: &mut Router, subscriber: Arc<dyn Subscriber>) {
        for topic in NOTIFYING_TOPICS {
            let notifier = self.clone();
            router.consumer(
                format!("im.notify.{topic}"),
                topic,
                Arc::clone(&subscriber),
                mq::consumer_fn(move |msg: Message| {
                    let notifier = notifier.clone();
                    async move { notifier.on_event(topic, &msg).await.map_err(handler_error) }
                }),
            );
        }
    }
}

/// Pushes a new session its unread notifications.
#[derive(Clone, Debug)]
pub struct UnreadOnConnect {
    notifications: Arc<NotificationService>,
}

impl UnreadOnConnect {
    /// Reads from `notifications`.
    pub fn new(notifications: Arc<NotificationService>) -> Self {
        Self { notifications }
    }
}

#[async_trait]
impl SessionHook for UnreadOnConnect {
    async fn on_session_started(&self, session: &SessionHandle) {
        let Ok(user) = UserId::parse(session.user().as_str()) else {
            return;
        };
        match self.notifications.list(&user, true, None, ON_CONNECT).await {
            Ok(unread) => {
                for n in unread.iter().rev() {
                    let _ = session.outbound().push(to_frame(n));
                }
            }
            Err(e) => tracing::warn!(error = %e, "unread notifications not pushed"),
        }
    }
}
