//! The server half: an `Engine` with in-memory storage behind a `TcpListener`.

use std::net::SocketAddr;
use std::sync::Arc;

use im_core::membership::InMemoryMembership;
use im_core::store::InMemoryStore;
use im_core::{AuthError, Authenticator, Engine, EngineConfig, UserId};
use tokio::task::JoinHandle;

/// A toy token check: `token-<name>` is user `<name>`. A real application verifies a JWT.
#[derive(Debug)]
struct DemoTokens;

#[async_trait::async_trait]
impl Authenticator for DemoTokens {
    async fn authenticate(&self, token: &str) -> Result<UserId, AuthError> {
        match token.strip_prefix("token-") {
            Some(name) if !name.is_empty() => Ok(UserId::from(name)),
            _ => Err(AuthError::Invalid("expected token-<name>".into())),
        }
    }
}

/// Binds `addr`, creates the `hike` group and serves connections until the task ends.
pub(crate) async fn start(
    addr: &str,
) -> anyhow::Result<(SocketAddr, JoinHandle<anyhow::Result<()>>)> {
    let membership = Arc::new(InMemoryMembership::new());
    for member in ["alice", "bob", "carol"] {
        membership.add("hike".into(), member.into());
    }
    let engine = Engine::new(
        EngineConfig::default(),
        Arc::new(InMemoryStore::new()),
        membership,
        Arc::new(DemoTokens),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let running = tokio::spawn(async move {
        loop {
            let (tcp, peer) = listener.accept().await?;
            let engine = engine.clone();
            tokio::spawn(async move {
                match engine.accept(tcp).await {
                    Ok(reason) => tracing::debug!(%peer, %reason, "session closed"),
                    Err(e) => tracing::debug!(%peer, error = %e, "not a WebSocket"),
                }
            });
        }
    });
    Ok((addr, running))
}
