//! [`BrokerPipeline`]: the gateway half of a send. It checks what only the IM service
//! knows (the sender is a member and the group is open, in one read; the body is text
//! of an allowed size; the sender's rate),
//! publishes the send to [`SEND_TOPIC`] keyed by group, and waits for the persister's
//! stored message to come back on [`STORED_TOPIC`] (every node consumes it).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::service::GroupService;
use domain::GroupStatus;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use im_core::pipeline::SendPipeline;
use im_core::protocol::ErrorCode;
use im_core::sequencer::Draft;
use im_core::store::Appended;
use im_core::EngineError;
use mq::{Message, Publisher};

use super::store::SqlMessages;
use super::waiters::Waiters;
use super::wire::{SendRequest, SEND_TOPIC};

/// Limits of chat messages.
#[derive(Clone, Copy, Debug)]
pub struct ChatLimits {
    /// Most characters of a message's text.
    pub max_text_chars: usize,
    /// Messages a user may send per second, sustained (all devices together).
    pub sends_per_second: u32,
    /// Messages a user may send in a burst.
    pub send_burst: u32,
    /// How long a send waits for its seq before answering `unavailable`.
    pub confirm_timeout: Duration,
}

impl Default for ChatLimits {
    fn default() -> Self {
        Self {
            max_text_chars: 4000,
            sends_per_second: 20,
            send_burst: 40,
            confirm_timeout: Duration::from_secs(10),
        }
    }
}

/// The send pipeline of the IM service (see the module docs).
pub struct BrokerPipeline {
    publisher: Arc<dyn Publisher>,
    groups: Arc<GroupService>,
    messages: SqlMessages,
    waiters: Waiters,
    limits: ChatLimits,
    rate: DefaultKeyedRateLimiter<String>,
    node: String,
}

impl std::fmt::Debug for BrokerPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerPipeline")
            .field("limits", &self.limits)
            .field("waiting", &self.waiters.len())
            .finish_non_exhaustive()
    }
}

fn rejected(code: ErrorCode, reason: impl Into<String>) -> EngineError {
    EngineError::Rejected {
        code,
        reason: reason.into(),
    }
}

impl BrokerPipeline {
    /// A pipeline publishing through `publisher`; `waiters` is shared with this node's
    /// stored-message consumer.
    pub fn new(
        publisher: Arc<dyn Publisher>,
        groups: Arc<GroupService>,
        messages: SqlMessages,
        waiters: Waiters,
        limits: ChatLimits,
        node: &str,
    ) -> Self {
        let per_second = NonZeroU32::new(limits.sends_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.send_burst).unwrap_or(per_second);
        Self {
            publisher,
            groups,
            messages,
            waiters,
            limits,
            rate: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            node: node.to_owned(),
        }
    }

    /// Text only: a JSON string, or an object with a string `text`, of 1 to
    /// `max_text_chars` characters.
    fn check_text(&self, draft: &Draft) -> Result<(), EngineError> {
        let value = draft.body.to_value();
        let text = match &value {
            serde_json::Value::String(s) => Some(s.as_str()),
            serde_json::Value::Object(o) => o.get("text").and_then(|t| t.as_str()),
            _ => None,
        };
        let Some(text) = text else {
            return Err(rejected(
                ErrorCode::InvalidField,
                "body must be a text string, or an object with a string `text`",
            ));
        };
        let chars = text.chars().count();
        if text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(rejected(
                ErrorCode::InvalidField,
                "the text has control characters (only newlines and tabs are allowed)",
            ));
        }
        // Whitespace and zero-width characters alone show nothing: empty.
        let invisible = |c: char| {
            c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
        };
        if text.chars().all(invisible) {
            return Err(rejected(ErrorCode::InvalidField, "the text is empty"));
        }
        if chars > self.limits.max_text_chars {
            return Err(rejected(
                ErrorCode::BodyTooLarge,
                format!(
                    "the text has {chars} characters; at most {} allowed",
                    self.limits.max_text_chars
                ),
            ));
        }
        Ok(())
    }

    /// The stored original of a retried send, if any (a failed read counts as none).
    async fn original(&self, draft: &Draft) -> Option<im_core::StoredMessage> {
        self.messages
            .original(
                &draft.group_id,
                &draft.sender_id,
                draft.client_msg_id.as_str(),
            )
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "looking up a retried send failed");
                None
            })
    }

    /// The sender is a member of an open group (one read): `not_member` otherwise
    /// (also for a group that does not exist), `group_closed` for a dissolved one.
    async fn check_standing(&self, draft: &Draft) -> Result<(), EngineError> {
        let (Ok(group), Ok(user)) = (
            domain::GroupId::parse(draft.group_id.as_str()),
            domain::UserId::parse(draft.sender_id.as_str()),
        ) else {
            return Err(EngineError::NotMember);
        };
        match self.groups.sender_standing(&group, &user).await {
            Ok(s) if !s.member => Err(EngineError::NotMember),
            Ok(s) if s.status == GroupStatus::Dissolved => Err(rejected(
                ErrorCode::GroupClosed,
                "the group was dissolved; it accepts no messages",
            )),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == domain::ErrorKind::NotFound => Err(EngineError::NotMember),
            Err(e) => {
                tracing::warn!(error = %e, "group lookup failed");
                Err(rejected(ErrorCode::Internal, "internal error; retry later"))
            }
        }
    }
}

#[async_trait]
impl SendPipeline for BrokerPipeline {
    async fn submit(&self, draft: Draft) -> Result<Appended, EngineError> {
        if let Err(refused) = self.check_standing(&draft).await {
            // A retry of a message stored before the sender was removed or the group
            // dissolved still gets its original seq: the retry changes nothing.
            return match self.original(&draft).await {
                Some(original) => Ok(Appended::Duplicate(original)),
                None => Err(refused),
            };
        }
        if self.rate.check_key(&draft.sender_id.to_string()).is_err() {
            return Err(rejected(
                ErrorCode::RateLimited,
                format!(
                    "at most {} messages per second; retry later with the same client_msg_id",
                    self.limits.sends_per_second
                ),
            ));
        }
        self.check_text(&draft)?;
        let request = SendRequest::from_draft(&draft, &self.node);
        let key = (
            request.group_id.clone(),
            request.sender_id.clone(),
            request.client_msg_id.clone(),
        );
        let message = Message::json(&request)
            .map_err(|e| rejected(ErrorCode::Internal, e.to_string()))?
            .with_key(request.group_id.clone());
        let answer = self.waiters.register(key.clone());
        if let Err(e) = self.publisher.publish(SEND_TOPIC, vec![message]).await {
            self.waiters.forget_abandoned(&key);
            tracing::warn!(error = %e, "publishing a send failed");
            return Err(rejected(
                ErrorCode::Unavailable,
                "the message pipeline is unavailable; retry with the same client_msg_id",
            ));
        }
        let outcome = tokio::time::timeout(self.limits.confirm_timeout, answer).await;
        match outcome {
            Ok(Ok(stored)) if stored.duplicate => Ok(Appended::Duplicate(stored.message)),
            Ok(Ok(stored)) => Ok(Appended::Stored(stored.message)),
            Ok(Err(_)) | Err(_) => {
                self.waiters.forget_abandoned(&key);
                Err(rejected(
                    ErrorCode::Unavailable,
                    "not confirmed in time; retry with the same client_msg_id",
                ))
            }
        }
    }

    /// The sender's membership is checked here, with the group's status, in one read.
    fn checks_membership(&self) -> bool {
        true
    }
}
