//! Two IM nodes sharing MariaDB, Redis (presence: who is connected where) and a broker
//! (Redis Streams, Kafka): members of one group connected to different nodes receive the
//! same messages in the same order, routed to the nodes that hold them (or read by every
//! node, `im.push_routing = broadcast`); a member removed through one node stops
//! receiving on the other at once, although that node had the group's member list
//! cached; presence follows sessions.

// Tests may panic on what they did not expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bins::config::PushRouting;
use serde_json::json;
use support::ws::WsClient;
use support::{Bus, Db, Env};

async fn two_nodes(bus: Bus, routing: PushRouting) -> anyhow::Result<()> {
    let env = Env::start_two_im_nodes(Db::MariaDb, bus, routing).await?;
    let mut added = env.watch("group.member.added").await?;
    let mut names = Vec::new();
    let mut tokens = Vec::new();
    for name in ["org", "ann1", "ann2", "bob1", "bob2", "bob3"] {
        let (id, token) = env.user(name).await?;
        names.push(id);
        tokens.push(token);
    }
    let activity = env.activity(&tokens[0], "Two nodes", 10, false).await?;
    let activity_id = activity["activity_id"].as_str().unwrap().to_owned();
    for token in &tokens[1..] {
        env.post(
            &format!("/api/v1/activities/{activity_id}/signups"),
            Some(token),
            json!({}),
        )
        .await?;
    }
    let adds = added.next(6).await?;
    let group = adds[0].1["group_id"].as_str().unwrap().to_owned();

    // org, a1, a2 on node 1; b1, b2, b3 on node 2.
    let (one, two) = (env.ws_url(), env.ws_url_2());
    let mut clients = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let url = if i < 3 { &one } else { &two };
        let mut ws = WsClient::connect(url, token).await?;
        ws.drain().await?;
        clients.push(ws);
    }
    // Presence in Redis says who is where.
    let redis = redis_presence(&env, &names).await?;
    assert_eq!(redis[0], vec!["im-1".to_owned()], "org on node 1");
    assert_eq!(redis[3], vec!["im-2".to_owned()], "bob1 on node 2");

    // Everyone sends at once, through both nodes.
    const EACH: usize = 15;
    let mut tasks = Vec::new();
    for (i, mut ws) in clients.into_iter().enumerate() {
        let group = group.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..EACH {
                ws.say(&group, &format!("c{i}-{n}"), &format!("{i}:{n}"))
                    .await?;
            }
            anyhow::Ok(ws)
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await??);
    }
    let total = 6 * EACH;
    let mut first = None;
    for ws in &mut clients {
        let got = ws.messages(&group, total).await?;
        let seqs: Vec<u64> = got.iter().map(|m| m.0).collect();
        assert_eq!(seqs, (1..=total as u64).collect::<Vec<_>>());
        match &first {
            None => first = Some(got),
            Some(f) => assert_eq!(&got, f, "the same order on both nodes"),
        }
    }

    // Removed through node 1 (HTTP goes to node 1), b1 on node 2 receives nothing more.
    let kick = env
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/groups/{group}/members/{}", names[3]),
            Some(&tokens[0]),
            None,
        )
        .await?;
    assert_eq!(kick.status, reqwest::StatusCode::NO_CONTENT);
    let seq = clients[1].say(&group, "after", "b1 is gone").await?;
    let b2 = clients[4].messages(&group, 1).await?;
    assert_eq!(b2[0].0, seq, "node 2 still delivers to members");
    // The removal notification reaches b1 live, though b1 is on the other node.
    let note = clients[3].next_of("notification").await?;
    assert_eq!(note["kind"], "removed_from_group");
    let b1 = clients[3].drain().await?;
    assert!(
        b1.iter().all(|f| f["type"] != "message"),
        "a removed member on node 2 got {b1:?}"
    );

    // Gone from presence when the sessions end.
    drop(clients);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while redis_presence(&env, &names)
        .await?
        .iter()
        .any(|nodes| !nodes.is_empty())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "presence not cleared"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    env.finish().await
}

/// The nodes presence lists for each user (entries still valid).
async fn redis_presence(env: &Env, users: &[String]) -> anyhow::Result<Vec<Vec<String>>> {
    let url = env.settings.im.presence_redis_url.clone().unwrap();
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let now = domain::Timestamp::now().unix_millis();
    let mut out = Vec::new();
    for user in users {
        let key = format!("{}presence:{user}", env.settings.im.presence_key_prefix);
        let nodes: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(&key)
            .arg(now)
            .arg("+inf")
            .query_async(&mut conn)
            .await?;
        out.push(nodes);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_im_nodes_on_redis_streams() -> anyhow::Result<()> {
    two_nodes(Bus::Redis, PushRouting::Presence).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_im_nodes_on_redis_streams_broadcast() -> anyhow::Result<()> {
    two_nodes(Bus::Redis, PushRouting::Broadcast).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_im_nodes_on_kafka() -> anyhow::Result<()> {
    two_nodes(Bus::Kafka, PushRouting::Presence).await
}
