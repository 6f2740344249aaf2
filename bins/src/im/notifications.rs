//! The notification module: platform events become stored notifications (one node
//! handles each event), which go out on [`PUSH_TOPIC`] keyed by user; every node
//! consumes that topic in its own group and pushes to the recipient's sessions it holds.
//! A session that starts gets its unread ones (what arrived while offline), oldest
//! first. Clients dedup by notification id.

use std::sync::Arc;

use async_trait::async_trait;
use domain::events::topics;
use domain::service::{notification_for, GroupService, NotificationService, Recipients};
use domain::{DomainError, UserId};
use im_core::pipeline::SessionHook;
use im_core::protocol::ServerFrame;
use im_core::{Engine, OutFrame, SessionHandle};
use mq::{HandlerError, Message, Publisher, Router, Subscriber};

use super::groups::handler_error;
use super::presence::RedisPresence;

/// The topics that make notifications.
pub const NOTIFYING_TOPICS: [&str; 7] = [
    topics::USER_REGISTERED,
    topics::ACTIVITY_MEMBER_JOINED,
    topics::ACTIVITY_SIGNUP_REJECTED,
    topics::GROUP_MEMBER_REMOVED,
    topics::ACTIVITY_UPDATED,
    topics::ACTIVITY_CANCELLED,
    topics::GROUP_DISSOLVED,
];

/// Stored notifications on their way to every IM node, keyed by user.
pub const PUSH_TOPIC: &str = "im.notification.push";

/// The notifications routed to one node (presence in Redis), keyed by user.
pub fn node_notify_topic(node: &str) -> String {
    format!("im.node.{node}.notify")
}

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

/// Turns events into stored notifications, to be pushed by every node.
#[derive(Clone, Debug)]
pub struct Notifier {
    notifications: Arc<NotificationService>,
    groups: Arc<GroupService>,
}

impl Notifier {
    /// A notifier storing through `notifications`, finding activity members in
    /// `groups`.
    pub fn new(notifications: Arc<NotificationService>, groups: Arc<GroupService>) -> Self {
        Self {
            notifications,
            groups,
        }
    }

    /// Handles one event (its message id makes it idempotent); returns the stored
    /// notifications.
    pub async fn on_event(
        &self,
        topic: &str,
        msg: &Message,
    ) -> Result<Vec<domain::Notification>, DomainError> {
        let Some(draft) = notification_for(topic, msg.payload())? else {
            return Ok(Vec::new());
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
            Recipients::Group(group) => self
                .groups
                .members(group)
                .await?
                .into_iter()
                .map(|m| m.user_id)
                .collect(),
        };
        self.notifications
            .notify(msg.id(), &recipients, draft.kind, draft.payload.clone())
            .await
    }

    /// Registers one handler per notifying topic on `router` and this node's pusher
    /// (consumer group `im.notify-push.<node>`). Without `presence` the stored
    /// notifications go to [`PUSH_TOPIC`], which every node reads; with it, each goes to
    /// `im.node.<node>.notify` of the nodes holding a session of its user (none when the
    /// user is offline: they get it on connect).
    pub fn register(
        &self,
        router: &mut Router,
        subscriber: Arc<dyn Subscriber>,
        publisher: Arc<dyn Publisher>,
        engine: Engine,
        node_id: &str,
        presence: Option<RedisPresence>,
    ) {
        let push_topic = match presence {
            Some(presence) => {
                self.register_routed(router, &subscriber, &publisher, presence);
                node_notify_topic(node_id)
            }
            None => {
                self.register_broadcast(router, &subscriber, &publisher);
                PUSH_TOPIC.to_owned()
            }
        };
        router
            .consumer(
                format!("im.notify-push.{node_id}"),
                push_topic,
                subscriber,
                mq::consumer_fn(move |msg: Message| {
                    let engine = engine.clone();
                    async move {
                        let n: domain::Notification =
                            msg.decode_json().map_err(HandlerError::permanent)?;
                        let user = im_core::UserId::from(n.user_id.as_str());
                        im_core::fanout::push_to_users(
                            engine.connections(),
                            [&user],
                            &to_frame(&n),
                        );
                        Ok(())
                    }
                }),
            )
            .concurrency(4);
    }

    /// The event handlers, each notification to the nodes its user is connected to.
    fn register_routed(
        &self,
        router: &mut Router,
        subscriber: &Arc<dyn Subscriber>,
        publisher: &Arc<dyn Publisher>,
        presence: RedisPresence,
    ) {
        for topic in NOTIFYING_TOPICS {
            let (notifier, presence, publisher) =
                (self.clone(), presence.clone(), Arc::clone(publisher));
            router.consumer(
                format!("im.notify.{topic}"),
                topic,
                Arc::clone(subscriber),
                mq::consumer_fn(move |msg: Message| {
                    let (notifier, presence, publisher) =
                        (notifier.clone(), presence.clone(), Arc::clone(&publisher));
                    async move {
                        let stored = notifier
                            .on_event(topic, &msg)
                            .await
                            .map_err(handler_error)?;
                        for n in &stored {
                            let user = im_core::UserId::from(n.user_id.as_str());
                            let nodes = presence
                                .nodes_of(&[user])
                                .await
                                .map_err(HandlerError::transient)?;
                            for node in nodes {
                                let out = Message::json(n)
                                    .map_err(HandlerError::permanent)?
                                    .with_key(n.user_id.to_string());
                                publisher
                                    .publish(&node_notify_topic(&node), vec![out])
                                    .await
                                    .map_err(HandlerError::transient)?;
                            }
                        }
                        Ok(())
                    }
                }),
            );
        }
    }

    /// The event handlers, every notification to [`PUSH_TOPIC`].
    fn register_broadcast(
        &self,
        router: &mut Router,
        subscriber: &Arc<dyn Subscriber>,
        publisher: &Arc<dyn Publisher>,
    ) {
        for topic in NOTIFYING_TOPICS {
            let notifier = self.clone();
            router.handler(
                format!("im.notify.{topic}"),
                topic,
                Arc::clone(subscriber),
                PUSH_TOPIC,
                Arc::clone(publisher),
                mq::handler_fn(move |msg: Message, _ctx| {
                    let notifier = notifier.clone();
                    async move {
                        let stored = notifier
                            .on_event(topic, &msg)
                            .await
                            .map_err(handler_error)?;
                        stored
                            .iter()
                            .map(|n| {
                                Message::json(n)
                                    .map(|m| m.with_key(n.user_id.to_string()))
                                    .map_err(HandlerError::permanent)
                            })
                            .collect()
                    }
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
