//! The gRPC services other services call, on SQLite and MariaDB: user profiles and token
//! checks, activities, members and group ids, the health service, and bad arguments.

// Tests may panic on what they did not expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bins::grpc::pb::activity::activity_service_client::ActivityServiceClient;
use bins::grpc::pb::activity::{GetActivityRequest, ListMembersRequest, SetGroupRequest};
use bins::grpc::pb::user::user_service_client::UserServiceClient;
use bins::grpc::pb::user::{GetUsersRequest, VerifyTokenRequest};
use serde_json::json;
use support::{Db, Env};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

async fn grpc_services(db: Db) -> anyhow::Result<()> {
    let env = Env::start(db).await?;
    let users_url = format!("http://{}", env.users.grpc);
    let activities_url = format!("http://{}", env.activities.grpc);
    let service = support::service_token();
    let mut users =
        UserServiceClient::new(support::grpc_channel(&users_url, Some(&service)).await?);
    let mut activities =
        ActivityServiceClient::new(support::grpc_channel(&activities_url, Some(&service)).await?);
    // Without a token, or with a bad one, every call is refused.
    for token in [None, Some("not-a-token")] {
        let mut anonymous = UserServiceClient::new(support::grpc_channel(&users_url, token).await?);
        let refused = anonymous
            .get_users(GetUsersRequest { user_ids: vec![] })
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::Unauthenticated,
            "{token:?}: {refused:?}"
        );
    }

    // Health, on both servers.
    for url in [&users_url, &activities_url] {
        let channel = tonic::transport::Channel::from_shared(url.clone())?
            .connect()
            .await?;
        let mut health = HealthClient::new(channel);
        let status = health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await?
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{url}");
    }

    let (ann, ann_token) = env.user("ann").await?;
    let (ben, ben_token) = env.user("ben").await?;

    // Batch lookup: known ids in request order, duplicates once, unknown ids left out.
    let unknown = domain::UserId::new().to_string();
    let got = users
        .get_users(GetUsersRequest {
            user_ids: vec![ben.clone(), unknown, ann.clone(), ben.clone()],
        })
        .await?
        .into_inner()
        .users;
    let names: Vec<(&str, &str)> = got
        .iter()
        .map(|u| (u.user_id.as_str(), u.username.as_str()))
        .collect();
    assert_eq!(names, [(ben.as_str(), "ben"), (ann.as_str(), "ann")]);
    assert!(got[0].created_at_ms > 0);

    // Bad batches change nothing and say why.
    let bad = users
        .get_users(GetUsersRequest {
            user_ids: vec!["not-an-id".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    assert!(bad.message().starts_with("invalid_input"), "{bad:?}");
    let too_many = users
        .get_users(GetUsersRequest {
            user_ids: (0..101)
                .map(|_| domain::UserId::new().to_string())
                .collect(),
        })
        .await
        .unwrap_err();
    assert_eq!(too_many.code(), Code::InvalidArgument, "{too_many:?}");

    // Token checks.
    let verified = users
        .verify_token(VerifyTokenRequest {
            token: ann_token.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(verified.user_id, ann);
    assert!(verified.expires_at_ms > domain::Timestamp::now().unix_millis());
    for token in ["", "garbage", "a.b.c"] {
        let err = users
            .verify_token(VerifyTokenRequest {
                token: token.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{token:?}: {err:?}");
        assert!(err.message().starts_with("invalid_token"), "{err:?}");
    }
    // Verifying tokens is for the platform's services: a user may not check another's.
    let mut as_ben =
        UserServiceClient::new(support::grpc_channel(&users_url, Some(&ben_token)).await?);
    let refused = as_ben
        .verify_token(VerifyTokenRequest {
            token: ann_token.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    // Activities: one, its members (organiser first), its group.
    let hike = env.activity(&ann_token, "Hike", 5, false).await?;
    let hike_id = hike["activity_id"].as_str().unwrap_or_default().to_owned();
    let joined = env
        .post(
            &format!("/api/v1/activities/{hike_id}/signups"),
            Some(&ben_token),
            json!({}),
        )
        .await?;
    assert_eq!(joined.status, reqwest::StatusCode::CREATED, "{joined:?}");

    let got = activities
        .get_activity(GetActivityRequest {
            activity_id: hike_id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(
        (got.title.as_str(), got.organiser_id.as_str()),
        ("Hike", ann.as_str())
    );
    assert_eq!(
        (got.capacity, got.member_count, got.status.as_str()),
        (5, 2, "open")
    );
    assert!(got.group_id.is_empty());
    let members = activities
        .list_members(ListMembersRequest {
            activity_id: hike_id.clone(),
        })
        .await?
        .into_inner()
        .user_ids;
    assert_eq!(members.len(), 2);
    assert_eq!(members[0], ann, "organiser first");
    // Who takes part is for the organiser (and the services), not for other users.
    let as_organiser =
        ActivityServiceClient::new(support::grpc_channel(&activities_url, Some(&ann_token)).await?)
            .list_members(ListMembersRequest {
                activity_id: hike_id.clone(),
            })
            .await?
            .into_inner()
            .user_ids;
    assert_eq!(as_organiser, members);
    let refused =
        ActivityServiceClient::new(support::grpc_channel(&activities_url, Some(&ben_token)).await?)
            .list_members(ListMembersRequest {
                activity_id: hike_id.clone(),
            })
            .await
            .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    let group = domain::GroupId::new().to_string();
    // Only a service records an activity's group: a user's token is refused.
    let activities_url = format!("http://{}", env.activities.grpc);
    let mut as_user =
        ActivityServiceClient::new(support::grpc_channel(&activities_url, Some(&ann_token)).await?);
    let refused = as_user
        .set_group(SetGroupRequest {
            activity_id: hike_id.clone(),
            group_id: group.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    for _ in 0..2 {
        // Idempotent: the IM service may retry.
        activities
            .set_group(SetGroupRequest {
                activity_id: hike_id.clone(),
                group_id: group.clone(),
            })
            .await?;
    }
    let other = activities
        .set_group(SetGroupRequest {
            activity_id: hike_id.clone(),
            group_id: domain::GroupId::new().to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::FailedPrecondition, "{other:?}");
    assert!(
        other.message().starts_with("group_already_set"),
        "{other:?}"
    );
    let over_http = env
        .get(&format!("/api/v1/activities/{hike_id}"), None)
        .await?;
    assert_eq!(over_http.body["group_id"], group.as_str(), "{over_http:?}");

    // Unknown and malformed ids.
    let missing = activities
        .get_activity(GetActivityRequest {
            activity_id: domain::ActivityId::new().to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    for bad in ["", "x'; DROP TABLE activities;--"] {
        let err = activities
            .get_activity(GetActivityRequest {
                activity_id: bad.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad:?}: {err:?}");
        let err = activities
            .set_group(SetGroupRequest {
                activity_id: hike_id.clone(),
                group_id: bad.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad:?}: {err:?}");
    }
    env.finish().await
}
on_both_databases!(grpc_sqlite_and_mariadb, super::grpc_services);
