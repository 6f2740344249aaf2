//! `social_im.im.v1.GroupService`: the IM service's groups for other services.

use std::sync::Arc;

use domain::service::GroupService;
use domain::{ActivityId, Group, GroupId, GroupStatus, MemberRole, UserId};
use tonic::{Request, Response, Status};

use super::pb::im::group_service_server::{self, GroupServiceServer};
use super::pb::im::{
    self as pb, DissolveRequest, GetGroupByActivityRequest, GetGroupRequest, ListMembersRequest,
    ListMembersResponse, RemoveMemberRequest, RemoveMemberResponse,
};
use super::status::{invalid, to_status};

/// The gRPC face of [`GroupService`].
#[derive(Clone, Debug)]
pub struct GroupGrpc {
    groups: Arc<GroupService>,
}

impl GroupGrpc {
    /// A tonic service over `groups`.
    pub fn server(groups: Arc<GroupService>) -> GroupServiceServer<Self> {
        GroupServiceServer::new(Self { groups })
    }
}

fn to_pb(g: Group) -> pb::Group {
    pb::Group {
        group_id: g.id.to_string(),
        activity_id: g.activity_id.to_string(),
        owner_id: g.owner_id.to_string(),
        status: match g.status {
            GroupStatus::Active => "active",
            GroupStatus::Dissolved => "dissolved",
        }
        .to_owned(),
        created_at_ms: g.created_at.unix_millis(),
        dissolved_at_ms: g.dissolved_at.map(|t| t.unix_millis()).unwrap_or(0),
    }
}

fn group_id(raw: &str) -> Result<GroupId, Status> {
    GroupId::parse(raw).map_err(|e| invalid("group_id", e))
}

/// Who acts: the caller's token decides; an `actor_id` that names someone else is
/// refused (nobody acts for another user by naming them).
fn acting_user<T>(request: &Request<T>, actor_id: &str) -> Result<UserId, Status> {
    let caller = super::auth::caller(request)?;
    if !actor_id.is_empty() && user_id("actor_id", actor_id)? != caller {
        return Err(Status::permission_denied(
            "forbidden: actor_id must be the caller (the token's user)",
        ));
    }
    Ok(caller)
}

fn user_id(field: &str, raw: &str) -> Result<UserId, Status> {
    UserId::parse(raw).map_err(|e| invalid(field, e))
}

impl GroupGrpc {
    /// A user may read a group only as a member (as over HTTP); the platform's
    /// services read any.
    async fn may_read(&self, caller: &UserId, group: &GroupId) -> Result<(), Status> {
        if super::auth::is_service(caller) {
            return Ok(());
        }
        match self
            .groups
            .is_member(group, caller)
            .await
            .map_err(to_status)?
        {
            true => Ok(()),
            false => Err(Status::permission_denied(format!(
                "not_member: {}",
                domain::DomainError::NotMember
            ))),
        }
    }
}

#[tonic::async_trait]
impl group_service_server::GroupService for GroupGrpc {
    async fn get_group_by_activity(
        &self,
        request: Request<GetGroupByActivityRequest>,
    ) -> Result<Response<pb::Group>, Status> {
        let caller = super::auth::caller(&request)?;
        let raw = request.into_inner().activity_id;
        let id = ActivityId::parse(&raw).map_err(|e| invalid("activity_id", e))?;
        match self
            .groups
            .group_by_activity(&id)
            .await
            .map_err(to_status)?
        {
            Some(group) => {
                self.may_read(&caller, &group.id).await?;
                Ok(Response::new(to_pb(group)))
            }
            None => Err(Status::not_found(
                "not_found: the activity has no group yet",
            )),
        }
    }

    async fn get_group(
        &self,
        request: Request<GetGroupRequest>,
    ) -> Result<Response<pb::Group>, Status> {
        let caller = super::auth::caller(&request)?;
        let id = group_id(&request.into_inner().group_id)?;
        let group = self.groups.group(&id).await.map_err(to_status)?;
        self.may_read(&caller, &id).await?;
        Ok(Response::new(to_pb(group)))
    }

    async fn list_members(
        &self,
        request: Request<ListMembersRequest>,
    ) -> Result<Response<ListMembersResponse>, Status> {
        let caller = super::auth::caller(&request)?;
        let id = group_id(&request.into_inner().group_id)?;
        self.groups.group(&id).await.map_err(to_status)?;
        self.may_read(&caller, &id).await?;
        let members = self.groups.members(&id).await.map_err(to_status)?;
        Ok(Response::new(ListMembersResponse {
            members: members
                .into_iter()
                .map(|m| pb::Member {
                    user_id: m.user_id.to_string(),
                    role: match m.role {
                        MemberRole::Owner => "owner",
                        MemberRole::Member => "member",
                    }
                    .to_owned(),
                    joined_at_ms: m.joined_at.unix_millis(),
                })
                .collect(),
        }))
    }

    async fn remove_member(
        &self,
        request: Request<RemoveMemberRequest>,
    ) -> Result<Response<RemoveMemberResponse>, Status> {
        let actor = acting_user(&request, &request.get_ref().actor_id)?;
        let r = request.into_inner();
        let group = group_id(&r.group_id)?;
        let user = user_id("user_id", &r.user_id)?;
        self.groups
            .remove_member(&actor, &group, &user)
            .await
            .map_err(to_status)?;
        Ok(Response::new(RemoveMemberResponse {}))
    }

    async fn dissolve(
        &self,
        request: Request<DissolveRequest>,
    ) -> Result<Response<pb::Group>, Status> {
        let actor = acting_user(&request, &request.get_ref().actor_id)?;
        let group = group_id(&request.into_inner().group_id)?;
        let group = self
            .groups
            .dissolve(&actor, &group)
            .await
            .map_err(to_status)?;
        Ok(Response::new(to_pb(group)))
    }
}
