//! `social_im.activity.v1.ActivityService`: activities for other services.

use std::sync::Arc;

use domain::{Activity, ActivityId, ActivityService, GroupId, SignupStatus};
use tonic::{Request, Response, Status};

use super::pb::activity::activity_service_server::{self, ActivityServiceServer};
use super::pb::activity::{
    self as pb, GetActivityRequest, ListMembersRequest, ListMembersResponse, SetGroupRequest,
    SetGroupResponse,
};
use super::status::{invalid, to_status};

/// The gRPC face of [`ActivityService`].
#[derive(Clone, Debug)]
pub struct ActivityGrpc {
    activities: Arc<ActivityService>,
}

impl ActivityGrpc {
    /// A tonic service over `activities`.
    pub fn server(activities: Arc<ActivityService>) -> ActivityServiceServer<Self> {
        ActivityServiceServer::new(Self { activities })
    }
}

fn to_pb(a: Activity) -> pb::Activity {
    pb::Activity {
        activity_id: a.id.to_string(),
        organiser_id: a.organiser_id.to_string(),
        title: a.title.as_str().to_owned(),
        description: a.description.as_str().to_owned(),
        location: a.location.as_str().to_owned(),
        starts_at_ms: a.starts_at.unix_millis(),
        capacity: a.capacity.get(),
        requires_approval: a.requires_approval,
        status: a.status.as_str().to_owned(),
        member_count: a.member_count,
        group_id: a
            .group_id
            .map(|g| g.as_str().to_owned())
            .unwrap_or_default(),
    }
}

fn activity_id(raw: &str) -> Result<ActivityId, Status> {
    ActivityId::parse(raw).map_err(|e| invalid("activity_id", e))
}

#[tonic::async_trait]
impl activity_service_server::ActivityService for ActivityGrpc {
    async fn get_activity(
        &self,
        request: Request<GetActivityRequest>,
    ) -> Result<Response<pb::Activity>, Status> {
        let id = activity_id(&request.into_inner().activity_id)?;
        let activity = self.activities.get(&id).await.map_err(to_status)?;
        Ok(Response::new(to_pb(activity)))
    }

    async fn list_members(
        &self,
        request: Request<ListMembersRequest>,
    ) -> Result<Response<ListMembersResponse>, Status> {
        let caller = super::auth::caller(&request)?;
        let id = activity_id(&request.into_inner().activity_id)?;
        let activity = self.activities.get(&id).await.map_err(to_status)?;
        // Who takes part is the organiser's to see (as the HTTP sign-up list), and
        // the platform's services'.
        if !super::auth::is_service(&caller) && !activity.is_organiser(&caller) {
            return Err(Status::permission_denied(
                "forbidden: only the organiser may list the members",
            ));
        }
        let signups = self
            .activities
            .signups(&activity.organiser_id, &id)
            .await
            .map_err(to_status)?;
        let mut user_ids = vec![activity.organiser_id.to_string()];
        user_ids.extend(
            signups
                .into_iter()
                .filter(|s| {
                    s.status == SignupStatus::Accepted && s.user_id != activity.organiser_id
                })
                .map(|s| s.user_id.to_string()),
        );
        Ok(Response::new(ListMembersResponse { user_ids }))
    }

    async fn set_group(
        &self,
        request: Request<SetGroupRequest>,
    ) -> Result<Response<SetGroupResponse>, Status> {
        if super::auth::caller(&request)?.as_str() != super::auth::SERVICE_ID {
            return Err(Status::permission_denied(
                "forbidden: only the platform's services record an activity's group",
            ));
        }
        let request = request.into_inner();
        let id = activity_id(&request.activity_id)?;
        let group = GroupId::parse(&request.group_id).map_err(|e| invalid("group_id", e))?;
        self.activities
            .set_group_id(&id, &group)
            .await
            .map_err(to_status)?;
        Ok(Response::new(SetGroupResponse {}))
    }
}
