//! The IM service's HTTP routes: groups, members, history, notifications, and the
//! WebSocket upgrade at `/ws`.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use domain::auth::TokenIssuer;
use domain::service::{GroupService, NotificationService};
use domain::{DomainError, Group, GroupId, GroupMember, Notification, Store, UserId};
use im_core::protocol::ErrorCode;
use im_core::{Engine, EngineError, StoredMessage};
use serde::{Deserialize, Serialize};

use crate::http::{ApiError, ApiPath, ApiQuery, Caller};

/// What the IM routes need.
#[derive(Clone, Debug)]
pub struct ImState {
    /// Groups and members.
    pub groups: Arc<GroupService>,
    /// Notifications.
    pub notifications: Arc<NotificationService>,
    /// The database (read positions, latest seqs).
    pub store: Store,
    /// The real-time engine (history goes through its sync, so HTTP and WebSocket agree).
    pub engine: Engine,
    /// Verifies the callers' tokens.
    pub tokens: TokenIssuer,
    /// Names of the members (the user service).
    pub users: Arc<dyn super::directory::UserDirectory>,
}

impl FromRef<ImState> for TokenIssuer {
    fn from_ref(state: &ImState) -> Self {
        state.tokens.clone()
    }
}

/// The routes, to be merged into a server's router.
pub fn routes(state: ImState) -> Router {
    Router::new()
        .route("/api/v1/groups", get(my_groups))
        .route("/api/v1/groups/{id}", get(group))
        .route("/api/v1/groups/{id}/members", get(members))
        .route(
            "/api/v1/groups/{id}/members/{user_id}",
            delete(remove_member),
        )
        .route("/api/v1/groups/{id}/dissolve", post(dissolve))
        .route("/api/v1/groups/{id}/messages", get(history))
        .route("/api/v1/notifications", get(notifications))
        .route("/api/v1/notifications/unread_count", get(unread_count))
        .route("/api/v1/notifications/read", post(mark_read))
        .route("/ws", get(super::ws::upgrade))
        .with_state(state)
}

/// A group as clients see it.
#[derive(Debug, Serialize)]
struct GroupView {
    group_id: GroupId,
    activity_id: domain::ActivityId,
    owner_id: UserId,
    status: domain::GroupStatus,
    created_at: domain::Timestamp,
    dissolved_at: Option<domain::Timestamp>,
    /// The group's latest seq (0 before the first message).
    latest_seq: u64,
    /// The caller's read position.
    read_seq: u64,
    /// Messages after the read position.
    unread: u64,
}

async fn view(state: &ImState, group: Group, me: &UserId) -> Result<GroupView, DomainError> {
    let latest_seq = state.store.latest_seq(&group.id).await?;
    let read_seq = state.store.read_position(&group.id, me.as_str()).await?;
    Ok(GroupView {
        group_id: group.id,
        activity_id: group.activity_id,
        owner_id: group.owner_id,
        status: group.status,
        created_at: group.created_at,
        dissolved_at: group.dissolved_at,
        latest_seq,
        read_seq,
        unread: latest_seq.saturating_sub(read_seq),
    })
}

fn group_id(raw: &str) -> Result<GroupId, ApiError> {
    GroupId::parse(raw).map_err(ApiError::from)
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(ApiError::from)
}

fn not_member() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "not_member",
        "not a member of this group",
    )
}

/// The group, if `me` is a member (404 for no group, 403 for a non-member).
async fn member_group(state: &ImState, id: &str, me: &UserId) -> Result<Group, ApiError> {
    let id = group_id(id)?;
    let group = state.groups.group(&id).await?;
    if !state.groups.is_member(&id, me).await? {
        return Err(not_member());
    }
    Ok(group)
}

#[derive(Debug, Serialize)]
struct GroupList {
    items: Vec<GroupView>,
}

async fn my_groups(
    State(state): State<ImState>,
    Caller(me): Caller,
) -> Result<Json<GroupList>, ApiError> {
    let mut items = Vec::new();
    for group in state.groups.groups_of(&me).await? {
        items.push(view(&state, group, &me).await?);
    }
    Ok(Json(GroupList { items }))
}

