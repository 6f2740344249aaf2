//! `social_im.user.v1.UserService`: profiles and token checks for other services.

use std::sync::Arc;

use domain::{Profile, TokenIssuer, UserId, UserService};
use tonic::{Request, Response, Status};

use super::pb::user::user_service_server::{self, UserServiceServer};
use super::pb::user::{
    GetUsersRequest, GetUsersResponse, UserProfile, VerifyTokenRequest, VerifyTokenResponse,
};
use super::status::{invalid, to_status};

/// The gRPC face of [`UserService`].
#[derive(Clone, Debug)]
pub struct UserGrpc {
    users: Arc<UserService>,
    tokens: TokenIssuer,
}

impl UserGrpc {
    /// A tonic service over `users`.
    pub fn server(users: Arc<UserService>, tokens: TokenIssuer) -> UserServiceServer<Self> {
        UserServiceServer::new(Self { users, tokens })
    }
}

fn to_pb(p: Profile) -> UserProfile {
    UserProfile {
        user_id: p.user_id.to_string(),
        username: p.username.as_str().to_owned(),
        nickname: p.nickname.as_str().to_owned(),
        created_at_ms: p.created_at.unix_millis(),
    }
}

#[tonic::async_trait]
impl user_service_server::UserService for UserGrpc {
    async fn get_users(
        &self,
        request: Request<GetUsersRequest>,
    ) -> Result<Response<GetUsersResponse>, Status> {
        let ids = request.into_inner().user_ids;
        let ids = ids
            .iter()
            .map(|id| UserId::parse(id).map_err(|e| invalid("user_ids", e)))
            .collect::<Result<Vec<_>, _>>()?;
        let users = self.users.profiles(&ids).await.map_err(to_status)?;
        Ok(Response::new(GetUsersResponse {
            users: users.into_iter().map(to_pb).collect(),
        }))
    }

    async fn verify_token(
        &self,
        request: Request<VerifyTokenRequest>,
    ) -> Result<Response<VerifyTokenResponse>, Status> {
        super::auth::require_service(&request)?;
        let claims = self
            .tokens
            .verify_claims(&request.into_inner().token)
            .map_err(to_status)?;
        Ok(Response::new(VerifyTokenResponse {
            user_id: claims.sub,
            expires_at_ms: claims.exp.saturating_mul(1000),
        }))
    }
}
