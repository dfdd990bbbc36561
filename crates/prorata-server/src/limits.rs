//! Limits that keep one tenant from starving the others: a request rate, a number of requests
//! running at once, and a time limit per request.
//!
//! - **Rate**: a GCRA token bucket per tenant (`rate` a second, bursts of `burst`); past it
//!   the request is answered 429 with `Retry-After` at once, before it touches the database.
//! - **Concurrency**: at most `concurrent` requests of a tenant run at once; the next ones wait
//!   their turn (a tenant's 50 writers queue behind their own 8, not in front of everyone's)
//!   for up to `queue_wait`, then get 429 with `Retry-After`. A tenant can thus hold at most
//!   `concurrent` of the store's connections, and what it sends beyond waits in its own line.
//! - **Time**: a request running past `timeout` is dropped and answered 504. Dropping it rolls
//!   back the transaction it had open; what it committed before stays (a clock advance is
//!   resumable, a billing run is reconciliation), and an `Idempotency-Key` it carried stays
//!   reserved, so a retry is told its outcome is unknown rather than run twice.
//!
//! The limits are per tenant, whatever key it uses: a tenant mints keys freely, so a per-key
//! limit would multiply with its keys. They are per server process: behind a load balancer
//! each process applies them to what it serves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// The limits, configurable per server (`prorata serve --rate-limit …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitConfig {
    /// Requests a second a tenant may sustain.
    pub rate: u32,
    /// Requests a tenant may send at once above the rate.
    pub burst: u32,
    /// Requests of a tenant running at once.
    pub concurrent: u32,
    /// How long a request waits for one of its tenant's running places.
    pub queue_wait: Duration,
    /// How long a request may run.
    pub timeout: Duration,
}

impl Default for LimitConfig {
    /// Generous for a client, tight enough that one tenant cannot hold the store: 1,000
    /// requests a second with bursts of 2,000 (a usage feed posts batches of up to 10,000
    /// calls each), 8 running at once, 10 s in line, 60 s to run.
    fn default() -> LimitConfig {
        LimitConfig {
            rate: 1_000,
            burst: 2_000,
            concurrent: 8,
            queue_wait: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
        }
    }
}

/// The limits' state, shared by every request of the server.
#[derive(Debug)]
pub struct Limits {
    config: LimitConfig,
    tenants: Mutex<HashMap<i64, Gate>>,
}

#[derive(Debug)]
struct Gate {
    /// GCRA's theoretical arrival time: when the bucket is next empty.
    tat: Instant,
    running: Arc<Semaphore>,
}

/// Why a request was not admitted: answered 429 with `Retry-After`.
#[derive(Debug, Clone, Copy)]
pub struct Refused {
    wait: Duration,
    detail: &'static str,
}

impl IntoResponse for Refused {
    /// 429 with `Retry-After` in whole seconds, rounded up.
    fn into_response(self) -> Response {
        let seconds = self.wait.as_secs() + u64::from(self.wait.subsec_nanos() > 0);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            self.detail,
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        response
    }
}

/// A running place of a tenant, given back when the request ends.
#[derive(Debug)]
pub struct Admitted {
    _permit: OwnedSemaphorePermit,
}

impl Limits {
    pub fn new(config: LimitConfig) -> Limits {
        Limits {
            config,
            tenants: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> LimitConfig {
        self.config
    }

    /// Admits a request of `tenant`, or answers why not (429).
    pub async fn admit(&self, tenant: i64) -> Result<Admitted, Refused> {
        let running = self.take_token(tenant, Instant::now())?;
        match tokio::time::timeout(self.config.queue_wait, running.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Admitted { _permit: permit }),
            // The semaphore is never closed; waiting too long is the one way here.
            _ => Err(Refused {
                wait: Duration::from_secs(1),
                detail: "too many requests of this tenant are running: wait and retry",
            }),
        }
    }

    /// The rate check (GCRA): `tat` moves one interval per request; a request arriving more
    /// than the burst's worth of intervals before `tat` is over the rate.
    fn take_token(&self, tenant: i64, now: Instant) -> Result<Arc<Semaphore>, Refused> {
        let interval = Duration::from_secs(1) / self.config.rate.max(1);
        let tolerance = interval * self.config.burst.saturating_sub(1);
        let mut tenants = self
            .tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let gate = tenants.entry(tenant).or_insert_with(|| Gate {
            tat: now,
            running: Arc::new(Semaphore::new(self.config.concurrent.max(1) as usize)),
        });
        let tat = gate.tat.max(now);
        let ahead = tat - now;
        if ahead > tolerance {
            return Err(Refused {
                wait: ahead - tolerance,
                detail: "over this tenant's request rate: wait and retry",
            });
        }
        gate.tat = tat + interval;
        Ok(gate.running.clone())
    }
}

/// 504: the request ran past the time limit.
pub fn timed_out(limit: Duration) -> Response {
    ApiError::new(
        StatusCode::GATEWAY_TIMEOUT,
        "timeout",
        format!(
            "the request ran past the server's limit of {} s and was stopped: what it had not \
             committed was rolled back",
            limit.as_secs()
        ),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: u32, burst: u32) -> Limits {
        Limits::new(LimitConfig {
            rate,
            burst,
            ..LimitConfig::default()
        })
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let l = limits(10, 5);
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(l.take_token(1, t0).is_ok(), "burst request {i}");
        }
        let refused = l
            .take_token(1, t0)
            .expect_err("the sixth at once")
            .into_response();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        // A tenth of a second later, one more fits (10 a second).
        assert!(l.take_token(1, t0 + Duration::from_millis(100)).is_ok());
        assert!(l.take_token(1, t0 + Duration::from_millis(100)).is_err());
        // Another tenant has its own bucket.
        assert!(l.take_token(2, t0).is_ok());
    }

    #[test]
    fn an_idle_tenant_gets_its_burst_back_and_no_more() {
        let l = limits(2, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.take_token(1, t0).is_ok());
        }
        assert!(l.take_token(1, t0).is_err());
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(l.take_token(1, later).is_ok());
        }
        let refused = l
            .take_token(1, later)
            .expect_err("idle time is not saved up")
            .into_response();
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
    }

    #[tokio::test]
    async fn a_tenant_waits_for_its_running_places_then_is_refused() {
        let l = Limits::new(LimitConfig {
            concurrent: 2,
            queue_wait: Duration::from_millis(50),
            ..LimitConfig::default()
        });
        let a = l.admit(1).await.expect("first");
        let _b = l.admit(1).await.expect("second");
        let refused = l
            .admit(1)
            .await
            .expect_err("third waits, then is refused")
            .into_response();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        // Another tenant is not held up.
        assert!(l.admit(2).await.is_ok());
        // A place given back is taken by the next in line.
        drop(a);
        assert!(l.admit(1).await.is_ok());
    }
}
