//! [`UserDirectory`]: the IM service asks the user service who its members are (names
//! for the member lists). In one process it calls the [`UserService`] directly; as a
//! separate server it calls the user server's gRPC `GetUsers` (`services.user_grpc`).
//! A lookup that fails leaves the names out; it never fails the request.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use domain::service::UserService;
use domain::{TokenIssuer, UserId};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::grpc::auth::ServiceToken;

use crate::grpc::pb::user::user_service_client::UserServiceClient;
use crate::grpc::pb::user::GetUsersRequest;

/// A user's names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The login name.
    pub username: String,
    /// The display name.
    pub nickname: String,
}

/// Most ids per lookup (the gRPC call's limit).
const BATCH: usize = 100;

/// Who users are.
#[async_trait]
pub trait UserDirectory: Send + Sync + std::fmt::Debug + 'static {
    /// The names of the users among `ids` that exist, by id; empty when the lookup
    /// failed.
    async fn names(&self, ids: &[UserId]) -> HashMap<String, Names>;
}

/// The user service in this process.
#[derive(Clone, Debug)]
pub struct LocalUsers(pub Arc<UserService>);

#[async_trait]
impl UserDirectory for LocalUsers {
    async fn names(&self, ids: &[UserId]) -> HashMap<String, Names> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(BATCH) {
            match self.0.profiles(chunk).await {
                Ok(profiles) => out.extend(profiles.into_iter().map(|p| {
                    let names = Names {
                        username: p.username.as_str().to_owned(),
                        nickname: p.nickname.as_str().to_owned(),
                    };
                    (p.user_id.to_string(), names)
                })),
                Err(e) => tracing::warn!(error = %e, "user lookup failed"),
            }
        }
        out
    }
}

/// The user server over gRPC (calls carry a service token).
#[derive(Clone, Debug)]
pub struct GrpcUsers {
    client: UserServiceClient<InterceptedService<Channel, ServiceToken>>,
}

impl GrpcUsers {
    /// A client of the user server at `url` (connected on first use), its calls
    /// authenticated with service tokens from `tokens`; `None` when `url` is not a
    /// valid URI.
    pub fn new(url: &str, tokens: TokenIssuer) -> Option<Self> {
        let endpoint = Channel::from_shared(url.to_owned()).ok()?;
        let channel = endpoint
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(5))
            .connect_lazy();
        Some(Self {
            client: UserServiceClient::with_interceptor(channel, ServiceToken::new(tokens)),
        })
    }
}

#[async_trait]
impl UserDirectory for GrpcUsers {
    async fn names(&self, ids: &[UserId]) -> HashMap<String, Names> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(BATCH) {
            let request = GetUsersRequest {
                user_ids: chunk.iter().map(|id| id.to_string()).collect(),
            };
            match self.client.clone().get_users(request).await {
                Ok(answer) => out.extend(answer.into_inner().users.into_iter().map(|u| {
                    let names = Names {
                        username: u.username,
                        nickname: u.nickname,
                    };
                    (u.user_id, names)
                })),
                Err(e) => tracing::warn!(error = %e, "user lookup over gRPC failed"),
            }
        }
        out
    }
}

/// No user service configured: no names.
#[derive(Clone, Copy, Debug)]
pub struct NoUsers;

#[async_trait]
impl UserDirectory for NoUsers {
    async fn names(&self, _ids: &[UserId]) -> HashMap<String, Names> {
        HashMap::new()
    }
}
