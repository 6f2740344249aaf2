//! A session: the JSON protocol of one authenticated user on one [`Connection`].
//!
//! The session authenticates the connection (the first frame must be `auth`), registers
//! it with the connection manager, then lets the connection loop run with the protocol's
//! [`dispatch::Context`] as its frame handler. Closing unregisters it first, then the
//! connection says goodbye with the reason.

mod auth_phase;
mod dispatch;
mod entry;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::close::CloseReason;
use crate::connection::Connection;
use crate::engine::Engine;
use crate::metrics as m;
use crate::outbound::{OutFrame, Outbound};
use crate::protocol::ServerFrame;

/// Runs a session over an open connection until it closes; returns why it closed.
pub(crate) async fn run<S>(engine: Engine, mut conn: Connection<S>) -> CloseReason
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let user = match auth_phase::authenticate(&engine, &mut conn).await {
        Ok(user) => user,
        Err(reason) => {
            conn.finish(&reason).await;
            metrics::counter!(m::DISCONNECTS, "reason" => reason.as_str()).increment(1);
            return reason;
        }
    };

    let outbound = Arc::new(Outbound::new(conn.config().outbound_limit_bytes));
    // Queued before registration, so it is the first frame the client gets.
    let _ = outbound.push(OutFrame::encode(&ServerFrame::AuthOk {
        user_id: user.clone(),
    }));
    let handle = engine
        .connections()
        .register(user.clone(), outbound.clone());
    tracing::debug!(user = %user, session = %handle.id(), "session started");
    if let Some(hook) = &engine.inner.session_hook {
        hook.on_session_started(&handle).await;
    }
    let hook = engine.inner.session_hook.clone();
    let ctx = dispatch::Context::new(engine, handle.clone());
    let reason = conn.run(&outbound, &ctx).await;
    if let Some(hook) = hook {
        hook.on_session_ended(&handle).await;
    }
    tracing::debug!(session = %ctx.session_id(), reason = %reason, "session closed");
    reason
}
