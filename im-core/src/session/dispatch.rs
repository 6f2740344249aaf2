//! Handling one client frame of an authenticated session.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::close::CloseReason;
use crate::conn_manager::SessionHandle;
use crate::connection::{FrameHandler, TextFrame};
use crate::engine::Engine;
use crate::ids::{SessionId, UserId};
use crate::metrics as m;
use crate::outbound::{OutFrame, Outbound};
use crate::protocol::{ClientFrame, ErrorCode, ServerFrame};
use crate::store::Appended;

/// What a session's handler needs.
pub(super) struct Context {
    engine: Engine,
    handle: SessionHandle,
    limiter: Option<DefaultDirectRateLimiter>,
}

impl FrameHandler for Context {
    async fn on_text(&self, text: TextFrame) {
        handle_text(self, text.as_str()).await;
    }

    fn on_binary(&self, _len: usize) {
        self.reply_error(
            ErrorCode::BinaryNotSupported,
            "only text frames carry the protocol",
            None,
        );
    }

    fn on_close(&self, _reason: &CloseReason) {
        self.engine.connections().unregister(&self.handle);
    }
}

impl Context {
    pub(super) fn new(engine: Engine, handle: SessionHandle) -> Self {
        let limiter = engine.config().rate_limit.and_then(|limit| {
            let rate = NonZeroU32::new(limit.per_second)?;
            let burst = NonZeroU32::new(limit.burst).unwrap_or(rate);
            Some(RateLimiter::direct(
                Quota::per_second(rate).allow_burst(burst),
            ))
        });
        Self {
            engine,
            handle,
            limiter,
        }
    }

    pub(super) fn session_id(&self) -> SessionId {
        self.handle.id()
    }

    fn user(&self) -> &UserId {
        self.handle.user()
    }

    fn outbound(&self) -> &Arc<Outbound> {
        self.handle.outbound()
    }

    /// Queues a reply (a full queue disconnects the session; the loop notices).
    fn reply(&self, frame: &ServerFrame) {
        let _ = self.outbound().push(OutFrame::encode(frame));
    }

    /// Queues an error reply.
    fn reply_error(&self, code: ErrorCode, message: &str, reference: Option<String>) {
        metrics::counter!(m::ERRORS, "code" => code.as_str()).increment(1);
        self.reply(&ServerFrame::error(code, message, reference));
    }
}

/// Decodes and handles one text frame; every failure becomes an `error` reply.
async fn handle_text(ctx: &Context, text: &str) {
    let frame = match ClientFrame::decode(text) {
        Ok(frame) => frame,
        Err(e) => return ctx.reply_error(e.code(), &e.to_string(), None),
    };
    if let Some(limiter) = &ctx.limiter {
        if limiter.check().is_err() {
            return ctx.reply_error(
                ErrorCode::RateLimited,
                "too many frames; slow down",
                reference_of(&frame),
            );
        }
    }
    let engine = &ctx.engine;
    let user = ctx.user();
    let result = match &frame {
        ClientFrame::Auth { .. } => {
            return ctx.reply_error(
                ErrorCode::AlreadyAuthenticated,
                "already authenticated",
                None,
            )
        }
        ClientFrame::Ping => return ctx.reply(&ServerFrame::Pong),
        ClientFrame::Send {
            group_id,
            client_msg_id,
            body,
        } => engine
            .send(user, group_id, client_msg_id.clone(), body.clone())
            .await
            .map(|appended| {
                let stored = match appended {
                    Appended::Stored(m) | Appended::Duplicate(m) => m,
                };
                Some(ServerFrame::SendOk {
                    client_msg_id: stored.client_msg_id,
                    group_id: stored.group_id,
                    seq: stored.seq,
                })
            }),
        ClientFrame::Sync {
            group_id,
            after_seq,
            limit,
        } => engine
            .sync(user, group_id, *after_seq, *limit)
            .await
            .map(|page| {
                Some(ServerFrame::SyncResult {
                    group_id: page.group_id,
                    messages: page.messages,
                    latest_seq: page.latest_seq,
                    has_more: page.has_more,
                })
            }),
        ClientFrame::Latest { group_ids } => engine
            .latest(user, group_ids.as_deref())
            .await
            .map(|groups| Some(ServerFrame::LatestResult { groups })),
        ClientFrame::Ack { group_id, seq } => engine.ack(user, group_id, *seq).await.map(|_| None),
        ClientFrame::Read { group_id, seq } => {
            engine.mark_read(user, group_id, *seq).await.map(|_| None)
        }
    };
    match result {
        Ok(Some(reply)) => ctx.reply(&reply),
        Ok(None) => {}
        Err(e) => {
            if e.code() == ErrorCode::Internal {
                tracing::warn!(user = %user, error = ?e, "request failed");
            }
            ctx.reply_error(e.code(), &e.public_message(), reference_of(&frame));
        }
    }
}

/// What an error reply refers to: the `client_msg_id` of a send, else the group.
fn reference_of(frame: &ClientFrame) -> Option<String> {
    match frame {
        ClientFrame::Send { client_msg_id, .. } => Some(client_msg_id.to_string()),
        ClientFrame::Sync { group_id, .. }
        | ClientFrame::Ack { group_id, .. }
        | ClientFrame::Read { group_id, .. } => Some(group_id.to_string()),
        ClientFrame::Auth { .. } | ClientFrame::Ping | ClientFrame::Latest { .. } => None,
    }
}
