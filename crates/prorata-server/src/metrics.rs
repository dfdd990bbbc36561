//! Prometheus metrics of this process, served at `/metrics` in the text exposition format.
//!
//! Hand-written rather than a metrics crate: a handful of counters and histograms do not need
//! a dependency tree. The values live in one process-wide registry ([`global`]) because the
//! request middleware and the background workers that feed it share nothing else. Labels are
//! route templates, methods, statuses, outcomes and job kinds — never a tenant or an id — so
//! a label set stays small and the page says nothing about any customer; that is why
//! `/metrics` takes no credential (keep it off the public internet at the proxy all the same).
//!
//! Queue depths are read from the database at scrape time, so every process of a deployment
//! reports the same shared queues; the counters are this process's own (Prometheus sums them
//! over instances).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Request latency buckets, in seconds (5 ms to 10 s).
const REQUEST_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Billing run buckets, in seconds (a run is one tenant on one day: 10 ms to 10 minutes).
const RUN_BUCKETS: &[f64] = &[0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 600.0];

struct Histogram {
    bounds: &'static [f64],
    /// Observations at or under each bound (not cumulative; summed when rendered).
    counts: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            count: 0,
            sum: 0.0,
        }
    }

    fn observe(&mut self, seconds: f64) {
        if let Some(i) = self.bounds.iter().position(|b| seconds <= *b) {
            self.counts[i] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }

    /// `name_bucket{labels,le=…}` cumulative lines, then `_sum` and `_count`.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, n) in self.bounds.iter().zip(&self.counts) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{{{s}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), self.sum);
        let _ = writeln!(out, "{name}_count{} {}", braces(labels), self.count);
    }
}

/// A label value as the exposition format wants it (backslash, quote and newline escaped).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// This process's counters and histograms.
pub struct Metrics {
    /// (route template, method, status) → requests.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// route template → latency.
    request_seconds: Mutex<BTreeMap<String, Histogram>>,
    billing_runs: Mutex<Histogram>,
    invoices: AtomicU64,
    credit_notes: AtomicU64,
    charges_succeeded: AtomicU64,
    charges_failed: AtomicU64,
    emails_sent: AtomicU64,
    emails_failed: AtomicU64,
    webhooks_delivered: AtomicU64,
    webhooks_failed: AtomicU64,
}

/// The process's registry.
pub fn global() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
        requests: Mutex::default(),
        request_seconds: Mutex::default(),
        billing_runs: Mutex::new(Histogram::new(RUN_BUCKETS)),
        invoices: AtomicU64::new(0),
        credit_notes: AtomicU64::new(0),
        charges_succeeded: AtomicU64::new(0),
        charges_failed: AtomicU64::new(0),
        emails_sent: AtomicU64::new(0),
        emails_failed: AtomicU64::new(0),
        webhooks_delivered: AtomicU64::new(0),
        webhooks_failed: AtomicU64::new(0),
    });
    &METRICS
}

