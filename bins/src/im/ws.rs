//! `GET /ws`: the WebSocket upgrade, answered here and handed to im-core's engine as an
//! upgraded stream. Authentication happens inside the protocol (the `auth` frame), so
//! the upgrade itself needs no token.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::http::ImState;
use crate::http::ApiError;

fn header_has(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case(token))
}

fn bad_upgrade(message: &str) -> Response {
    ApiError::new(StatusCode::BAD_REQUEST, "not_a_websocket_upgrade", message).into_response()
}

/// Checks the upgrade request, answers 101 and serves the session once hyper hands
/// over the connection.
pub async fn upgrade(State(state): State<ImState>, mut request: Request) -> Response {
    let headers = request.headers();
    if !header_has(headers, header::CONNECTION, "upgrade")
        || !header_has(headers, header::UPGRADE, "websocket")
    {
        return bad_upgrade("expected `Connection: upgrade` and `Upgrade: websocket`");
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return bad_upgrade("expected `Sec-WebSocket-Version: 13`");
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return bad_upgrade("missing `Sec-WebSocket-Key`");
    };
    let accept = derive_accept_key(key.as_bytes());
    let Ok(accept) = HeaderValue::from_str(&accept) else {
        return bad_upgrade("bad `Sec-WebSocket-Key`");
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    let engine = state.engine.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let reason = engine.serve_upgraded(TokioIo::new(upgraded)).await;
                tracing::debug!(%reason, "websocket closed");
            }
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    response
}
