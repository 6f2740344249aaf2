//! Request metrics for `/metrics`: a counter and a latency histogram per route,
//! method and status.

use std::time::Instant;

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::{Method, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Requests answered, by `method`, `route` (the matched path pattern, or `unmatched`)
/// and `status`.
pub const REQUESTS: &str = "http_requests_total";
/// Time to answer, in seconds, by `method` and `route`.
pub const DURATION: &str = "http_request_duration_seconds";

/// Middleware recording [`REQUESTS`] and [`DURATION`].
pub async fn record(request: Request<Body>, next: Next) -> Response {
    let started = Instant::now();
    // Only the standard methods get their own label: any other string would make a new
    // series per request.
    let method = match *request.method() {
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::HEAD
        | Method::OPTIONS => request.method().as_str().to_owned(),
        _ => "other".to_owned(),
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(DURATION, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
