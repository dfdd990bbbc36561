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
use prorata_store::{Job, JobKind, TenantMode, TenantWork, WebhookDelivery};

use tracing::Instrument;

use crate::mail::Mailer;
use crate::shutdown::Stop;
use crate::webhooks;

/// How long a claimed delivery is held before another worker may take it, unless the process
/// says otherwise (`prorata serve --delivery-lease`). Each delivery renews its job's lease
/// when it starts and is skipped if the claim was lost ([`still_held`]), so the lease must
/// outlast one delivery, not the batch of [`CLAIM`]; short enough that the batch of a process
/// that died is not left waiting long.
pub const LEASE: Duration = Duration::from_secs(300);
/// Deliveries claimed at once.
const CLAIM: i64 = 50;

/// Which background workers a process runs: `prorata serve --workers billing,collection,delivery`
/// (any subset; `none` for an API-only node). Any number of processes may run any of them on
/// one PostgreSQL database (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workers {
    pub billing: bool,
    pub collection: bool,
    pub delivery: bool,
}

impl Workers {
    pub const ALL: Workers = Workers {
        billing: true,
        collection: true,
        delivery: true,
    };
    pub const NONE: Workers = Workers {
        billing: false,
        collection: false,
        delivery: false,
    };
}

impl std::str::FromStr for Workers {
    type Err = String;

    fn from_str(list: &str) -> Result<Workers, String> {
        let mut workers = Workers::NONE;
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "billing" => workers.billing = true,
                "collection" => workers.collection = true,
                "delivery" => workers.delivery = true,
                "all" => workers = Workers::ALL,
                "none" => {}
                other => {
                    return Err(format!(
                        "unknown worker {other:?}: use billing, collection, delivery, all or none"
                    ))
                }
            }
        }
        Ok(workers)
    }
}

