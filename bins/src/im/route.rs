//! [`RouteStored`]: with presence in Redis, one consumer (group `im.route`, shared by
//! the nodes) reads each stored message and forwards it to `im.node.<node>` for every
//! node holding a session of one of the group's members (and the node the send came
//! from, whose sender waits for it), keyed by group so each node still gets a group's
//! messages in seq order.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use im_core::membership::Membership;
use im_core::GroupId;

use super::membership::GroupMembership;
use super::pusher::pin_versions;
use mq::{BatchFailure, BatchHandler, HandlerContext, HandlerError, Message, Publisher};

use super::presence::RedisPresence;
use super::wire::{node_topic, StoredEnvelope};

/// The routing handler (see the module docs).
pub struct RouteStored {
    membership: GroupMembership,
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
        membership: GroupMembership,
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
impl BatchHandler for RouteStored {
    /// Routes a lane's stored messages: members and their nodes are looked up once per
    /// group for the whole batch, and each node's share is published in one call, in
    /// order. An envelope that does not decode ends the batch there (the router hands
    /// it to the poison queue on its own). A failed lookup or publish fails the batch
    /// from its start: it is routed again, and the nodes skip what they already pushed.
    async fn handle_batch(
        &self,
        msgs: Vec<Message>,
        _ctx: &HandlerContext,
    ) -> Result<Vec<Message>, BatchFailure> {
        let mut envelopes = Vec::with_capacity(msgs.len());
        let mut undecodable = None;
        for msg in &msgs {
            match msg.decode_json::<StoredEnvelope>() {
                Ok(envelope) => envelopes.push(envelope),
                Err(e) => {
                    undecodable = Some(HandlerError::permanent(e));
                    break;
                }
            }
        }
        fn transient(e: impl std::error::Error + Send + Sync + 'static) -> BatchFailure {
            BatchFailure::first(HandlerError::transient(e))
        }
        pin_versions(&self.membership, &envelopes)
            .await
            .map_err(transient)?;
        let mut nodes_of_group: HashMap<GroupId, BTreeSet<String>> = HashMap::new();
        let mut per_node: BTreeMap<String, Vec<Message>> = BTreeMap::new();
        for (envelope, msg) in envelopes.iter().zip(&msgs) {
            let group = &envelope.message.group_id;
            if !nodes_of_group.contains_key(group) {
                let members = self.membership.members(group).await.map_err(transient)?;
                let nodes = self.presence.nodes_of(&members).await.map_err(transient)?;
                nodes_of_group.insert(group.clone(), nodes);
            }
            let mut nodes = nodes_of_group.get(group).cloned().unwrap_or_default();
            if let Some(origin) = &envelope.origin {
                nodes.insert(origin.clone());
            }
            metrics::histogram!("im_route_nodes").record(nodes.len() as f64);
            for node in nodes {
                let out = Message::new(msg.payload().clone()).with_key(group.to_string());
                per_node.entry(node).or_default().push(out);
            }
        }
        for (node, batch) in per_node {
            self.publisher
                .publish(&node_topic(&node), batch)
                .await
                .map_err(transient)?;
        }
        match undecodable {
            Some(error) => Err(BatchFailure::at(envelopes.len(), Vec::new(), error)),
            None => Ok(Vec::new()),
        }
    }
}
