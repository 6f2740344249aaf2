//! The group module's event handlers: activity events become group changes. Each is
//! idempotent (the domain records the event id in its inbox in the same transaction),
//! so a redelivered event changes nothing.

use std::sync::Arc;

use domain::events::{
    topics, ActivityCancelled, ActivityCreated, ActivityMemberJoined, ActivityMemberLeft,
};
use domain::service::GroupService;
use domain::{DomainError, ErrorKind};
use mq::{HandlerError, Message, Router, Subscriber};

/// A domain failure as a handler error: retry what may pass later, poison the rest.
pub fn handler_error(e: DomainError) -> HandlerError {
    match e.kind() {
        ErrorKind::Unavailable | ErrorKind::Internal => HandlerError::transient(e),
        _ => HandlerError::permanent(e),
    }
}

macro_rules! group_handler {
    ($router:expr, $sub:expr, $groups:expr, $topic:expr, $event:ty, $method:ident) => {{
        let groups = Arc::clone(&$groups);
        $router.consumer(
            concat!("im.groups.", stringify!($method)),
            $topic,
            Arc::clone(&$sub),
            mq::consumer_fn(move |msg: Message| {
                let groups = Arc::clone(&groups);
                async move {
                    let event: $event = msg.decode_json().map_err(HandlerError::permanent)?;
                    groups
                        .$method(msg.id(), &event)
                        .await
                        .map(|_| ())
                        .map_err(handler_error)
                }
            }),
        );
    }};
}

/// Registers the group module's handlers on `router`.
pub fn register(router: &mut Router, subscriber: Arc<dyn Subscriber>, groups: Arc<GroupService>) {
    group_handler!(
        router,
        subscriber,
        groups,
        topics::ACTIVITY_CREATED,
        ActivityCreated,
        on_activity_created
    );
    group_handler!(
        router,
        subscriber,
        groups,
        topics::ACTIVITY_MEMBER_JOINED,
        ActivityMemberJoined,
        on_member_joined
    );
    group_handler!(
        router,
        subscriber,
        groups,
        topics::ACTIVITY_MEMBER_LEFT,
        ActivityMemberLeft,
        on_member_left
    );
    group_handler!(
        router,
        subscriber,
        groups,
        topics::ACTIVITY_CANCELLED,
        ActivityCancelled,
        on_activity_cancelled
    );
}
