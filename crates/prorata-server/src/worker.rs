//! The background workers of `prorata serve`:
//!
//! - **billing and collection**: live tenants are billed on the calendar's date and collected
//!   (charges, dunning steps); sandbox tenants are collected on their clock's date (a card
//!   updated there is retried in the next batch) and billed only when their clock moves;
//! - **e-mail** and **webhook** delivery: jobs claimed with a lease, sent, and finished or
//!   retried with backoff. A worker killed mid-delivery lets its lease run out and the job is
//!   sent again (at least once; receivers deduplicate on the Message-ID or event id).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use prorata_engine::{Engine, RunSummary};
use prorata_store::{Job, JobKind, TenantMode, WebhookDelivery};

use tracing::Instrument;

use crate::mail::Mailer;
use crate::shutdown::Stop;
use crate::webhooks;

/// How long a claimed delivery is held before another worker may take it.
const LEASE: Duration = Duration::from_secs(300);
/// Deliveries claimed at once.
const CLAIM: i64 = 50;

/// Bills and collects every tenant once (module docs). Exposed so tests can drain the work.
pub async fn run_once(engine: &Engine) -> Result<RunSummary, prorata_engine::EngineError> {
    run_pass(engine, &Stop::never()).await
}

/// [`run_once`], ending between tenants once `stop` is requested (the rest is the next
/// process's: a tenant's day is billed by whoever gets to it).
async fn run_pass(engine: &Engine, stop: &Stop) -> Result<RunSummary, prorata_engine::EngineError> {
    let ids = engine.store.begin().await?.tenant_ids().await?;
    let mut total = RunSummary::default();
    for id in ids {
        if stop.requested() {
            break;
        }
        let tenant = engine.tenant(id).await?;
        let today = Engine::today(&tenant);
        if tenant.mode == TenantMode::Live {
            let span = tracing::info_span!("billing_run", tenant = tenant.id, date = %today);
            let started = std::time::Instant::now();
            let s = engine
                .run_billing(&tenant, today, &mut |_| {})
                .instrument(span.clone())
                .await
                .inspect_err(|e| {
                    span.in_scope(|| tracing::error!(error = %e, "billing run failed"))
                })?;
            let took = started.elapsed();
            crate::metrics::global().billing_run(took, &s);
            span.in_scope(|| {
                tracing::info!(
                    duration_ms = took.as_secs_f64() * 1000.0,
                    invoices = s.invoices,
                    credit_notes = s.credit_notes,
                    "billing run done"
                )
            });
            total.add(&s);
        }
        let span = tracing::info_span!("collection", tenant = tenant.id, date = %today);
        let collected = engine
            .collect(&tenant, today)
            .instrument(span.clone())
            .await
            .inspect_err(|e| span.in_scope(|| tracing::error!(error = %e, "collection failed")))?;
        let metrics = crate::metrics::global();
        metrics.charges(collected.succeeded, collected.failed);
        metrics.documents(&collected.issued);
        // Sign-in leftovers (ended sessions, old links and failures) are not kept.
        if let Err(e) = engine.purge_people_leftovers(&tenant).await {
            tracing::warn!(tenant = tenant.id, error = %e, "housekeeping failed");
        }
        // Files are not billing: a tenant whose files cannot be made now holds up no one.
        match engine.render_documents(&tenant).await {
            Ok(rendered) => {
                for (number, why) in rendered.failed {
                    tracing::warn!(
                        tenant = tenant.id,
                        document = %number,
                        error = %why,
                        "document not rendered (retried next pass)"
                    );
                }
            }
            Err(e) => tracing::warn!(tenant = tenant.id, error = %e, "render pass failed"),
        }
    }
    Ok(total)
}

/// A job's tenant, read once per delivery pass.
async fn tenant_of<'a>(
    engine: &Engine,
    tenants: &'a mut BTreeMap<i64, prorata_store::Tenant>,
    id: i64,
) -> Result<&'a prorata_store::Tenant, prorata_engine::EngineError> {
    Ok(match tenants.entry(id) {
        std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::btree_map::Entry::Vacant(e) => e.insert(engine.tenant(id).await?),
    })
}

/// Sends the e-mails due now; returns how many were sent.
pub async fn deliver_emails(
    engine: &Engine,
    mailer: &Mailer,
) -> Result<usize, prorata_engine::EngineError> {
    deliver_emails_until(engine, mailer, &Stop::never()).await
}

/// Gives back the claimed jobs from `rest` on, unstarted, when a stop is requested; says
/// whether it did.
async fn give_back_if_stopping(
    engine: &Engine,
    stop: &Stop,
    rest: &[Job],
) -> Result<bool, prorata_engine::EngineError> {
    if !stop.requested() {
        return Ok(false);
    }
    engine.release_jobs(rest).await?;
    tracing::info!(released = rest.len(), "stopping: claimed jobs given back");
    Ok(true)
}

