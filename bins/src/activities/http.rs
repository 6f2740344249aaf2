//! The activity service's HTTP routes (`/api/v1/activities/...`).

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use domain::auth::TokenIssuer;
use domain::{
    ActivityId, ActivityPatch, ActivityService, DomainError, NewActivity, PageRequest, Timestamp,
    UserId,
};
use serde::{Deserialize, Serialize};

use super::view::{ActivityView, SignupView};
use crate::http::{ApiError, ApiJson, ApiPath, ApiQuery, Caller};

/// What the activity routes need.
#[derive(Clone, Debug)]
pub struct ActivityState {
    /// The business logic.
    pub activities: Arc<ActivityService>,
    /// Verifies the callers' tokens.
    pub tokens: TokenIssuer,
}

impl FromRef<ActivityState> for TokenIssuer {
    fn from_ref(state: &ActivityState) -> Self {
        state.tokens.clone()
    }
}

/// The routes, to be merged into a server's router.
pub fn routes(state: ActivityState) -> Router {
    Router::new()
        .route("/api/v1/activities", post(create).get(list))
        .route("/api/v1/activities/{id}", get(one).patch(update))
        .route("/api/v1/activities/{id}/cancel", post(cancel))
        .route(
            "/api/v1/activities/{id}/signups",
            post(sign_up).get(signups),
        )
        .route("/api/v1/activities/{id}/signups/me", delete(leave))
        .route(
            "/api/v1/activities/{id}/signups/{user_id}/approve",
            post(approve),
        )
        .route(
            "/api/v1/activities/{id}/signups/{user_id}/reject",
            post(reject),
        )
        .with_state(state)
}

fn activity_id(raw: &str) -> Result<ActivityId, ApiError> {
    ActivityId::parse(raw).map_err(|_| ApiError::from(DomainError::not_found("activity")))
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|_| ApiError::from(DomainError::not_found("user")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    location: String,
    starts_at: Timestamp,
    capacity: i64,
    #[serde(default)]
    requires_approval: bool,
}

async fn create(
    State(state): State<ActivityState>,
    Caller(me): Caller,
    ApiJson(body): ApiJson<CreateRequest>,
) -> Result<(StatusCode, Json<ActivityView>), ApiError> {
    let new = NewActivity {
        title: body.title,
        description: body.description,
        location: body.location,
        starts_at: body.starts_at,
        capacity: body.capacity,
        requires_approval: body.requires_approval,
    };
    let activity = state.activities.create(&me, new).await?;
    Ok((StatusCode::CREATED, Json(activity.into())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
struct ListResponse {
    items: Vec<ActivityView>,
    next_cursor: Option<String>,
}

async fn list(
    State(state): State<ActivityState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse>, ApiError> {
    let page = state
        .activities
        .list(&PageRequest {
            cursor: query.cursor,
            limit: query.limit,
        })
        .await?;
    Ok(Json(ListResponse {
        items: page.items.into_iter().map(ActivityView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

async fn one(
    State(state): State<ActivityState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ActivityView>, ApiError> {
    Ok(Json(state.activities.get(&activity_id(&id)?).await?.into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    title: Option<String>,
    description: Option<String>,
    location: Option<String>,
    starts_at: Option<Timestamp>,
    capacity: Option<i64>,
    requires_approval: Option<bool>,
}

async fn update(
    State(state): State<ActivityState>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateRequest>,
) -> Result<Json<ActivityView>, ApiError> {
    let patch = ActivityPatch {
        title: body.title,
        description: body.description,
        location: body.location,
        starts_at: body.starts_at,
        capacity: body.capacity,
        requires_approval: body.requires_approval,
    };
    let id = activity_id(&id)?;
    Ok(Json(state.activities.update(&me, &id, patch).await?.into()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelRequest {
    #[serde(default)]
    reason: String,
}

async fn cancel(
    State(state): State<ActivityState>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    body: axum::body::Bytes,
) -> Result<Json<ActivityView>, ApiError> {
    // The body is optional: no body means no reason.
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        CancelRequest::default()
    } else {
        serde_json::from_slice::<CancelRequest>(&body).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                format!("invalid cancel request: {e}"),
            )
        })?
    }
    .reason;
    let id = activity_id(&id)?;
    Ok(Json(
        state.activities.cancel(&me, &id, &reason).await?.into(),
    ))
}

async fn sign_up(
    State(state): State<ActivityState>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<SignupView>), ApiError> {
    let id = activity_id(&id)?;
    let outcome = state.activities.sign_up(&me, &id).await?;
    Ok((StatusCode::CREATED, Json(outcome.signup.into())))
}

async fn leave(
    State(state): State<ActivityState>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.activities.leave(&me, &activity_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn signups(
    State(state): State<ActivityState>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<SignupView>>, ApiError> {
    let list = state.activities.signups(&me, &activity_id(&id)?).await?;
    Ok(Json(list.into_iter().map(SignupView::from).collect()))
}

async fn approve(
    State(state): State<ActivityState>,
    Caller(me): Caller,
    ApiPath((id, user)): ApiPath<(String, String)>,
) -> Result<Json<SignupView>, ApiError> {
    let (id, user) = (activity_id(&id)?, user_id(&user)?);
    let outcome = state.activities.approve(&me, &id, &user).await?;
    Ok(Json(outcome.signup.into()))
}

async fn reject(
    State(state): State<ActivityState>,
    Caller(me): Caller,
    ApiPath((id, user)): ApiPath<(String, String)>,
) -> Result<Json<SignupView>, ApiError> {
    let (id, user) = (activity_id(&id)?, user_id(&user)?);
    let outcome = state.activities.reject(&me, &id, &user).await?;
    Ok(Json(outcome.signup.into()))
}