async fn group(
    State(state): State<ImState>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<GroupView>, ApiError> {
    let group = member_group(&state, &id, &me).await?;
    Ok(Json(view(&state, group, &me).await?))
}

/// A member as clients see it: the membership and, when the user service answered, the
/// names.
#[derive(Debug, Serialize)]
struct MemberView {
    #[serde(flatten)]
    member: GroupMember,
    username: Option<String>,
    nickname: Option<String>,
}

#[derive(Debug, Serialize)]
struct MemberList {
    items: Vec<MemberView>,
}

async fn members(
    State(state): State<ImState>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MemberList>, ApiError> {
    let group = member_group(&state, &id, &me).await?;
    let members = state.groups.members(&group.id).await?;
    let ids: Vec<UserId> = members.iter().map(|m| m.user_id.clone()).collect();
    let mut names = state.users.names(&ids).await;
    let items = members
        .into_iter()
        .map(|member| {
            let n = names.remove(member.user_id.as_str());
            MemberView {
                username: n.as_ref().map(|n| n.username.clone()),
                nickname: n.map(|n| n.nickname),
                member,
            }
        })
        .collect();
    Ok(Json(MemberList { items }))
}

async fn remove_member(
    State(state): State<ImState>,
    Caller(me): Caller,
    ApiPath((id, user)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (id, user) = (group_id(&id)?, user_id(&user)?);
    state.groups.remove_member(&me, &id, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn dissolve(
    State(state): State<ImState>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<GroupView>, ApiError> {
    let group = state.groups.dissolve(&me, &group_id(&id)?).await?;
    Ok(Json(view(&state, group, &me).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    after_seq: Option<u64>,
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
struct History {
    group_id: GroupId,
    messages: Vec<StoredMessage>,
    latest_seq: u64,
    has_more: bool,
}

/// im-core's refusals as HTTP errors.
fn engine_error(e: EngineError) -> ApiError {
    let status = match e.code() {
        ErrorCode::NotMember => StatusCode::FORBIDDEN,
        ErrorCode::InvalidField => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status.is_server_error() {
        tracing::error!(error = ?e, "history failed");
    }
    ApiError::new(status, e.code().as_str(), e.public_message())
}

async fn history(
    State(state): State<ImState>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<History>, ApiError> {
    let group = member_group(&state, &id, &me).await?;
    if query.limit.is_some_and(|l| !(1..=500).contains(&l)) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "limit must be 1 to 500",
        ));
    }
    let page = state
        .engine
        .sync(
            &im_core::UserId::from(me.as_str()),
            &im_core::GroupId::from(group.id.as_str()),
            query.after_seq.unwrap_or(0),
            query.limit,
        )
        .await
        .map_err(engine_error)?;
    Ok(Json(History {
        group_id: group.id,
        messages: page.messages,
        latest_seq: page.latest_seq,
        has_more: page.has_more,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotificationQuery {
    unread: Option<bool>,
    before: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
struct NotificationList {
    items: Vec<Notification>,
    unread_count: u64,
}

async fn notifications(
    State(state): State<ImState>,
    Caller(me): Caller,
    ApiQuery(query): ApiQuery<NotificationQuery>,
) -> Result<Json<NotificationList>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "limit must be 1 to 200",
        ));
    }
    let items = state
        .notifications
        .list(
            &me,
            query.unread.unwrap_or(false),
            query.before.as_deref(),
            limit,
        )
        .await?;
    let unread_count = state.notifications.unread_count(&me).await?;
    Ok(Json(NotificationList {
        items,
        unread_count,
    }))
}

#[derive(Debug, Serialize)]
struct UnreadCount {
    unread_count: u64,
}

async fn unread_count(
    State(state): State<ImState>,
    Caller(me): Caller,
) -> Result<Json<UnreadCount>, ApiError> {
    let unread_count = state.notifications.unread_count(&me).await?;
    Ok(Json(UnreadCount { unread_count }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MarkRead {
    /// The notifications to mark; absent = all of mine.
    ids: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
struct Marked {
    marked: u64,
    unread_count: u64,
}

async fn mark_read(
    State(state): State<ImState>,
    Caller(me): Caller,
    body: axum::body::Bytes,
) -> Result<Json<Marked>, ApiError> {
    // No body marks everything; otherwise `{"ids": [...]}` (or `{}`).
    let ids = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let parsed: MarkRead = serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                e.to_string(),
            )
        })?;
        parsed.ids
    };
    if ids.as_ref().is_some_and(|ids| ids.len() > 500) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "at most 500 ids at once",
        ));
    }
    let marked = state.notifications.mark_read(&me, ids.as_deref()).await?;
    let unread_count = state.notifications.unread_count(&me).await?;
    Ok(Json(Marked {
        marked,
        unread_count,
    }))
}
