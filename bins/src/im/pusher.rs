//! [`Pusher`]: every IM node consumes [`STORED_TOPIC`] in its own consumer group and
//! pushes each stored message to its online members in seq order
//! ([`Engine::deliver_stored`] skips redeliveries and fills gaps from the database),
//! then answers the sender's `send` if it waits on this node.

use async_trait::async_trait;
use im_core::Engine;
use mq::{Handler, HandlerContext, HandlerError, Message};

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
impl Handler for Pusher {
    async fn handle(
        &self,
        msg: Message,
        _ctx: &HandlerContext,
    ) -> Result<Vec<Message>, HandlerError> {
        let envelope: StoredEnvelope = msg.decode_json().map_err(HandlerError::permanent)?;
        self.engine.deliver_stored(&envelope.message).await;
        self.waiters.resolve(&envelope);
        Ok(Vec::new())
    }
}
