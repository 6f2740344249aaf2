//! [`Pusher`]: every IM node consumes [`STORED_TOPIC`] in its own consumer group and
//! pushes each stored message to its online members in seq order
//! ([`Engine::deliver_stored_batch`] skips redeliveries, fills gaps from the database
//! and reads each group's members once per batch), then answers the sender's `send` if
//! it waits on this node.

use async_trait::async_trait;
use im_core::Engine;
use mq::{BatchFailure, BatchHandler, HandlerContext, HandlerError, Message};

use super::waiters::Waiters;
use super::wire::StoredEnvelope;

/// The push handler (see the module docs).
#[derive(Debug)]
pub struct Pusher {
    engine: Engine,
    waiters: Waiters,
}

impl Pusher {
    /// Pushes through `engine`; resolves `waiters`.
    pub fn new(engine: Engine, waiters: Waiters) -> Self {
        Self { engine, waiters }
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