async fn deliver_emails_until(
    engine: &Engine,
    mailer: &Mailer,
    stop: &Stop,
) -> Result<usize, prorata_engine::EngineError> {
    let mut sent = 0;
    let mut tenants: BTreeMap<i64, prorata_store::Tenant> = BTreeMap::new();
    loop {
        let jobs = engine.claim_jobs(JobKind::Email, CLAIM, LEASE).await?;
        if jobs.is_empty() {
            return Ok(sent);
        }
        for (i, job) in jobs.iter().enumerate() {
            if give_back_if_stopping(engine, stop, &jobs[i..]).await? {
                return Ok(sent);
            }
            let job = job.clone();
            let tenant = tenant_of(engine, &mut tenants, job.tenant_id).await?;
            match send_email(engine, mailer, &job, tenant).await {
                Ok(()) => {
                    crate::metrics::global().email(true);
                    engine.job_done(&job, "sent").await?;
                    sent += 1;
                }
                Err(e) => {
                    crate::metrics::global().email(false);
                    tracing::warn!(
                        tenant = job.tenant_id,
                        job = job.id,
                        attempt = job.attempts,
                        error = %e,
                        "e-mail not sent (retried with backoff)"
                    );
                    engine.job_failed(&job, &e).await?;
                }
            }
        }
    }
}

async fn send_email(
    engine: &Engine,
    mailer: &Mailer,
    job: &Job,
    tenant: &prorata_store::Tenant,
) -> Result<(), String> {
    let mut request: prorata_docs::mail::MailRequest =
        serde_json::from_value(job.payload.clone()).map_err(|e| format!("payload: {e}"))?;
    // A single-use link travels as its row's id: the link itself is made now, under the
    // server's key, so the job table never holds it.
    if let Some(token_id) = request.data.get("token_id").and_then(|v| v.as_i64()) {
        let token = engine
            .token_for(job.tenant_id, token_id)
            .await
            .map_err(|e| e.to_string())?;
        let link = format!("{}/portal/{}/password/{token}", mailer.links(), tenant.slug);
        if let Some(data) = request.data.as_object_mut() {
            data.insert("link".into(), serde_json::Value::String(link));
        }
    }
    // A document travels as its stored Factur-X PDF (made now if the render pass has not
    // reached it yet): the attachment is the same file the API serves.
    let document = match prorata_docs::mail::document_number(&request) {
        Some(number) => {
            let row = engine
                .document_by_number(job.tenant_id, number)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("document {number} not found"))?;
            let (_, pdf) = engine
                .document_file(
                    tenant,
                    row.id,
                    row.document.kind,
                    prorata_store::FileFormat::Pdf,
                )
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("document {number} not found"))?;
            if prorata_engine::sha256_hex(&pdf.body) != pdf.sha256 {
                return Err(format!(
                    "the stored PDF of {number} does not match its SHA-256"
                ));
            }
            Some((row.document, pdf.body))
        }
        None => None,
    };
    let composed = prorata_docs::mail::compose(
        &request,
        &tenant.name,
        document.as_ref().map(|(d, pdf)| (d, pdf.as_slice())),
    )
    .map_err(|e| e.to_string())?;
    let id = format!("job-{}-{}@prorata", job.tenant_id, job.id);
    let message = mailer.message(&request.to, &composed, request.lang, &id)?;
    mailer
        .send(message, &format!("{}-{}", job.tenant_id, job.id))
        .await
}

/// Sends the webhook deliveries due now, logging each attempt; returns how many succeeded.
pub async fn deliver_webhooks(
    engine: &Engine,
    sender: &webhooks::Sender,
) -> Result<usize, prorata_engine::EngineError> {
    deliver_webhooks_until(engine, sender, &Stop::never()).await
}

