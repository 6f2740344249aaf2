//! The activity service learns its activities' groups from `group.created`: the
//! activity then shows its `group_id`. Idempotent (the same group is recorded once).

use std::sync::Arc;

use domain::events::{topics, GroupCreated};
use domain::ActivityService;
use mq::{HandlerError, Message, Router, Subscriber};

use crate::im::groups::handler_error;

/// Registers the `group.created` handler on `router`.
pub fn register(
    router: &mut Router,
    subscriber: Arc<dyn Subscriber>,
    activities: Arc<ActivityService>,
) {
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
