//! The user service's HTTP routes (`/api/v1/users/...`).

use std::sync::Arc;

use axum::extract::FromRef;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use domain::auth::TokenIssuer;
use domain::service::{NewUser, ProfileUpdate, UserService};
use domain::{Profile, UserId};
use serde::{Deserialize, Serialize};

use super::login_limit::LoginLimit;
use crate::http::{ApiError, ApiJson, ApiPath, Caller};

/// What the user routes need.
#[derive(Clone, Debug)]
pub struct UserState {
    /// The business logic.
    pub users: Arc<UserService>,
    /// Verifies the callers' tokens.
    pub tokens: TokenIssuer,
    /// Login attempts per account.
    pub login_limit: Arc<LoginLimit>,
}

impl FromRef<UserState> for TokenIssuer {
    fn from_ref(state: &UserState) -> Self {
        state.tokens.clone()
    }
}

/// The routes, to be merged into a server's router.
pub fn routes(state: UserState) -> Router {
    Router::new()
        .route("/api/v1/users/register", post(register))
        .route("/api/v1/users/login", post(login))
        .route("/api/v1/users/me", get(me).patch(update_me))
        .route("/api/v1/users/{id}", get(user))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    username: String,
    password: String,
    nickname: Option<String>,
}

#[derive(Debug, Serialize)]
struct RegisterResponse {
    user_id: UserId,
}

async fn register(
    axum::extract::State(state): axum::extract::State<UserState>,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<RegisterResponse>), ApiError> {
    let profile = state
        .users
        .register(NewUser {
            username: body.username,
            password: body.password,
            nickname: body.nickname,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(RegisterResponse {
            user_id: profile.user_id,
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Debug, Serialize)]
struct LoginResponse {
    token: String,
    user_id: UserId,
    expires_at: domain::Timestamp,
}

async fn login(
    axum::extract::State(state): axum::extract::State<UserState>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    state.login_limit.attempt(&body.username)?;
    let issued = state.users.login(&body.username, &body.password).await?;
    Ok(Json(LoginResponse {
        token: issued.token,
        user_id: issued.user_id,
        expires_at: issued.expires_at,
    }))
}

async fn me(
    axum::extract::State(state): axum::extract::State<UserState>,
    Caller(me): Caller,
) -> Result<Json<Profile>, ApiError> {
    Ok(Json(state.users.profile(&me).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateProfile {
    nickname: String,
}

async fn update_me(
    axum::extract::State(state): axum::extract::State<UserState>,
    Caller(me): Caller,
    ApiJson(body): ApiJson<UpdateProfile>,
) -> Result<Json<Profile>, ApiError> {
    let update = ProfileUpdate {
        nickname: Some(body.nickname),
    };
    Ok(Json(state.users.update_profile(&me, update).await?))
}

async fn user(
    axum::extract::State(state): axum::extract::State<UserState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Profile>, ApiError> {
    let id =
        UserId::parse(&id).map_err(|_| ApiError::from(domain::DomainError::not_found("user")))?;
    Ok(Json(state.users.profile(&id).await?))
}
