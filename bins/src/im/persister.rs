//! [`Persister`]: consumes [`SEND_TOPIC`] (one lane per partition, each in order, a
//! lane's backlog at a time), gives each send its group's next seq through im-core's
//! [`Sequencer`] over the database (the store's unique keys make a redelivered or
//! retried send map to the seq it already got), and returns the stored messages for
//! [`STORED_TOPIC`]. The router acknowledges the sends only after the stored messages
//! are published, so a crash anywhere in between redelivers them, and the redelivery
//! stores nothing twice. Each stored message carries its group's membership version,
//! read by the store's writer after the message was written, so the nodes know whether
//! their cached member lists are recent enough to push it.

use std::sync::Arc;

use async_trait::async_trait;
use im_core::sequencer::Sequencer;
use im_core::store::Appended;
use mq::{BatchFailure, BatchHandler, HandlerContext, HandlerError, Message};

use super::store::SqlMessages;
use super::wire::{SendRequest, StoredEnvelope};

/// The sequencer and persister handler (see the module docs).
pub struct Persister {
    sequencer: Sequencer,
    messages: SqlMessages,
}

impl std::fmt::Debug for Persister {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persister").finish_non_exhaustive()
    }
}

impl Persister {
    /// A persister writing to `messages`.
    pub fn new(messages: SqlMessages) -> Self {
        Self {
            sequencer: Sequencer::new(Arc::new(messages.clone())),
            messages,
        }
    }
}

#[async_trait]
impl BatchHandler for Persister {
    /// Sequences and stores a lane's sends in one go (one transaction through the
    /// store's batch writer) and returns one stored message per send, in order. A send
    /// that does not decode ends the batch there: the sends before it are handled, and
    /// the router hands the bad one to the poison queue on its own.
    async fn handle_batch(
        &self,
        msgs: Vec<Message>,
        _ctx: &HandlerContext,
    ) -> Result<Vec<Message>, BatchFailure> {
        let mut requests = Vec::with_capacity(msgs.len());
        let mut undecodable = None;
        for msg in &msgs {
            match msg.decode_json::<SendRequest>() {
                Ok(request) => requests.push(request),
                Err(e) => {
                    undecodable = Some(HandlerError::permanent(e));
                    break;
                }
            }
        }
        let origins: Vec<_> = requests.iter().map(|r| r.origin.clone()).collect();
        let drafts = requests.into_iter().map(SendRequest::into_draft).collect();
        let appended = self
            .sequencer
            .append_batch(drafts)
            .await
            .map_err(|e| BatchFailure::first(HandlerError::transient(e)))?;
        let mut out = Vec::with_capacity(appended.len());
        for (appended, origin) in appended.into_iter().zip(origins) {
            let (message, duplicate) = match appended {
                Appended::Stored(message) => (message, false),
                Appended::Duplicate(message) => (message, true),
            };
            let member_version = self.messages.member_version(&message.group_id);
            let envelope = StoredEnvelope {
                message,
                duplicate,
                origin,
                member_version,
            };
            let key = envelope.message.group_id.to_string();
            match Message::json(&envelope) {
                Ok(message) => out.push(message.with_key(key)),
                Err(e) => {
                    let handled = out.len();
                    return Err(BatchFailure::at(handled, out, HandlerError::permanent(e)));
                }
            }
        }
        match undecodable {
            Some(error) => Err(BatchFailure::at(out.len(), out, error)),
            None => Ok(out),
        }
    }
}