async fn deliver_webhooks_until(
    engine: &Engine,
    sender: &webhooks::Sender,
    stop: &Stop,
) -> Result<usize, prorata_engine::EngineError> {
    let mut delivered = 0;
    loop {
        let jobs = engine.claim_jobs(JobKind::Webhook, CLAIM, LEASE).await?;
        if jobs.is_empty() {
            return Ok(delivered);
        }
        // Endpoints read once per claimed batch (a batch is mostly the same few endpoints);
        // a disabled endpoint is seen by the next batch.
        let mut targets = BTreeMap::new();
        let mut tenants: BTreeMap<i64, prorata_store::Tenant> = BTreeMap::new();
        for (i, job) in jobs.iter().enumerate() {
            if give_back_if_stopping(engine, stop, &jobs[i..]).await? {
                return Ok(delivered);
            }
            let job = job.clone();
            let get = |k: &str| job.payload.get(k).and_then(|v| v.as_i64()).unwrap_or(0);
            let (endpoint_id, event_id) = (get("endpoint_id"), get("event_id"));
            let topic = job
                .payload
                .get("topic")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            let target = match targets.entry((job.tenant_id, endpoint_id)) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(engine.webhook_target(job.tenant_id, endpoint_id).await?)
                }
            };
            let Some((endpoint, secret)) = target.as_ref().filter(|(e, _)| e.disabled_at.is_none())
            else {
                engine.job_done(&job, "endpoint disabled").await?;
                continue;
            };
            let body =
                serde_json::to_vec(job.payload.get("body").unwrap_or(&serde_json::Value::Null))
                    .unwrap_or_default();
            let now = SystemTime::now();
            let unix = now
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            // The tenant's rules as they are now (a host delisted since is refused).
            let tenant = tenant_of(engine, &mut tenants, job.tenant_id).await?;
            let sandbox = tenant.mode == prorata_store::TenantMode::Sandbox;
            let reach = match prorata_core::destination::host_of(&endpoint.url) {
                Some(h)
                    if sandbox
                        && prorata_core::destination::allowed_inside(
                            h,
                            &tenant.settings.webhooks,
                        ) =>
                {
                    webhooks::Reach::SandboxListed
                }
                _ => webhooks::Reach::Internet,
            };
            let answer = sender
                .post(
                    &endpoint.url,
                    reach,
                    secret,
                    &format!("evt_{event_id}"),
                    unix,
                    body,
                )
                .await;
            engine
                .log_delivery(
                    job.tenant_id,
                    &WebhookDelivery {
                        id: 0,
                        endpoint_id,
                        event_id,
                        topic,
                        attempt: job.attempts,
                        status_code: answer.status.map(i64::from),
                        error: answer.error.clone(),
                        attempted_at: prorata_engine::timestamp(now),
                    },
                )
                .await?;
            crate::metrics::global().webhook(answer.ok());
            if answer.ok() {
                engine.job_done(&job, "delivered").await?;
                delivered += 1;
            } else {
                tracing::warn!(
                    tenant = job.tenant_id,
                    endpoint = endpoint_id,
                    event = event_id,
                    attempt = job.attempts,
                    status = answer.status,
                    error = answer.error.as_deref().unwrap_or(""),
                    "webhook not delivered (retried with backoff)"
                );
                engine
                    .job_failed(&job, answer.error.as_deref().unwrap_or("failed"))
                    .await?;
            }
        }
    }
}

/// The workers this process started, and whether each is still running (`/readyz`).
static WORKERS: std::sync::Mutex<Vec<(&'static str, std::sync::Arc<AtomicBool>)>> =
    std::sync::Mutex::new(Vec::new());

/// Held by a worker's task: dropped when the task ends, returns or panics, or is aborted,
/// which marks the worker down.
struct Alive(std::sync::Arc<AtomicBool>);

impl Alive {
    fn register(name: &'static str) -> Alive {
        let flag = std::sync::Arc::new(AtomicBool::new(true));
        WORKERS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((name, flag.clone()));
        Alive(flag)
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// Each worker started in this process (`billing`, `delivery`) and whether it still runs.
pub fn workers() -> Vec<(&'static str, bool)> {
    WORKERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(name, alive)| (*name, alive.load(Ordering::Relaxed)))
        .collect()
}

/// Runs [`run_once`] every `every`, logging failures and carrying on, until `stop`.
pub fn spawn(engine: Engine, every: Duration, mut stop: Stop) -> tokio::task::JoinHandle<()> {
    let alive = Alive::register("billing");
    tokio::spawn(async move {
        let _alive = alive;
        while !stop.requested() {
            if let Err(e) = run_pass(&engine, &stop).await {
                tracing::error!(error = %e, "billing worker pass failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait() => {}
            }
        }
        tracing::info!("billing worker stopped");
    })
}

/// Runs the e-mail and webhook deliveries every `every`, until `stop`.
pub fn spawn_delivery(
    engine: Engine,
    mailer: Mailer,
    every: Duration,
    mut stop: Stop,
) -> tokio::task::JoinHandle<()> {
    let alive = Alive::register("delivery");
    tokio::spawn(async move {
        let _alive = alive;
        let sender = webhooks::Sender::new(Duration::from_secs(10));
        while !stop.requested() {
            let emails = deliver_emails_until(&engine, &mailer, &stop)
                .instrument(tracing::info_span!("delivery", kind = "email"))
                .await;
            if let Err(e) = emails {
                tracing::error!(error = %e, "e-mail worker pass failed");
            }
            let hooks = deliver_webhooks_until(&engine, &sender, &stop)
                .instrument(tracing::info_span!("delivery", kind = "webhook"))
                .await;
            if let Err(e) = hooks {
                tracing::error!(error = %e, "webhook worker pass failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait() => {}
            }
        }
        tracing::info!("delivery worker stopped");
    })
}
