//! [`Pusher`]: every IM node consumes [`STORED_TOPIC`] in its own consumer group and
//! pushes each stored message to its online members in seq order
//! ([`Engine::deliver_stored_batch`] skips redeliveries, fills gaps from the database
//! with each group's member list pinned at the batch's newest membership version), then
//! answers the sender's `send` if it waits on this node.

use async_trait::async_trait;
use im_core::Engine;
use mq::{BatchFailure, BatchHandler, HandlerContext, HandlerError, Message};

use super::membership::GroupMembership;
use super::waiters::Waiters;
use super::wire::StoredEnvelope;

/// The push handler (see the module docs).
#[derive(Debug)]
pub struct Pusher {
    engine: Engine,
    membership: GroupMembership,
    waiters: Waiters,
}

impl Pusher {
    /// Pushes through `engine` (whose membership is `membership`); resolves `waiters`.
    pub fn new(engine: Engine, membership: GroupMembership, waiters: Waiters) -> Self {
        Self {
            engine,
            membership,
            waiters,
        }
    }
}

#[async_trait]
impl BatchHandler for Pusher {
    /// Pushes a lane's stored messages (one member list read per group for the whole
    /// batch), then answers their senders. An envelope that does not decode ends the
    /// batch there (the router hands it to the poison queue on its own).
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
        if let Err(e) = pin_versions(&self.membership, &envelopes).await {
            // Pushing with a list older than a message could reach a removed member:
            // the batch is handled again.
            return Err(BatchFailure::first(HandlerError::transient(e)));
        }
        let messages: Vec<_> = envelopes.iter().map(|e| e.message.clone()).collect();
        self.engine.deliver_stored_batch(&messages).await;
        for envelope in &envelopes {
            self.waiters.resolve(envelope);
        }
        match undecodable {
            Some(error) => Err(BatchFailure::at(envelopes.len(), Vec::new(), error)),
            None => Ok(Vec::new()),
        }
    }
}

/// Pins each group's member list at the newest membership version among `envelopes`
/// (read in any case for a group with an envelope that has none).
pub(super) async fn pin_versions(
    membership: &GroupMembership,
    envelopes: &[StoredEnvelope],
) -> Result<(), im_core::membership::MembershipError> {
    let mut newest: Vec<(&im_core::GroupId, Option<u64>)> = Vec::new();
    for envelope in envelopes {
        let group = &envelope.message.group_id;
        let version = envelope.member_version;
        match newest.iter_mut().find(|(g, _)| *g == group) {
            Some((_, v)) => *v = (*v).zip(version).map(|(a, b)| a.max(b)),
            None => newest.push((group, version)),
        }
    }
    for (group, version) in newest {
        membership.pin(group, version).await?;
    }
    Ok(())
}
