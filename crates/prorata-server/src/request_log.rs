//! One log line per request, and a request id on every line logged while it runs.
//!
//! Each request runs inside a `request` span carrying its id, so whatever a handler or the
//! engine logs for it can be found again; the id goes back in the `X-Request-Id` header, so a
//! caller quoting it in a support ticket points at the lines of its request. An id sent by a
//! proxy in front (`X-Request-Id`) is kept when it is sane (short, printable, no spaces) so one
//! id follows the request across hops; anything else is replaced, never logged.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";
/// Longest incoming id kept (a UUID is 36, a W3C trace id 32).
const MAX_LEN: usize = 128;

/// An incoming id worth keeping: 1 to [`MAX_LEN`] characters of `A-Za-z0-9-_.:`, nothing that
/// could forge or break a log line.
pub fn sane(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn new_id() -> String {
    // With no randomness (an exotic sandbox) the time still tells requests apart in a log.
    prorata_engine::random_hex(16).unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("t{nanos:x}")
    })
}

/// The middleware (outermost, so it times and names every request, 404s included).
pub async fn layer(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane(v))
        .map_or_else(new_id, str::to_owned);
    let method = req.method().clone();
    // The route's template (`/v1/accounts/{id}`), not the path: ids stay out of the line's
    // route field so lines group by route, as the metrics do.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_owned();
    let span = tracing::info_span!("request", request_id = %id);
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    let latency = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            method = %method,
            route = %route,
            status,
            latency_ms = latency.as_secs_f64() * 1000.0,
            "request"
        )
    });
    crate::metrics::global().request(&route, method.as_str(), status, latency);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_printable_ids_are_kept() {
        assert!(sane("3f2c9a7e-1b2d-4c5e-8f90-0a1b2c3d4e5f"));
        assert!(sane("req:edge.01_a"));
        assert!(!sane(""));
        assert!(!sane("two words"));
        assert!(!sane("line\nbreak"));
        assert!(!sane("quote\""));
        assert!(!sane(&"a".repeat(MAX_LEN + 1)));
        assert!(sane(&"a".repeat(MAX_LEN)));
    }
}
