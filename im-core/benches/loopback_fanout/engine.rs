//! The full product path under the same load: im-core's `Engine` and its JSON protocol
//! (`docs/protocol.md`): `auth` first, every `send` sequenced per group, deduplicated and
//! stored (in-memory store) before it is pushed as a `message` (encoded once per send) to
//! every member's sessions. The connection's `?user=U&group=G` makes U a member of G (the
//! micro protocol's grouping); the token is the user id. `GET /stats` reports the
//! connection count only.

use std::sync::Arc;

use im_core::connection::{self, Rejection};
use im_core::membership::InMemoryMembership;
use im_core::store::InMemoryStore;
use im_core::{AuthError, Authenticator, Engine, EngineConfig, GroupId, UserId};
use tokio::net::TcpListener;

use crate::relay::{is_stats_request, respond_json};

#[derive(Debug)]
struct TokenIsUser;

#[async_trait::async_trait]
impl Authenticator for TokenIsUser {
    async fn authenticate(&self, token: &str) -> Result<UserId, AuthError> {
        Ok(UserId::from(token))
    }
}

/// Serves the JSON protocol on `addr` until the process is killed.
pub async fn serve(addr: &str) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let membership = Arc::new(InMemoryMembership::new());
    let engine = Engine::new(
        EngineConfig::default(),
        Arc::new(InMemoryStore::new()),
        membership.clone(),
        Arc::new(TokenIsUser),
    );
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (engine, membership) = (engine.clone(), membership.clone());
        tokio::spawn(async move {
            if is_stats_request(&tcp).await {
                let count = engine.connections().connection_count();
                let _ = respond_json(tcp, &format!(r#"{{"connections":{count}}}"#)).await;
                return;
            }
            let config = &engine.config().connection;
            let checked = connection::accept(tcp, config, |request| {
                match (request.query_param("user"), request.query_param("group")) {
                    (Some(u), Some(g)) => Ok((UserId::from(u), GroupId::from(g))),
                    _ => Err(Rejection::new(400, "user and group are required")),
                }
            })
            .await;
            if let Ok(((user, group), conn)) = checked {
                membership.add(group, user);
                engine.serve(conn).await;
            }
        });
    }
}
