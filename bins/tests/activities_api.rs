//! The activity API over HTTP, on SQLite and MariaDB: the whole story, each error, and
//! every event on the bus with its payload.

// Test code: failing loudly on a missing field is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{Db, Env};

async fn story(db: Db) -> anyhow::Result<()> {
    let env = Env::start(db).await?;
    let mut created_events = env.watch("activity.created").await?;
    let mut joined_events = env.watch("activity.member.joined").await?;
    let mut left_events = env.watch("activity.member.left").await?;
    let mut updated_events = env.watch("activity.updated").await?;
    let mut cancelled_events = env.watch("activity.cancelled").await?;
    let mut rejected_events = env.watch("activity.signup.rejected").await?;

    let (organiser, org_token) = env.user("organiser").await?;
    let (ann, ann_token) = env.user("ann").await?;
    let (ben, ben_token) = env.user("ben").await?;
    let (cid, cid_token) = env.user("cid").await?;

    // An open activity: sign-ups are accepted at once.
    let hike = env
        .activity(&org_token, "Hike ⛰ 'up' the \"hill\"; --", 5, false)
        .await?;
    let hike_id = hike["activity_id"].as_str().unwrap().to_owned();
    assert_eq!(hike["organiser_id"], organiser.as_str());
    assert_eq!(
        hike["member_count"], 1,
        "the organiser counts as the first member"
    );
    assert_eq!(hike["status"], "open");
    assert_eq!(hike["title"], "Hike ⛰ 'up' the \"hill\"; --");
    assert!(hike["group_id"].is_null());

    let got = env
        .get(&format!("/api/v1/activities/{hike_id}"), None)
        .await?;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["title"], hike["title"]);

    let signup = env
        .post(
            &format!("/api/v1/activities/{hike_id}/signups"),
            Some(&ann_token),
            json!({}),
        )
        .await?;
    assert_eq!(signup.status, StatusCode::CREATED, "{signup:?}");
    assert_eq!(signup.body["status"], "accepted");

    // One that needs approval: pending, then approved or rejected.
    let games = env.activity(&org_token, "Board games", 10, true).await?;
    let games_id = games["activity_id"].as_str().unwrap().to_owned();
    for token in [&ben_token, &cid_token] {
        let pending = env
            .post(
                &format!("/api/v1/activities/{games_id}/signups"),
                Some(token),
                json!({}),
            )
            .await?;
        assert_eq!(pending.status, StatusCode::CREATED, "{pending:?}");
        assert_eq!(pending.body["status"], "pending");
    }
    let list = env
        .get(
            &format!("/api/v1/activities/{games_id}/signups"),
            Some(&org_token),
        )
        .await?;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");
    let statuses: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "pending").count(),
        2,
        "{statuses:?}"
    );
    let approved = env
        .post(
            &format!("/api/v1/activities/{games_id}/signups/{ben}/approve"),
            Some(&org_token),
            json!({}),
        )
        .await?;
    assert_eq!(approved.status, StatusCode::OK, "{approved:?}");
    assert_eq!(approved.body["status"], "accepted");
    let rejected = env
        .post(
            &format!("/api/v1/activities/{games_id}/signups/{cid}/reject"),
            Some(&org_token),
            json!({}),
        )
        .await?;
    assert_eq!(rejected.status, StatusCode::OK, "{rejected:?}");
    assert_eq!(rejected.body["status"], "rejected");

    // Update, leave, cancel.
    let updated = env
        .call(
            Method::PATCH,
            &format!("/api/v1/activities/{hike_id}"),
            Some(&org_token),
            Some(json!({"location": "the other hill", "capacity": 8})),
        )
        .await?;
    assert_eq!(updated.status, StatusCode::OK, "{updated:?}");
    assert_eq!(updated.body["location"], "the other hill");
    assert_eq!(updated.body["capacity"], 8);
    let left = env
        .call(
            Method::DELETE,
            &format!("/api/v1/activities/{hike_id}/signups/me"),
            Some(&ann_token),
            None,
        )
        .await?;
    assert_eq!(left.status, StatusCode::NO_CONTENT, "{left:?}");
    let cancelled = env
        .post(
            &format!("/api/v1/activities/{hike_id}/cancel"),
            Some(&org_token),
            json!({"reason": "rain"}),
        )
        .await?;
    assert_eq!(cancelled.status, StatusCode::OK, "{cancelled:?}");
    assert_eq!(cancelled.body["status"], "cancelled");

    // Listing: upcoming first, paged.
    let page = env.get("/api/v1/activities?limit=1", None).await?;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);

    // Every event, keyed by activity, with its payload.
    // Events of different activities (keys) may arrive in any order; per key they are in order.
    let mut created = created_events.next(2).await?;
    created.sort_by_key(|(key, _)| key != &hike_id);
    assert_eq!(created[0].0, hike_id);
    assert_eq!(created[0].1["activity_id"], hike_id.as_str());
    assert_eq!(created[0].1["creator_id"], organiser.as_str());
    assert_eq!(created[0].1["title"], hike["title"]);
    assert!(created[0].1["created_at"].is_string());
    assert_eq!(created[1].0, games_id);
    let mut joined = joined_events.next(2).await?;
    joined.sort_by_key(|(key, _)| key != &hike_id);
    let joined_users: Vec<(&str, &str)> = joined
        .iter()
        .map(|(k, v)| (k.as_str(), v["user_id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        joined_users,
        [
            (hike_id.as_str(), ann.as_str()),
            (games_id.as_str(), ben.as_str())
        ]
    );
    assert!(joined[0].1["joined_at"].is_string());
    let left = left_events.next(1).await?;
    assert_eq!(
        (left[0].0.as_str(), &left[0].1["user_id"]),
        (hike_id.as_str(), &Value::from(ann.as_str()))
    );
    assert!(left[0].1["left_at"].is_string());
    let updated = updated_events.next(1).await?;
    assert_eq!(updated[0].1["activity_id"], hike_id.as_str());
    assert_eq!(updated[0].1["changes"]["location"], "the other hill");
    assert_eq!(updated[0].1["changes"]["capacity"], 8);
    assert!(updated[0].1["changes"]
        .get("title")
        .is_none_or(Value::is_null));
    let cancelled = cancelled_events.next(1).await?;
    assert_eq!(cancelled[0].1["reason"], "rain");
    assert_eq!(cancelled[0].0, hike_id);
    let rejected = rejected_events.next(1).await?;
    assert_eq!(rejected[0].1["user_id"], cid.as_str());
    assert_eq!(rejected[0].0, games_id);
    // Nothing more: a pending sign-up announced no join.
    joined_events
        .none_within(std::time::Duration::from_millis(300))
        .await?;
    env.finish().await
}
on_both_databases!(story_sqlite_and_mariadb, super::story);

async fn errors(db: Db) -> anyhow::Result<()> {
    let env = Env::start(db).await?;
    let (_, org) = env.user("organiser").await?;
    let (_, ann) = env.user("ann").await?;
    let (_, ben) = env.user("ben").await?;
    let small = env.activity(&org, "Tiny", 2, false).await?;
    let id = small["activity_id"].as_str().unwrap().to_owned();

    // Non-organiser edits and cancels.
    let edit = env
        .call(
            Method::PATCH,
            &format!("/api/v1/activities/{id}"),
            Some(&ann),
            Some(json!({"title": "Mine"})),
        )
        .await?;
    assert_eq!(
        (edit.status, edit.code()),
        (StatusCode::FORBIDDEN, "forbidden"),
        "{edit:?}"
    );
    let cancel = env
        .post(
            &format!("/api/v1/activities/{id}/cancel"),
            Some(&ann),
            json!({}),
        )
        .await?;
    assert_eq!(cancel.status, StatusCode::FORBIDDEN);
    let signups = env
        .get(&format!("/api/v1/activities/{id}/signups"), Some(&ann))
        .await?;
    assert_eq!(signups.status, StatusCode::FORBIDDEN);

    // Signing up twice, to a full activity, to a cancelled one; leaving when not in.
    let first = env
        .post(
            &format!("/api/v1/activities/{id}/signups"),
            Some(&ann),
            json!({}),
        )
        .await?;
    assert_eq!(first.status, StatusCode::CREATED);
    let twice = env
        .post(
            &format!("/api/v1/activities/{id}/signups"),
            Some(&ann),
            json!({}),
        )
        .await?;
    assert_eq!(
        (twice.status, twice.code()),
        (StatusCode::CONFLICT, "already_signed_up"),
        "{twice:?}"
    );
    let full = env
        .post(
            &format!("/api/v1/activities/{id}/signups"),
            Some(&ben),
            json!({}),
        )
        .await?;
    assert_eq!(
        (full.status, full.code()),
        (StatusCode::CONFLICT, "activity_full"),
        "{full:?}"
    );
    let not_in = env
        .call(
            Method::DELETE,
            &format!("/api/v1/activities/{id}/signups/me"),
            Some(&ben),
            None,
        )
        .await?;
    assert_eq!(not_in.code(), "not_signed_up", "{not_in:?}");
    let organiser_leaves = env
        .call(
            Method::DELETE,
            &format!("/api/v1/activities/{id}/signups/me"),
            Some(&org),
            None,
        )
        .await?;
    assert_eq!(
        organiser_leaves.code(),
        "organiser_cannot_leave",
        "{organiser_leaves:?}"
    );
    let cancelled = env
        .post(
            &format!("/api/v1/activities/{id}/cancel"),
            Some(&org),
            json!({"reason": "x"}),
        )
        .await?;
    assert_eq!(cancelled.status, StatusCode::OK);
    let late = env
        .post(
            &format!("/api/v1/activities/{id}/signups"),
            Some(&ben),
            json!({}),
        )
        .await?;
    assert_eq!(
        (late.status, late.code()),
        (StatusCode::CONFLICT, "activity_cancelled"),
        "{late:?}"
    );
    let edit_cancelled = env
        .call(
            Method::PATCH,
            &format!("/api/v1/activities/{id}"),
            Some(&org),
            Some(json!({"title": "Again"})),
        )
        .await?;
    assert_eq!(
        edit_cancelled.status,
        StatusCode::CONFLICT,
        "{edit_cancelled:?}"
    );

    // Unknown activity, anonymous creation, a start in the past.
    let unknown = env
        .get(
            "/api/v1/activities/0190f0f0-0000-7000-8000-000000000000",
            None,
        )
        .await?;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let anonymous = env.post("/api/v1/activities", None, json!({"title": "x", "starts_at": support::time_in(std::time::Duration::from_secs(60)), "capacity": 3})).await?;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let past = env
        .post(
            "/api/v1/activities",
            Some(&org),
            json!({"title": "Yesterday", "starts_at": "2020-01-01T00:00:00Z", "capacity": 3}),
        )
        .await?;
    assert_eq!(past.status, StatusCode::UNPROCESSABLE_ENTITY, "{past:?}");
    env.finish().await
}
on_both_databases!(errors_sqlite_and_mariadb, super::errors);

/// 50 concurrent sign-ups to an activity of capacity 10: the organiser is the first
/// member, so exactly 9 are accepted and 41 get `activity_full`.
async fn concurrent_signups(db: Db) -> anyhow::Result<()> {
    let env = Env::start(db).await?;
    let (_, org) = env.user("organiser").await?;
    let activity = env.activity(&org, "Popular", 10, false).await?;
    let id = activity["activity_id"].as_str().unwrap().to_owned();
    let mut tokens = Vec::new();
    for i in 0..50 {
        tokens.push(env.user(&format!("runner{i}")).await?.1);
    }
    let mut joined = env.watch("activity.member.joined").await?;
    let path = format!("/api/v1/activities/{id}/signups");
    let answers =
        futures::future::join_all(tokens.iter().map(|t| env.post(&path, Some(t), json!({})))).await;
    let mut accepted = 0;
    let mut full = 0;
    for answer in answers {
        let answer = answer?;
        match (answer.status, answer.code()) {
            (StatusCode::CREATED, _) => accepted += 1,
            (StatusCode::CONFLICT, "activity_full") => full += 1,
            other => anyhow::bail!("unexpected answer {other:?}: {answer:?}"),
        }
    }
    assert_eq!((accepted, full), (9, 41));
    let after = env.get(&format!("/api/v1/activities/{id}"), None).await?;
    assert_eq!(after.body["member_count"], 10);
    assert_eq!(joined.next(9).await?.len(), 9);
    joined
        .none_within(std::time::Duration::from_millis(300))
        .await?;
    env.finish().await
}
on_both_databases!(
    concurrent_signups_sqlite_and_mariadb,
    super::concurrent_signups
);
