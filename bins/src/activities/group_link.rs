//! The activity service follows its activities' groups: `group.created` records the
//! activity's `group_id` (idempotent: the same group is recorded once), and
//! `group.member.removed` by the organiser ends that member's sign-up as `removed`, so
//! leaving and signing up again cannot undo a removal (idempotent by state).

use std::sync::Arc;

use domain::events::{topics, GroupCreated, GroupMemberRemoved};
use domain::ActivityService;
use mq::{HandlerError, Message, Router, Subscriber};

use crate::im::groups::handler_error;

/// Registers the `group.created` and `group.member.removed` handlers on `router`.
pub fn register(
    router: &mut Router,
    subscriber: Arc<dyn Subscriber>,
    activities: Arc<ActivityService>,
) {
    router.consumer(
        "activity.group-removals",
        topics::GROUP_MEMBER_REMOVED,
        Arc::clone(&subscriber),
        mq::consumer_fn({
            let activities = Arc::clone(&activities);
            move |msg: Message| {
                let activities = Arc::clone(&activities);
                async move {
                    let event: GroupMemberRemoved =
                        msg.decode_json().map_err(HandlerError::permanent)?;
                    activities
                        .on_removed_from_group(&event)
                        .await
                        .map_err(handler_error)
                }
            }
        }),
    );
    router.consumer(
        "activity.group-link",
        topics::GROUP_CREATED,
        subscriber,
        mq::consumer_fn(move |msg: Message| {
            let activities = Arc::clone(&activities);
            async move {
                let event: GroupCreated = msg.decode_json().map_err(HandlerError::permanent)?;
                activities
                    .set_group_id(&event.activity_id, &event.group_id)
                    .await
                    .map(|_| ())
                    .map_err(handler_error)
            }
        }),
    );
}
