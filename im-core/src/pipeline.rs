//! Hooks an application plugs into the [`Engine`](crate::Engine): where a send goes
//! after the engine's checks, and what happens when a session starts.

use async_trait::async_trait;

use crate::conn_manager::SessionHandle;
use crate::error::EngineError;
use crate::sequencer::Draft;
use crate::store::Appended;

/// Where a send goes once the engine has checked it (membership, sizes, ids).
///
/// Without a pipeline the engine sequences in process: one owner per group assigns the
/// seq, stores, then fans out. A distributed deployment puts a broker in between: the
/// pipeline publishes the draft keyed by group, a sequencer/persister consumes each
/// partition in order, and every node hands the stored messages it receives to
/// [`Engine::deliver_stored`](crate::Engine::deliver_stored), which pushes them in seq
/// order. `submit` returns once the message is stored (the sender's `send_ok`).
///
/// ```
/// use im_core::{pipeline::SendPipeline, sequencer::Draft, store::Appended, EngineError};
/// use im_core::protocol::ErrorCode;
///
/// /// Refuses every send, e.g. while a group is read-only.
/// #[derive(Debug)]
/// struct ReadOnly;
/// #[async_trait::async_trait]
/// impl SendPipeline for ReadOnly {
///     async fn submit(&self, draft: Draft) -> Result<Appended, EngineError> {
///         Err(EngineError::Rejected { code: ErrorCode::GroupClosed, reason: format!("{} is read-only", draft.group_id) })
///     }
/// }
/// ```
#[async_trait]
pub trait SendPipeline: Send + Sync + 'static {
    /// Sequences and stores `draft`; returns the stored message (or the original one
    /// for a retried client message id). Fan-out is the pipeline's business: it must
    /// lead to `deliver_stored` on every node with members online.
    async fn submit(&self, draft: Draft) -> Result<Appended, EngineError>;

    /// Whether `submit` checks that the sender is a member itself (answering
    /// [`EngineError::NotMember`] when not), so that the engine skips its own
    /// [`Membership::is_member`](crate::membership::Membership::is_member) call
    /// before it. A pipeline that reads the group anyway (its status, say) can answer
    /// both in one read. Default `false`: the engine checks.
    fn checks_membership(&self) -> bool {
        false
    }
}

/// Called when a session has authenticated and is registered, before any other frame
/// is handled (e.g. to push the notifications a user received while offline, or to
/// record where the user is connected), and when it has ended.
#[async_trait]
pub trait SessionHook: Send + Sync + 'static {
    /// The session of `session.user()` has started.
    async fn on_session_started(&self, session: &SessionHandle);

    /// The session has ended (it is unregistered already). Default: nothing.
    async fn on_session_ended(&self, session: &SessionHandle) {
        let _ = session;
    }
}