/// A poisoned lock only means a panic elsewhere mid-update: the numbers are still worth
/// serving.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
    pub fn request(&self, route: &str, method: &str, status: u16, latency: Duration) {
        *lock(&self.requests)
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        lock(&self.request_seconds)
            .entry(route.to_owned())
            .or_insert_with(|| Histogram::new(REQUEST_BUCKETS))
            .observe(latency.as_secs_f64());
    }

    pub fn billing_run(&self, took: Duration, summary: &prorata_engine::RunSummary) {
        lock(&self.billing_runs).observe(took.as_secs_f64());
        self.documents(summary);
    }

    /// Documents issued outside a billing run (by a dunning step).
    pub fn documents(&self, summary: &prorata_engine::RunSummary) {
        self.invoices.fetch_add(summary.invoices, Ordering::Relaxed);
        self.credit_notes
            .fetch_add(summary.credit_notes, Ordering::Relaxed);
    }

    pub fn charges(&self, succeeded: u64, failed: u64) {
        self.charges_succeeded
            .fetch_add(succeeded, Ordering::Relaxed);
        self.charges_failed.fetch_add(failed, Ordering::Relaxed);
    }

    pub fn email(&self, sent: bool) {
        let c = if sent {
            &self.emails_sent
        } else {
            &self.emails_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn webhook(&self, delivered: bool) {
        let c = if delivered {
            &self.webhooks_delivered
        } else {
            &self.webhooks_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text; `queues` are the open jobs by kind (`None` when the database did
    /// not answer, which `prorata_queue_depth_up` says rather than a gap that looks like 0).
    pub fn render(&self, queues: Option<&[(String, i64)]>) -> String {
        let mut out = String::new();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);

        out.push_str("# HELP prorata_http_requests_total HTTP requests answered, by route template, method and status.\n# TYPE prorata_http_requests_total counter\n");
        for ((route, method, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "prorata_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                label(route),
                label(method)
            );
        }
        out.push_str("# HELP prorata_http_request_duration_seconds Time to answer a request, by route template.\n# TYPE prorata_http_request_duration_seconds histogram\n");
        for (route, h) in lock(&self.request_seconds).iter() {
            h.render(
                &mut out,
                "prorata_http_request_duration_seconds",
                &format!("route=\"{}\"", label(route)),
            );
        }
        out.push_str("# HELP prorata_billing_run_duration_seconds Time of one tenant's billing run by the worker.\n# TYPE prorata_billing_run_duration_seconds histogram\n");
        lock(&self.billing_runs).render(&mut out, "prorata_billing_run_duration_seconds", "");

        out.push_str("# HELP prorata_documents_issued_total Documents issued by the workers' billing runs and dunning steps.\n# TYPE prorata_documents_issued_total counter\n");
        let _ = writeln!(
            out,
            "prorata_documents_issued_total{{kind=\"invoice\"}} {}",
            get(&self.invoices)
        );
        let _ = writeln!(
            out,
            "prorata_documents_issued_total{{kind=\"credit_note\"}} {}",
            get(&self.credit_notes)
        );

        out.push_str("# HELP prorata_charges_total Charges made by the collection worker, by outcome.\n# TYPE prorata_charges_total counter\n");
        let _ = writeln!(
            out,
            "prorata_charges_total{{outcome=\"succeeded\"}} {}",
            get(&self.charges_succeeded)
        );
        let _ = writeln!(
            out,
            "prorata_charges_total{{outcome=\"failed\"}} {}",
            get(&self.charges_failed)
        );

        out.push_str("# HELP prorata_emails_total E-mails the delivery worker tried, by outcome (a failure is retried).\n# TYPE prorata_emails_total counter\n");
        let _ = writeln!(
            out,
            "prorata_emails_total{{outcome=\"sent\"}} {}",
            get(&self.emails_sent)
        );
        let _ = writeln!(
            out,
            "prorata_emails_total{{outcome=\"failed\"}} {}",
            get(&self.emails_failed)
        );

        out.push_str("# HELP prorata_webhooks_total Webhook attempts, by outcome (a failure is retried).\n# TYPE prorata_webhooks_total counter\n");
        let _ = writeln!(
            out,
            "prorata_webhooks_total{{outcome=\"delivered\"}} {}",
            get(&self.webhooks_delivered)
        );
        let _ = writeln!(
            out,
            "prorata_webhooks_total{{outcome=\"failed\"}} {}",
            get(&self.webhooks_failed)
        );

        out.push_str("# HELP prorata_queue_depth_up 1 when the queue depths below were read from the database.\n# TYPE prorata_queue_depth_up gauge\n");
        let _ = writeln!(out, "prorata_queue_depth_up {}", u8::from(queues.is_some()));
        out.push_str("# HELP prorata_jobs_open Jobs not yet done over every tenant, by kind (shared by all processes).\n# TYPE prorata_jobs_open gauge\n");
        for kind in ["charge", "email", "webhook"] {
            if let Some(queues) = queues {
                let n = queues
                    .iter()
                    .find(|(k, _)| k == kind)
                    .map_or(0, |(_, n)| *n);
                let _ = writeln!(out, "prorata_jobs_open{{kind=\"{kind}\"}} {n}");
            }
        }
        out
    }
}

/// `GET /metrics`.
pub async fn scrape(State(state): State<AppState>) -> Response {
    let queues = match state.engine.open_jobs().await {
        Ok(q) => Some(q),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: queue depths not read");
            None
        }
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        global().render(queues.as_deref()),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_in_inf() {
        let mut h = Histogram::new(&[0.1, 1.0]);
        for s in [0.05, 0.5, 0.7, 3.0] {
            h.observe(s);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "route=\"/a\"");
        assert_eq!(
            out,
            "x_bucket{route=\"/a\",le=\"0.1\"} 1\nx_bucket{route=\"/a\",le=\"1\"} 3\n\
             x_bucket{route=\"/a\",le=\"+Inf\"} 4\nx_sum{route=\"/a\"} 4.25\nx_count{route=\"/a\"} 4\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
