//! The gateway: one base URL in front of the separate servers. It routes by path
//! prefix — `/api/v1/users` to the user server, `/api/v1/activities` to the activity
//! server, `/api/v1/groups`, `/api/v1/notifications` and `/ws` to the IM servers (round
//! robin over several nodes; WebSocket upgrades are passed through) — and answers
//! `/healthz` and `/metrics` itself. Like any load balancer in front of the platform, it
//! needs no sticky routing: IM nodes share everything through the broker and database.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::config::GatewaySettings;
use crate::http::ApiError;

/// Where each path goes.
#[derive(Clone, Debug)]
struct Upstreams {
    users: Arc<str>,
    activities: Arc<str>,
    im: Arc<[Arc<str>]>,
    next_im: Arc<AtomicUsize>,
}

impl Upstreams {
    fn pick(&self, path: &str) -> Option<Arc<str>> {
        if path.starts_with("/api/v1/users") {
            Some(Arc::clone(&self.users))
        } else if path.starts_with("/api/v1/activities") {
            Some(Arc::clone(&self.activities))
        } else if path.starts_with("/api/v1/groups")
            || path.starts_with("/api/v1/notifications")
            || path == "/ws"
        {
            let n = self.next_im.fetch_add(1, Ordering::Relaxed);
            self.im.get(n % self.im.len().max(1)).cloned()
        } else {
            None
        }
    }
}

#[derive(Clone)]
struct Gateway {
    upstreams: Upstreams,
    client: Client<HttpConnector, Body>,
}

/// The gateway's routes: every API path proxied, `/healthz` and `/metrics` local.
pub fn routes(settings: &GatewaySettings) -> Router {
    let trim = |s: &str| Arc::<str>::from(s.trim_end_matches('/'));
    let gateway = Gateway {
        upstreams: Upstreams {
            users: trim(&settings.users),
            activities: trim(&settings.activities),
            im: settings.im.iter().map(|s| trim(s)).collect(),
            next_im: Arc::new(AtomicUsize::new(0)),
        },
        client: Client::builder(TokioExecutor::new()).build(upstream_connector()),
    };
    Router::new()
        .route("/api/{*rest}", axum::routing::any(proxy))
        .route("/ws", axum::routing::any(proxy))
        .with_state(gateway)
}

/// Hop-by-hop headers, never forwarded (RFC 9110 7.6.1); `upgrade` and `connection`
/// are kept for a WebSocket upgrade.
const HOP_BY_HOP: [header::HeaderName; 6] = [
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::HOST,
];

fn is_upgrade(request: &Request) -> bool {
    request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn unavailable(what: &str) -> Response {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "upstream_unavailable",
        format!("the {what} server did not answer"),
    )
    .into_response()
}

async fn proxy(State(gateway): State<Gateway>, mut request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let Some(upstream) = gateway.upstreams.pick(&path) else {
        return ApiError::no_route().into_response();
    };
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| path.clone());
    let Ok(uri) = format!("{upstream}{path_and_query}").parse::<Uri>() else {
        return ApiError::no_route().into_response();
    };
    let upgrade = is_upgrade(&request);
    let client_side = upgrade.then(|| hyper::upgrade::on(&mut request));
    let (mut parts, body) = request.into_parts();
    parts.uri = uri;
    for h in &HOP_BY_HOP {
        parts.headers.remove(h);
    }
    if !upgrade {
        parts.headers.remove(header::CONNECTION);
        parts.headers.remove(header::UPGRADE);
    }
    let forwarded = Request::from_parts(parts, body);
    let mut response = match gateway.client.request(forwarded).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(upstream = %upstream, error = %e, "upstream failed");
            return unavailable(&upstream);
        }
    };
    if let (Some(client_side), StatusCode::SWITCHING_PROTOCOLS) = (client_side, response.status()) {
        let server_side = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            match tokio::try_join!(client_side, server_side) {
                Ok((client, server)) => {
                    let (mut client, mut server) = (TokioIo::new(client), TokioIo::new(server));
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "websocket upgrade through the gateway failed")
                }
            }
        });
    }
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts.headers.insert(
        "x-served-by",
        HeaderValue::from_str(&upstream).unwrap_or(HeaderValue::from_static("upstream")),
    );
    Response::from_parts(parts, Body::new(body))
}

/// Connections to the servers behind the gateway, without Nagle's delay (WebSocket
/// frames are small and must not wait for a delayed ACK).
fn upstream_connector() -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector
}
