//! [`Persister`]: consumes [`SEND_TOPIC`] (one lane per partition, each in order), gives
//! each send its group's next seq through im-core's [`Sequencer`] over the database
//! (the store's unique keys make a redelivered or retried send map to the seq it already
//! got), and returns the stored message for [`STORED_TOPIC`]. The router acknowledges
//! the send only after the stored message is published, so a crash anywhere in between
//! redelivers it, and the redelivery stores nothing twice.

use std::sync::Arc;

use async_trait::async_trait;
use im_core::sequencer::Sequencer;
use im_core::store::{Appended, MessageStore};
use mq::{Handler, HandlerContext, HandlerError, Message};

use super::wire::{SendRequest, StoredEnvelope};

/// The sequencer and persister handler (see the module docs).
pub struct Persister {
    sequencer: Sequencer,
}

impl std::fmt::Debug for Persister {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persister").finish_non_exhaustive()
    }
}

impl Persister {
    /// A persister writing to `store`.
    pub fn new(store: Arc<dyn MessageStore>) -> Self {
        Self {
            sequencer: Sequencer::new(store),
        }
    }
}

#[async_trait]
impl Handler for Persister {
    async fn handle(
        &self,
        msg: Message,
        _ctx: &HandlerContext,
    ) -> Result<Vec<Message>, HandlerError> {
        let request: SendRequest = msg.decode_json().map_err(HandlerError::permanent)?;
        let origin = request.origin.clone();
        let appended = self
            .sequencer
            .append(request.into_draft(), |_| async {})
            .await
            .map_err(HandlerError::transient)?;
        let envelope = match appended {
            Appended::Stored(message) => StoredEnvelope {
                message,
                duplicate: false,
                origin,
            },
            Appended::Duplicate(message) => StoredEnvelope {
                message,
                duplicate: true,
                origin,
            },
        };
        let key = envelope.message.group_id.to_string();
        let out = Message::json(&envelope)
            .map_err(HandlerError::permanent)?
            .with_key(key);
        Ok(vec![out])
    }
}
