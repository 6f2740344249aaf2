//! The platform's story end to end, on the real binaries as processes: the all-in-one
//! default (zero configuration: SQLite and the in-memory broker), and the three servers
//! plus two IM nodes behind the gateway on MariaDB with Kafka and with Redis Streams.

// Tests may panic on what they did not expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::deploy::Deployment;
use e2e::story;

fn mysql_base() -> String {
    std::env::var("DATABASE_URL_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

async fn admin(sql: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::MySqlConnection::connect(&mysql_base()).await?;
    sqlx::query(sql).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

async fn play(deployment: &Deployment) -> anyhow::Result<()> {
    let mut log = |line: String| println!("  {line}");
    let report = story::play(&deployment.base, &mut log).await?;
    assert_eq!(report.messages, 5);
    assert_eq!(report.caught_up, 3);
    assert_eq!(
        report.notifications,
        [
            "signup_accepted",
            "signup_rejected",
            "removed_from_group",
            "activity_cancelled"
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_on_the_all_in_one_default() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let deployment = Deployment::all_in_one(dir.path()).await?;
    play(&deployment).await?;
    deployment.stop().await
}

/// Three servers and two IM nodes on a fresh MariaDB database and `broker`, presence in
/// Redis (stored messages routed to the nodes holding members).
async fn three_servers(mut broker: Vec<(String, String)>) -> anyhow::Result<()> {
    let redis =
        std::env::var("MQ_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    broker.push(("SOCIAL_IM_IM__PRESENCE_REDIS_URL".into(), redis));
    broker.push((
        "SOCIAL_IM_IM__PRESENCE_KEY_PREFIX".into(),
        format!("e2e-{}:", uuid::Uuid::now_v7().simple()),
    ));
    let dir = tempfile::tempdir()?;
    let name = format!("e2e_{}", uuid::Uuid::now_v7().simple());
    admin(&format!("CREATE DATABASE {name} CHARACTER SET utf8mb4")).await?;
    let url = format!("{}/{name}", mysql_base());
    let deployment = Deployment::three_servers(dir.path(), &url, &broker).await?;
    let played = play(&deployment).await;
    let stopped = deployment.stop().await;
    admin(&format!("DROP DATABASE {name}")).await?;
    played?;
    stopped
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_on_three_servers_with_mariadb_and_kafka() -> anyhow::Result<()> {
    let brokers =
        std::env::var("MQ_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let prefix = format!("e2e-{}.", uuid::Uuid::now_v7().simple());
    three_servers(vec![
        ("SOCIAL_IM_BROKER__KIND".into(), "kafka".into()),
        ("SOCIAL_IM_BROKER__BROKERS".into(), brokers),
        ("SOCIAL_IM_BROKER__TOPIC_PREFIX".into(), prefix),
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_on_three_servers_with_mariadb_and_redis_streams() -> anyhow::Result<()> {
    let url =
        std::env::var("MQ_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("e2e-{}:", uuid::Uuid::now_v7().simple());
    three_servers(vec![
        ("SOCIAL_IM_BROKER__KIND".into(), "redis".into()),
        ("SOCIAL_IM_BROKER__URL".into(), url),
        ("SOCIAL_IM_BROKER__KEY_PREFIX".into(), prefix),
    ])
    .await
}
