//! The consumer context: marks revoked partitions' deliveries stale and commits what
//! was handled before a partition moves to another member.

use std::sync::Arc;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};

use super::lanes::Lanes;

pub(crate) struct GroupContext {
    pub(super) lanes: Arc<Lanes>,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            // Offsets of handled messages are stored as they are acknowledged; commit
            // them before the partitions move so the next owner starts right after.
            if let Err(err) = consumer.commit_consumer_state(CommitMode::Sync) {
                tracing::debug!(error = %err, "commit on revoke");
            }
            self.lanes
                .reset(tpl.elements().iter().map(|e| e.partition()));
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.lanes
                .reset(tpl.elements().iter().map(|e| e.partition()));
        }
    }
}