impl std::fmt::Display for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = [
            (self.billing, "billing"),
            (self.collection, "collection"),
            (self.delivery, "delivery"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

/// What a pass does with a tenant another process is working on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Busy {
    /// Waits for it ([`run_once`]: a caller draining the work wants it done).
    Wait,
    /// Leaves it to that process and goes on to the next tenant (the workers).
    Skip,
}

/// `tenant`'s lock for `work`, waited for or not as `busy` says; `None` when skipped.
async fn hold(
    engine: &Engine,
    tenant: i64,
    work: TenantWork,
    busy: Busy,
) -> Result<Option<prorata_store::TenantLock>, prorata_engine::EngineError> {
    Ok(match busy {
        Busy::Wait => Some(engine.store.lock_tenant(tenant, work).await?),
        Busy::Skip => engine.store.try_lock_tenant(tenant, work).await?,
    })
}

/// Bills and collects every tenant once (module docs), waiting for any tenant another
/// process is on. Exposed so tests can drain the work.
pub async fn run_once(engine: &Engine) -> Result<RunSummary, prorata_engine::EngineError> {
    let mut total = billing_pass(engine, &Stop::never(), Busy::Wait, 0).await?;
    total.add(&collection_pass(engine, &Stop::never(), Busy::Wait, 0).await?);
    Ok(total)
}

/// The tenants' ids, starting at a place that differs between processes and passes, so that
/// workers starting together do not all queue for the same first tenant.
async fn tenant_ids(engine: &Engine, pass: usize) -> Result<Vec<i64>, prorata_engine::EngineError> {
    let mut ids = engine.store.begin().await?.tenant_ids().await?;
    if !ids.is_empty() {
        let start = (std::process::id() as usize).wrapping_add(pass) % ids.len();
        ids.rotate_left(start);
    }
    Ok(ids)
}

/// Bills each live tenant on the calendar's date, ending between tenants once `stop` is
/// requested (the rest is the next process's: a tenant's day is billed by whoever gets to it).
/// A tenant is billed by one process at a time (`Busy` says what the others do): its documents
/// are numbered in one sequence, so its writes are serial whoever makes them.
async fn billing_pass(
    engine: &Engine,
    stop: &Stop,
    busy: Busy,
    pass: usize,
) -> Result<RunSummary, prorata_engine::EngineError> {
    let mut total = RunSummary::default();
    for id in tenant_ids(engine, pass).await? {
        if stop.requested() {
            break;
        }
        let tenant = engine.tenant(id).await?;
        if tenant.mode != TenantMode::Live {
            continue; // a sandbox is billed when its clock moves
        }
        let lock = hold(engine, id, TenantWork::Billing, busy).await?;
        let Some(lock) = lock else {
            tracing::debug!(tenant = id, "billed by another process now");
            continue;
        };
        let today = Engine::today(&tenant);
        let span = tracing::info_span!("billing_run", tenant = tenant.id, date = %today);
        let started = std::time::Instant::now();
        // A stop requested mid-run drops the run: the chunk being written is rolled back
        // whole and the next process bills from the first subscription still due.
        let mut stopping = stop.clone();
        let mut progress = |_| {};
        let billing = engine
            .run_billing(&tenant, today, &mut progress)
            .instrument(span.clone());
        let run = tokio::select! {
            run = billing => Some(run),
            _ = stopping.wait() => None,
        };
        lock.release().await;
        let Some(run) = run else {
            span.in_scope(|| tracing::info!("billing run stopped: the next process finishes it"));
            break;
        };
        let s = run
            .inspect_err(|e| span.in_scope(|| tracing::error!(error = %e, "billing run failed")))?;
        let took = started.elapsed();
        crate::metrics::global().billing_run(took, &s);
        // A pass over a tenant with nothing due is the common case: not worth a line a
        // second per tenant at the default level.
        let level_info = s.subscriptions > 0;
        span.in_scope(|| {
            if level_info {
                tracing::info!(
                    duration_ms = took.as_secs_f64() * 1000.0,
                    subscriptions = s.subscriptions,
                    invoices = s.invoices,
                    credit_notes = s.credit_notes,
                    "billing run done"
                )
            } else {
                tracing::debug!(duration_ms = took.as_secs_f64() * 1000.0, "nothing due")
            }
        });
        total.add(&s);
    }
    Ok(total)
}

/// Collects each tenant (charges, dunning steps, reminders) on its date — a sandbox's on its
/// clock's, where a card updated is retried — then makes the files of its new documents.
/// One process at a time per tenant for each (prorata_store's tenant locks): two collection
/// passes at once would charge and e-mail twice.
async fn collection_pass(
    engine: &Engine,
    stop: &Stop,
    busy: Busy,
    pass: usize,
) -> Result<RunSummary, prorata_engine::EngineError> {
    let mut total = RunSummary::default();
    for id in tenant_ids(engine, pass).await? {
        if stop.requested() {
            break;
        }
        let tenant = engine.tenant(id).await?;
        let today = Engine::today(&tenant);
        let span = tracing::info_span!("collection", tenant = tenant.id, date = %today);
        let collected = match busy {
            Busy::Wait => Some(
                engine
                    .collect(&tenant, today)
                    .instrument(span.clone())
                    .await,
            ),
            Busy::Skip => engine
                .try_collect(&tenant, today)
                .instrument(span.clone())
                .await
                .transpose(),
        };
        match collected {
            None => tracing::debug!(tenant = id, "collected by another process now"),
            Some(collected) => {
                let collected = collected.inspect_err(|e| {
                    span.in_scope(|| tracing::error!(error = %e, "collection failed"))
                })?;
                let metrics = crate::metrics::global();
                metrics.charges(collected.succeeded, collected.failed);
                metrics.documents(&collected.issued);
                if collected.charges > 0 || collected.dunning_steps > 0 {
                    span.in_scope(|| {
                        tracing::info!(
                            charges = collected.charges,
                            succeeded = collected.succeeded,
                            failed = collected.failed,
                            dunning_steps = collected.dunning_steps,
                            "collection done"
                        )
                    });
                }
                total.add(&collected.issued);
            }
        }
        let lock = hold(engine, id, TenantWork::Documents, busy).await?;
        if let Some(lock) = lock {
            housekeeping(engine, &tenant).await;
            lock.release().await;
        }
    }
    Ok(total)
}

/// Sign-in leftovers purged and documents' files made: neither is billing, so a tenant whose
/// files cannot be made now holds up no one (retried next pass).
async fn housekeeping(engine: &Engine, tenant: &prorata_store::Tenant) {
    if let Err(e) = engine.purge_people_leftovers(tenant).await {
        tracing::warn!(tenant = tenant.id, error = %e, "housekeeping failed");
    }
    match engine.render_documents(tenant).await {
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
    deliver_emails_until(engine, mailer, LEASE, &Stop::never()).await
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

/// Whether the worker still holds `job`, its lease renewed for one delivery
/// ([`Engine::renew_lease`]): a batch slower than its lease was sent a second time by the
/// worker that claimed it next. A job lost is left to that worker.
async fn still_held(
    engine: &Engine,
    job: &Job,
    lease: Duration,
) -> Result<bool, prorata_engine::EngineError> {
    let held = engine.renew_lease(job, lease).await?;
    if !held {
        tracing::info!(
            tenant = job.tenant_id,
            job = job.id,
            attempt = job.attempts,
            "lease ran out and another worker claimed the job: left to it"
        );
    }
    Ok(held)
}

async fn deliver_emails_until(
    engine: &Engine,
    mailer: &Mailer,
    lease: Duration,
    stop: &Stop,
) -> Result<usize, prorata_engine::EngineError> {
    let mut sent = 0;
    let mut tenants: BTreeMap<i64, prorata_store::Tenant> = BTreeMap::new();
    loop {
        let jobs = engine.claim_jobs(JobKind::Email, CLAIM, lease).await?;
        if jobs.is_empty() {
            return Ok(sent);
        }
        for (i, job) in jobs.iter().enumerate() {
            if give_back_if_stopping(engine, stop, &jobs[i..]).await? {
                return Ok(sent);
            }
            if !still_held(engine, job, lease).await? {
                continue;
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
    // An e-mail about money owed carries a link to pay, signed now under the server's key
    // and working for 30 days (prorata_engine::pay_links): like the single-use
    // links, it is never written to the job table.
    if let Some(account_id) = job
        .account_id
        .filter(|_| prorata_docs::mail::wants_pay_link(&request))
    {
        let expires_at = prorata_engine::pay_links::expiry_from(prorata_engine::people::unix_now());
        let invoices = prorata_docs::mail::invoices_named(&request);
        let token = engine.sign_pay_link(job.tenant_id, account_id, &invoices, expires_at);
        let link = format!(
            "{}/portal/{}/pay/{token}?lang={}",
            mailer.links(),
            tenant.slug,
            request.lang.as_str()
        );
        let last_day = prorata_engine::pay_links::last_day(expires_at);
        if let Some(data) = request.data.as_object_mut() {
            data.insert("pay_link".into(), serde_json::Value::String(link));
            data.insert("pay_link_expires".into(), serde_json::json!(last_day));
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
    deliver_webhooks_until(engine, sender, LEASE, &Stop::never()).await
}

async fn deliver_webhooks_until(
    engine: &Engine,
    sender: &webhooks::Sender,
    lease: Duration,
    stop: &Stop,
) -> Result<usize, prorata_engine::EngineError> {
    let mut delivered = 0;
    loop {
        let jobs = engine.claim_jobs(JobKind::Webhook, CLAIM, lease).await?;
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
            if !still_held(engine, job, lease).await? {
                continue;
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

/// Each worker started in this process (`billing`, `collection`, `delivery`) and whether it
/// still runs.
pub fn workers() -> Vec<(&'static str, bool)> {
    WORKERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(name, alive)| (*name, alive.load(Ordering::Relaxed)))
        .collect()
}

/// Runs the billing pass every `every`, logging failures and carrying on, until `stop`.
pub fn spawn_billing(engine: Engine, every: Duration, stop: Stop) -> tokio::task::JoinHandle<()> {
    spawn_passes("billing", every, stop, move |stop, pass| {
        let engine = engine.clone();
        async move {
            billing_pass(&engine, &stop, Busy::Skip, pass)
                .await
                .map(|_| ())
        }
    })
}

/// Runs the collection pass every `every`, logging failures and carrying on, until `stop`.
pub fn spawn_collection(
    engine: Engine,
    every: Duration,
    stop: Stop,
) -> tokio::task::JoinHandle<()> {
    spawn_passes("collection", every, stop, move |stop, pass| {
        let engine = engine.clone();
        async move {
            collection_pass(&engine, &stop, Busy::Skip, pass)
                .await
                .map(|_| ())
        }
    })
}

fn spawn_passes<F, Fut>(
    name: &'static str,
    every: Duration,
    mut stop: Stop,
    pass: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(Stop, usize) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), prorata_engine::EngineError>> + Send,
{
    let alive = Alive::register(name);
    tokio::spawn(async move {
        let _alive = alive;
        let mut n = 0;
        while !stop.requested() {
            if let Err(e) = pass(stop.clone(), n).await {
                tracing::error!(worker = name, error = %e, "worker pass failed");
            }
            n = n.wrapping_add(1);
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait() => {}
            }
        }
        tracing::info!(worker = name, "worker stopped");
    })
}

/// Runs the e-mail and webhook deliveries every `every`, claiming jobs for `lease`, until
/// `stop`.
pub fn spawn_delivery(
    engine: Engine,
    mailer: Mailer,
    every: Duration,
    lease: Duration,
    mut stop: Stop,
) -> tokio::task::JoinHandle<()> {
    let alive = Alive::register("delivery");
    tokio::spawn(async move {
        let _alive = alive;
        let sender = webhooks::Sender::new(Duration::from_secs(10));
        while !stop.requested() {
            let emails = deliver_emails_until(&engine, &mailer, lease, &stop)
                .instrument(tracing::info_span!("delivery", kind = "email"))
                .await;
            match emails {
                Ok(0) => {}
                Ok(sent) => tracing::info!(sent, "e-mails sent"),
                Err(e) => tracing::error!(error = %e, "e-mail worker pass failed"),
            }
            let hooks = deliver_webhooks_until(&engine, &sender, lease, &stop)
                .instrument(tracing::info_span!("delivery", kind = "webhook"))
                .await;
            match hooks {
                Ok(0) => {}
                Ok(delivered) => tracing::info!(delivered, "webhooks delivered"),
                Err(e) => tracing::error!(error = %e, "webhook worker pass failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait() => {}
            }
        }
        tracing::info!("delivery worker stopped");
    })
}
