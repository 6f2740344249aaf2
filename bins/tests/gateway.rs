//! The gateway in front of the separate servers: every API path reaches its server
//! through one base URL, WebSocket included; an unknown path or a dead server gets a
//! JSON error.

// Tests may panic on what they did not expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bins::config::GatewaySettings;
use bins::http::{finish, HttpLimits};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::ws::WsClient;
use support::{Db, Env};

/// Serves the gateway routes for `settings` on a free port; returns its base URL.
async fn gateway(settings: GatewaySettings) -> anyhow::Result<String> {
    let limits = HttpLimits {
        body_limit: 64 * 1024,
        request_timeout: std::time::Duration::from_secs(10),
    };
    let app = finish(bins::gateway::routes(&settings), limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

async fn call(
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> anyhow::Result<(StatusCode, Value)> {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await?;
    let status = response.status();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_base_url_for_every_server() -> anyhow::Result<()> {
    let env = Env::start_full(Db::Sqlite).await?;
    let im = env.im.as_ref().unwrap();
    let base = gateway(GatewaySettings {
        users: format!("http://{}", env.users.http),
        activities: format!("http://{}", env.activities.http),
        im: vec![format!("http://{}", im.http)],
    })
    .await?;
    use reqwest::Method;
    let (status, _) = call(
        Method::POST,
        format!("{base}/api/v1/users/register"),
        None,
        Some(json!({"username": "gwuser", "password": "through the gate"})),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED);
    let (status, login) = call(
        Method::POST,
        format!("{base}/api/v1/users/login"),
        None,
        Some(json!({"username": "gwuser", "password": "through the gate"})),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let token = login["token"].as_str().unwrap().to_owned();
    let (status, made) = call(Method::POST, format!("{base}/api/v1/activities"), Some(&token), Some(json!({"title": "Gate", "location": "the gate", "starts_at": support::time_in(std::time::Duration::from_secs(86_400)), "capacity": 3}))).await?;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    // Queries pass through; errors of the servers pass through unchanged.
    let (status, list) = call(
        Method::GET,
        format!("{base}/api/v1/activities?limit=1"),
        None,
        None,
    )
    .await?;
    assert_eq!(
        (status, list["items"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
    let (status, err) = call(Method::GET, format!("{base}/api/v1/groups"), None, None).await?;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    // The WebSocket goes through to the IM server.
    let mut ws =
        WsClient::connect(&format!("{}/ws", base.replacen("http", "ws", 1)), &token).await?;
    ws.drain().await?;
    // Its own paths, and what it does not know.
    let (status, health) = call(Method::GET, format!("{base}/healthz"), None, None).await?;
    assert_eq!(
        (status, health["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, err) = call(Method::GET, format!("{base}/api/v2/nothing"), None, None).await?;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    drop(ws);
    env.finish().await?;

    // A server that does not answer: 502 as JSON, not a hang or a dropped connection.
    let dead = gateway(GatewaySettings {
        users: "http://127.0.0.1:1".into(),
        activities: "http://127.0.0.1:1".into(),
        im: vec!["http://127.0.0.1:1".into()],
    })
    .await?;
    let (status, err) = call(Method::GET, format!("{dead}/api/v1/activities"), None, None).await?;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("upstream_unavailable"))
    );
    Ok(())
}
