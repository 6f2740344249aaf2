//! The IM service's gRPC `GroupService`, on SQLite and MariaDB: group by activity, info
//! and members, owner-only removal and dissolution, health, and bad arguments.

// Tests may panic on what they did not expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bins::grpc::pb::im::group_service_client::GroupServiceClient;
use bins::grpc::pb::im::{
    DissolveRequest, GetGroupByActivityRequest, GetGroupRequest, ListMembersRequest,
    RemoveMemberRequest,
};
use serde_json::json;
use support::{Db, Env};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

async fn group_service(db: Db) -> anyhow::Result<()> {
    let env = Env::start_full(db).await?;
    let mut added = env.watch("group.member.added").await?;
    let url = format!("http://{}", env.im.as_ref().unwrap().grpc);
    let service = support::service_token();
    let mut groups = GroupServiceClient::new(support::grpc_channel(&url, Some(&service)).await?);
    let channel = tonic::transport::Channel::from_shared(url.clone())?
        .connect()
        .await?;
    let health = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?
        .into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);

    let (org, org_token) = env.user("organiser").await?;
    let (ann, ann_token) = env.user("ann").await?;
    let activity = env.activity(&org_token, "Picnic", 5, false).await?;
    let activity_id = activity["activity_id"].as_str().unwrap().to_owned();
    let s = env
        .post(
            &format!("/api/v1/activities/{activity_id}/signups"),
            Some(&ann_token),
            json!({}),
        )
        .await?;
    assert_eq!(s.status, reqwest::StatusCode::CREATED);
    added.next(2).await?; // owner, ann

    let group = groups
        .get_group_by_activity(GetGroupByActivityRequest {
            activity_id: activity_id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(
        (
            group.activity_id.as_str(),
            group.owner_id.as_str(),
            group.status.as_str()
        ),
        (activity_id.as_str(), org.as_str(), "active")
    );
    assert!(group.created_at_ms > 0 && group.dissolved_at_ms == 0);
    let same = groups
        .get_group(GetGroupRequest {
            group_id: group.group_id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(same, group);
    let members = groups
        .list_members(ListMembersRequest {
            group_id: group.group_id.clone(),
        })
        .await?
        .into_inner()
        .members;
    let roles: Vec<(&str, &str)> = members
        .iter()
        .map(|m| (m.user_id.as_str(), m.role.as_str()))
        .collect();
    assert_eq!(roles, [(org.as_str(), "owner"), (ann.as_str(), "member")]);

    // Calls need a token.
    let mut anonymous = GroupServiceClient::new(support::grpc_channel(&url, None).await?);
    let refused = anonymous
        .get_group(GetGroupRequest {
            group_id: group.group_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    let mut as_ann = GroupServiceClient::new(support::grpc_channel(&url, Some(&ann_token)).await?);
    let mut as_org = GroupServiceClient::new(support::grpc_channel(&url, Some(&org_token)).await?);
    // Naming the owner as actor does not make Ann the owner: the token decides.
    let spoofed = as_ann
        .dissolve(DissolveRequest {
            actor_id: org.clone(),
            group_id: group.group_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(spoofed.code(), Code::PermissionDenied, "{spoofed:?}");
    // A user reads a group only as a member (Ann is one); a stranger is refused.
    assert_eq!(
        as_ann
            .get_group(GetGroupRequest {
                group_id: group.group_id.clone(),
            })
            .await?
            .into_inner(),
        group
    );
    let (_, eve_token) = env.user("eve").await?;
    let mut as_eve = GroupServiceClient::new(support::grpc_channel(&url, Some(&eve_token)).await?);
    let refused = as_eve
        .get_group(GetGroupRequest {
            group_id: group.group_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().starts_with("not_member"), "{refused:?}");
    let refused = as_eve
        .list_members(ListMembersRequest {
            group_id: group.group_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let refused = as_eve
        .get_group_by_activity(GetGroupByActivityRequest {
            activity_id: activity_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    // A service token reads, but owns nothing.
    let not_owner = groups
        .dissolve(DissolveRequest {
            actor_id: String::new(),
            group_id: group.group_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(not_owner.code(), Code::PermissionDenied, "{not_owner:?}");

    // Only the owner removes or dissolves; the refusals change nothing.
    let denied = as_ann
        .remove_member(RemoveMemberRequest {
            actor_id: ann.clone(),
            group_id: group.group_id.clone(),
            user_id: org.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let denied = as_ann
        .dissolve(DissolveRequest {
            actor_id: ann.clone(),
            group_id: group.group_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    as_org
        .remove_member(RemoveMemberRequest {
            actor_id: org.clone(),
            group_id: group.group_id.clone(),
            user_id: ann.clone(),
        })
        .await?;
    let members = groups
        .list_members(ListMembersRequest {
            group_id: group.group_id.clone(),
        })
        .await?
        .into_inner()
        .members;
    assert_eq!(members.len(), 1);
    let gone = as_org
        .dissolve(DissolveRequest {
            actor_id: String::new(),
            group_id: group.group_id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(gone.status, "dissolved");
    assert!(gone.dissolved_at_ms > 0);
    let again = as_org
        .dissolve(DissolveRequest {
            actor_id: org.clone(),
            group_id: group.group_id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(again, gone, "dissolving twice is a no-op");

    // Bad arguments: INVALID_ARGUMENT or NOT_FOUND, with the stable code first.
    for bad in ["", "not a group id!", &"x".repeat(65)] {
        let e = groups
            .get_group(GetGroupRequest {
                group_id: bad.to_owned(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{bad:?}: {e:?}");
    }
    let e = groups
        .get_group(GetGroupRequest {
            group_id: "no-such-group".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = groups
        .get_group_by_activity(GetGroupByActivityRequest {
            activity_id: domain::ActivityId::new().to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = groups
        .get_group_by_activity(GetGroupByActivityRequest {
            activity_id: "'; DROP TABLE chat_groups;--".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = as_org
        .remove_member(RemoveMemberRequest {
            actor_id: "nobody".into(),
            group_id: group.group_id.clone(),
            user_id: ann.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("invalid"), "{e:?}");
    env.finish().await
}
on_both_databases!(group_service_sqlite_and_mariadb, super::group_service);
