//! Webhook delivery: a JSON event POSTed to the tenant's endpoint, signed so the receiver can
//! tell it came from us and is fresh.
//!
//! `Prorata-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. A
//! receiver recomputes the HMAC over the timestamp and the raw body with its endpoint's
//! secret, compares in constant time, and rejects timestamps older than a few minutes
//! (replays). `Prorata-Event-Id` repeats the event's id: deliveries are at least once, and a
//! receiver deduplicates on it.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::Sha256;

/// The signature header's value for `body` sent at `timestamp` (unix seconds).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length; the error case cannot happen, but is not a panic.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Checks a signature header as a receiver would: the HMAC matches and the timestamp is
/// within `tolerance` seconds of `now`.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance: i64) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = Some(v),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if (now - t).abs() > tolerance {
        return false;
    }
    let expected = signature(secret, t, body);
    let expected = expected.rsplit("v1=").next().unwrap_or("");
    // Constant time: every byte compared whatever the first difference.
    prorata_engine::constant_time_eq(expected, v1)
}

type HttpsClient<R> = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector<R>>,
    Full<Bytes>,
>;

/// A resolver that answers only public addresses: a name that resolves inside the network
/// (loopback, private, link-local) is refused when connecting, whatever it resolved to when
/// the endpoint was created (DNS rebinding).
#[derive(Clone, Copy, Debug, Default)]
pub struct PublicOnly;

impl tower::Service<Name> for PublicOnly {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all
                .into_iter()
                .filter(|a| prorata_core::destination::is_public(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("{} resolves inside the network: refused", name.as_str()),
                ));
            }
            Ok(public.into_iter())
        })
    }
}

/// An HTTP(S) client for webhook deliveries: to the internet only, except a sandbox's listed
/// hosts (its own test receivers), which go through the second client.
#[derive(Clone)]
pub struct Sender {
    client: HttpsClient<PublicOnly>,
    inside: HttpsClient<hyper_util::client::legacy::connect::dns::GaiResolver>,
    timeout: Duration,
}

/// Where a delivery may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The public internet only (every live tenant, and a sandbox's unlisted hosts).
    Internet,
    /// A host a sandbox tenant lists as its own test receiver.
    SandboxListed,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "webhooks::Sender")
    }
}

/// What an attempt got: the status code when the endpoint answered, or why it did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: Option<u16>,
    pub error: Option<String>,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

impl Sender {
    pub fn new(timeout: Duration) -> Sender {
        fn connector<R>(
            mut http: HttpConnector<R>,
        ) -> hyper_rustls::HttpsConnector<HttpConnector<R>> {
            http.enforce_http(false);
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_webpki_roots()
                .https_or_http()
                .enable_http1()
                .wrap_connector(http)
        }
        Sender {
            client: Client::builder(TokioExecutor::new())
                .build(connector(HttpConnector::new_with_resolver(PublicOnly))),
            inside: Client::builder(TokioExecutor::new()).build(connector(HttpConnector::new())),
            timeout,
        }
    }

    /// POSTs `body` to `url`, signed with `secret` at `timestamp`, within `reach`.
    pub async fn post(
        &self,
        url: &str,
        reach: Reach,
        secret: &str,
        event_id: &str,
        timestamp: i64,
        body: Vec<u8>,
    ) -> Answer {
        let failed = |e: String| Answer {
            status: None,
            error: Some(e),
        };
        // An address written in the URL is never resolved: checked here.
        let literal_inside = prorata_core::destination::host_of(url)
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|h| h.parse::<std::net::IpAddr>().ok())
            .is_some_and(|ip| !prorata_core::destination::is_public(ip));
        let host_inside = prorata_core::destination::host_of(url)
            .is_some_and(|h| h.eq_ignore_ascii_case("localhost"));
        if reach == Reach::Internet && (literal_inside || host_inside) {
            return failed("the destination is inside the network: refused".into());
        }
        let request = hyper::Request::post(url)
            .header("content-type", "application/json")
            .header("user-agent", "Prorata-Webhooks/1")
            .header("prorata-event-id", event_id)
            .header("prorata-signature", signature(secret, timestamp, &body))
            .body(Full::new(Bytes::from(body)));
        let request = match request {
            Ok(r) => r,
            Err(e) => return failed(format!("bad request: {e}")),
        };
        let sent = match reach {
            Reach::Internet => self.client.request(request),
            Reach::SandboxListed => self.inside.request(request),
        };
        match tokio::time::timeout(self.timeout, sent).await {
            Err(_) => failed(format!("no answer within {} s", self.timeout.as_secs())),
            Ok(Err(e)) => failed(format!("connection: {e}")),
            Ok(Ok(response)) => {
                let status = response.status().as_u16();
                // Read (a little of) the body so the connection can be reused.
                let _ = tokio::time::timeout(self.timeout, response.into_body().collect()).await;
                Answer {
                    status: Some(status),
                    error: (!(200..300).contains(&status))
                        .then(|| format!("endpoint answered {status}")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_expire() {
        let body = br#"{"id":"evt_1"}"#;
        let header = signature("whsec_abc", 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify("whsec_abc", &header, body, 1_700_000_100, 300));
        assert!(!verify("whsec_abd", &header, body, 1_700_000_100, 300));
        assert!(!verify("whsec_abc", &header, b"{}", 1_700_000_100, 300));
        assert!(!verify("whsec_abc", &header, body, 1_700_001_000, 300));
        // RFC 4231 test case 2 (HMAC-SHA256, key "Jefe"), through our framing: the HMAC is
        // over "t.body", so compare with an independently framed computation.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
