//! [`RouteStored`]: with presence in Redis, one consumer (group `im.route`, shared by
//! the nodes) reads each stored message and forwards it to `im.node.<node>` for every
//! node holding a session of one of the group's members (and the node the send came
//! from, whose sender waits for it), keyed by group so each node still gets a group's
//! messages in seq order.

use std::sync::Arc;

use async_trait::async_trait;
use im_core::membership::Membership;
use mq::{Handler, HandlerContext, HandlerError, Message, Publisher};

use super::presence::RedisPresence;
use super::wire::{node_topic, StoredEnvelope};

/// The routing handler (see the module docs).
pub struct RouteStored {
    membership: Arc<dyn Membership>,
    presence: RedisPresence,
    publisher: Arc<dyn Publisher>,
}

impl std::fmt::Debug for RouteStored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteStored").finish_non_exhaustive()
    }
}

impl RouteStored {
    /// Routes with `presence`, publishing through `publisher`.
    pub fn new(
        membership: Arc<dyn Membership>,
        presence: RedisPresence,
        publisher: Arc<dyn Publisher>,
    ) -> Self {
        Self {
            membership,
            presence,
            publisher,
        }
    }
}

#[async_trait]
impl Handler for RouteStored {
    async fn handle(
        &self,
        msg: Message,
        _ctx: &HandlerContext,
    ) -> Result<Vec<Message>, HandlerError> {
        let envelope: StoredEnvelope = msg.decode_json().map_err(HandlerError::permanent)?;
        let members = self
            .membership
            .members(&envelope.message.group_id)
            .await
            .map_err(HandlerError::transient)?;
        let mut nodes = self
            .presence
            .nodes_of(&members)
            .await
            .map_err(HandlerError::transient)?;
        if let Some(origin) = &envelope.origin {
            nodes.insert(origin.clone());
        }
        metrics::histogram!("im_route_nodes").record(nodes.len() as f64);
        for node in nodes {
            let out =
                Message::new(msg.payload().clone()).with_key(envelope.message.group_id.to_string());
            self.publisher
                .publish(&node_topic(&node), vec![out])
                .await
                .map_err(HandlerError::transient)?;
        }
        Ok(Vec::new())
    }
}
