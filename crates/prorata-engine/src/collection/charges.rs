//! The collection pass: dispatch, dunning steps, charges (the module docs of `collection`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use prorata_core::account::Account;
use prorata_core::dunning::{Effect, Standing};
use prorata_core::payment::PaymentMethod;
use prorata_core::Money;
use prorata_store::{
    Job, JobKind, LedgerKind, NewJob, NewLedgerEntry, NewOutbox, NewPayment, PaymentStatus, Tenant,
    TenantWork, Tx,
};
use serde_json::json;

use super::effects::email_job;
use super::{failpoint, CollectSummary, Received, BATCH, MAX_CHARGE_ATTEMPTS};
use crate::gateway::{GatewayError, PROCESSING_ERROR};
use crate::{Engine, Result};

/// Charge jobs prepared, sent and recorded together.
const CHARGE_CHUNK: i64 = 200;

impl Engine {
    /// The collection pass of `tenant` on its business day `on` (module docs).
    ///
    /// One pass per tenant at a time, whichever process runs it: this waits for a pass in
    /// progress elsewhere to end (prorata_store's tenant locks).
    pub async fn collect(&self, tenant: &Tenant, on: NaiveDate) -> Result<CollectSummary> {
        let lock = self
            .store
            .lock_tenant(tenant.id, TenantWork::Collection)
            .await?;
        let done = self.collect_pass(tenant, on, true).await;
        lock.release().await;
        done
    }

    /// [`Engine::collect`], unless another worker is collecting `tenant` right now: then
    /// `None`, and what is pending is that worker's (its pass reads it) or the next pass's.
    pub async fn try_collect(
        &self,
        tenant: &Tenant,
        on: NaiveDate,
    ) -> Result<Option<CollectSummary>> {
        let Some(lock) = self
            .store
            .try_lock_tenant(tenant.id, TenantWork::Collection)
            .await?
        else {
            return Ok(None);
        };
        let done = self.collect_pass(tenant, on, true).await;
        lock.release().await;
        done.map(Some)
    }

    /// A sandbox clock's collection of its day `on`: [`Engine::collect`], except that a charge
    /// which failed with a processing error on `on` waits for a later day. The clock gives
    /// each day one pass; an advance cut short and started again continues that day's pass
    /// rather than making a second one, so what the interrupted pass tried is not tried
    /// again the same day (an uninterrupted advance tries it on the next day it stops at).
    /// The caller holds the tenant's collection lock (the advance does, throughout).
    pub(crate) async fn collect_day(
        &self,
        tenant: &Tenant,
        on: NaiveDate,
    ) -> Result<CollectSummary> {
        self.collect_pass(tenant, on, false).await
    }

    async fn collect_pass(
        &self,
        tenant: &Tenant,
        on: NaiveDate,
        retry_failed_today: bool,
    ) -> Result<CollectSummary> {
        let mut summary = CollectSummary::default();
        self.dispatch(tenant, &mut summary).await?;
        self.dunning_steps(tenant, on, &mut summary).await?;
        self.run_charges(tenant, on, retry_failed_today, &mut summary)
            .await?;
        // Events the charges raised (payment.succeeded, account.reactivated, …).
        self.dispatch(tenant, &mut summary).await?;
        Ok(summary)
    }

    async fn dispatch(&self, tenant: &Tenant, summary: &mut CollectSummary) -> Result<()> {
        loop {
            let mut tx = self.store.begin().await?;
            let events = tx.pending_events(tenant.id, BATCH).await?;
            if events.is_empty() {
                return Ok(());
            }
            let endpoints: Vec<_> = tx
                .webhook_endpoints(tenant.id)
                .await?
                .into_iter()
                .map(|(e, _)| e)
                .filter(|e| e.disabled_at.is_none())
                .collect();
            let ids: Vec<i64> = crate::distinct(
                events
                    .iter()
                    .filter_map(|e| e.payload.get("account_id").and_then(|v| v.as_i64())),
            );
            let accounts = tx.accounts(tenant.id, &ids).await?;
            let methods = tx.payment_methods(tenant.id, &ids).await?;
            let mut jobs = Vec::new();
            let mut awaited = Vec::new();
            for event in &events {
                let account_id = event.payload.get("account_id").and_then(|v| v.as_i64());
                for endpoint in &endpoints {
                    if endpoint.events.is_empty() || endpoint.events.contains(&event.topic) {
                        jobs.push(NewJob {
                            account_id,
                            kind: JobKind::Webhook,
                            payload: json!({
                                "endpoint_id": endpoint.id,
                                "event_id": event.id,
                                "topic": event.topic,
                                "body": {
                                    "id": format!("evt_{}", event.id),
                                    "type": event.topic,
                                    "created_at": event.created_at,
                                    "data": event.payload,
                                },
                            }),
                        });
                    }
                }
                let Some((account_id, account)) =
                    account_id.and_then(|id| accounts.get(&id).map(|a| (id, a)))
                else {
                    continue;
                };
                let number = event.payload.get("number").and_then(|v| v.as_str());
                let template = match event.topic.as_str() {
                    "invoice.finalized" => Some("invoice"),
                    "credit_note.issued" => Some("credit_note"),
                    _ => None,
                };
                if let (Some(template), Some(number)) = (template, number) {
                    if !account.billing_contacts.is_empty() {
                        jobs.push(email_job(
                            account_id,
                            account,
                            template,
                            json!({ "number": number }),
                        ));
                    }
                }
                let total = event
                    .payload
                    .get("total")
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0);
                let automatic = methods
                    .get(&account_id)
                    .is_some_and(|m| m.token().is_some());
                if event.topic == "invoice.finalized" && total > 0 && automatic {
                    jobs.push(NewJob {
                        account_id: Some(account_id),
                        kind: JobKind::Charge,
                        payload: json!({ "reason": format!("invoice {}", number.unwrap_or("")) }),
                    });
                }
                // Paid by transfer, nothing collects it: the dunning pass looks after its due
                // date whether it was paid (prorata_core::overdue).
                let by_transfer = methods
                    .get(&account_id)
                    .is_some_and(|m| matches!(m, PaymentMethod::BankTransfer));
                let due_on = event
                    .payload
                    .get("due_on")
                    .and_then(|v| serde_json::from_value::<NaiveDate>(v.clone()).ok());
                if let (true, true, Some(number), Some(due_on)) = (
                    event.topic == "invoice.finalized" && total > 0,
                    by_transfer,
                    number,
                    due_on,
                ) {
                    awaited.push((account_id, number.to_string(), total, due_on));
                }
            }
            self.await_invoices(&mut tx, tenant, &awaited).await?;
            tx.insert_jobs(tenant.id, &jobs).await?;
            let done: Vec<i64> = events.iter().map(|e| e.id).collect();
            tx.mark_events_processed(tenant.id, &done).await?;
            tx.commit().await?;
            summary.events += events.len() as u64;
        }
    }

    /// Notes in each account's standing the invoices it must pay by transfer, in the
    /// dispatch's transaction, so that each is awaited once.
    async fn await_invoices(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        awaited: &[(i64, String, i64, NaiveDate)],
    ) -> Result<()> {
        if awaited.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = crate::distinct(awaited.iter().map(|a| a.0));
        let mut standings = tx.standings(tenant.id, &ids).await?;
        for (account_id, number, total, due_on) in awaited {
            standings
                .entry(*account_id)
                .or_default()
                .invoice_awaited(number, *total, *due_on);
        }
        for (account_id, standing) in &standings {
            tx.save_standing(tenant.id, *account_id, standing, &tenant.collection.dunning)
                .await?;
        }
        Ok(())
    }

    async fn dunning_steps(
        &self,
        tenant: &Tenant,
        on: NaiveDate,
        summary: &mut CollectSummary,
    ) -> Result<()> {
        let schedule = &tenant.collection.dunning;
        loop {
            let mut tx = self.store.begin().await?;
            let due = tx.standings_due(tenant.id, on, BATCH).await?;
            if due.is_empty() {
                return Ok(());
            }
            let ids: Vec<i64> = due.iter().map(|(a, _)| *a).collect();
            let accounts = tx.accounts(tenant.id, &ids).await?;
            let methods = tx.payment_methods(tenant.id, &ids).await?;
            let balances = tx.balances(tenant.id, &ids).await?;
            for (account_id, mut standing) in due {
                let by_transfer = methods
                    .get(&account_id)
                    .is_some_and(|m| matches!(m, PaymentMethod::BankTransfer));
                let balance = balances.get(&account_id).copied().unwrap_or(0);
                let effects = if by_transfer {
                    standing.overdue_day(on, balance, schedule, &tenant.collection.reminder_days)
                } else {
                    // A charge collects what is due and its failure opens the case; an
                    // account with no method is not dunned on its due dates (docs/payments.md).
                    standing.awaiting.clear();
                    standing.due(on, schedule)
                };
                if let Some(account) = accounts.get(&account_id) {
                    if effects.contains(&Effect::Remind) && !account.billing_contacts.is_empty() {
                        tx.insert_jobs(
                            tenant.id,
                            &[reminder_job(
                                tenant, account_id, account, &standing, balance,
                            )],
                        )
                        .await?;
                    }
                    let issued = self
                        .apply_effects(&mut tx, tenant, account_id, account, &effects, on)
                        .await?;
                    summary.issued.add(&issued);
                }
                tx.save_standing(tenant.id, account_id, &standing, schedule)
                    .await?;
                summary.dunning_steps += 1;
            }
            tx.commit().await?;
        }
    }

    async fn run_charges(
        &self,
        tenant: &Tenant,
        on: NaiveDate,
        retry_failed_today: bool,
        summary: &mut CollectSummary,
    ) -> Result<()> {
        // Jobs retried after a transient failure stay pending: one pass tries each job once.
        // The pass walks the pending jobs by id, so that however many stay pending in front
        // (a gateway down for a while), the ones behind are reached; deferred jobs send it
        // round once more.
        let mut seen = BTreeSet::new();
        let today = json!(on);
        let mut after = 0;
        let mut round_again = false;
        loop {
            let mut tx = self.store.begin().await?;
            let fetched = tx
                .pending_jobs(tenant.id, JobKind::Charge, after, CHARGE_CHUNK)
                .await?;
            drop(tx);
            let Some(last) = fetched.last() else {
                if std::mem::take(&mut round_again) {
                    after = 0;
                    continue;
                }
                return Ok(());
            };
            after = last.id;
            let jobs: Vec<Job> = fetched
                .into_iter()
                .filter(|j| !seen.contains(&j.id))
                .filter(|j| retry_failed_today || j.payload.get("failed_on") != Some(&today))
                .collect();
            if jobs.is_empty() {
                continue;
            }
            seen.extend(jobs.iter().map(|j| j.id));
            let (ready, accounts, deferred) = self.prepare_charges(tenant, jobs).await?;
            // A second charge of an account waits for the first to be recorded: it then
            // finds the balance paid, and charges nothing.
            for id in deferred {
                seen.remove(&id);
                round_again = true;
            }
            let outcomes = self.ask_gateway(&ready, on).await;
            failpoint("charge-after-gateway");
            summary.charges += ready.len() as u64;
            self.record_charges(tenant, &accounts, ready, outcomes, on, summary)
                .await?;
        }
    }

    /// Step 1 for a chunk of jobs, in one transaction: each job not yet keyed fixes its amount
    /// (the account's balance now), token and idempotency key; jobs with nothing to charge
    /// end here. Only one job per account goes ahead; the others are returned, deferred.
    async fn prepare_charges(
        &self,
        tenant: &Tenant,
        jobs: Vec<Job>,
    ) -> Result<(Vec<Ready>, BTreeMap<i64, Account>, Vec<i64>)> {
        let mut tx = self.store.begin().await?;
        let ids: Vec<i64> = crate::distinct(jobs.iter().filter_map(|j| j.account_id));
        let accounts = tx.accounts(tenant.id, &ids).await?;
        let balances = tx.balances(tenant.id, &ids).await?;
        let methods = tx.payment_methods(tenant.id, &ids).await?;
        // An attempt already keyed (waiting on a gateway that did not answer, or retrying a
        // processing error) is the account's charge in flight: nothing else is charged to
        // the account until it ends, or both would collect the same balance.
        let in_flight: BTreeMap<i64, i64> = tx
            .pending_jobs_of_accounts(tenant.id, JobKind::Charge, &ids)
            .await?
            .into_iter()
            .filter(|j| j.payload.get("key").is_some())
            .filter_map(|j| j.account_id.map(|a| (a, j.id)))
            .collect();
        let mut ready = Vec::with_capacity(jobs.len());
        let mut keyed_now = Vec::new();
        let mut deferred = Vec::new();
        let mut charging = BTreeSet::new();
        for mut job in jobs {
            let Some((account_id, account)) = job
                .account_id
                .and_then(|id| accounts.get(&id).map(|a| (id, a)))
            else {
                tx.finish_job(tenant.id, job.id, "no account", true, None)
                    .await?;
                continue;
            };
            let keyed = job.payload.get("key").is_some();
            if !keyed && in_flight.get(&account_id).is_some_and(|id| *id != job.id) {
                continue; // until the attempt in flight ends, in a later pass
            }
            if !charging.insert(account_id) {
                deferred.push(job.id); // after this chunk's charge of the account is recorded
                continue;
            }
            if job.payload.get("key").is_none() {
                let balance = balances.get(&account_id).copied().unwrap_or(0);
                let method = methods.get(&account_id);
                let Some((method, token)) = method.and_then(|m| m.token().map(|t| (m, t))) else {
                    tx.finish_job(tenant.id, job.id, "no automatic payment method", true, None)
                        .await?;
                    continue;
                };
                if balance <= 0 {
                    tx.finish_job(tenant.id, job.id, "nothing owed", true, None)
                        .await?;
                    continue;
                }
                job.payload["amount"] = json!(balance);
                job.payload["token"] = json!(token);
                job.payload["method"] = json!(method.describe());
                job.payload["key"] = json!(charge_key(tenant, &job));
                keyed_now.push((job.id, job.payload.clone()));
            }
            let field = |name: &str| {
                job.payload
                    .get(name)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            let (key, token, method) = (field("key"), field("token"), field("method"));
            let amount = Money::from_minor(
                job.payload
                    .get("amount")
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0),
                account.currency,
            );
            ready.push(Ready {
                job,
                account_id,
                amount,
                key,
                token,
                method,
            });
        }
        tx.update_job_payloads(tenant.id, &keyed_now).await?;
        tx.commit().await?;
        Ok((ready, accounts, deferred))
    }

    /// Step 2: the gateway's answers, in the order of `ready`, with as many calls in flight
    /// as the gateway takes.
    async fn ask_gateway(
        &self,
        ready: &[Ready],
        on: NaiveDate,
    ) -> Vec<Result<String, GatewayError>> {
        let in_flight = self.gateway.max_in_flight().max(1);
        let mut outcomes = Vec::with_capacity(ready.len());
        for window in ready.chunks(in_flight) {
            let mut calls = tokio::task::JoinSet::new();
            for (i, r) in window.iter().enumerate() {
                let gateway = self.gateway.clone();
                let (key, token, amount) = (r.key.clone(), r.token.clone(), r.amount);
                calls.spawn(async move { (i, gateway.charge(&key, &token, amount, on).await) });
            }
            let mut answers: Vec<Option<Result<String, GatewayError>>> =
                (0..window.len()).map(|_| None).collect();
            while let Some(joined) = calls.join_next().await {
                if let Ok((i, answer)) = joined {
                    answers[i] = Some(answer);
                }
            }
            // A call that panicked got no answer: asked again under its key next pass.
            outcomes.extend(answers.into_iter().map(|a| {
                a.unwrap_or_else(|| {
                    Err(GatewayError::Unavailable("the call did not finish".into()))
                })
            }));
        }
        outcomes
    }

    /// Step 3, in one transaction: payments received, failures (each opening or continuing a
    /// dunning case), and retries to come.
    async fn record_charges(
        &self,
        tenant: &Tenant,
        accounts: &BTreeMap<i64, Account>,
        ready: Vec<Ready>,
        outcomes: Vec<Result<String, GatewayError>>,
        on: NaiveDate,
        summary: &mut CollectSummary,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let mut received = Vec::new();
        let mut succeeded = Vec::new();
        for (mut r, outcome) in ready.into_iter().zip(outcomes) {
            match outcome {
                Ok(reference) => {
                    succeeded.push(r.job.id);
                    received.push(Received {
                        account_id: r.account_id,
                        method: r.method,
                        amount: r.amount,
                        reference,
                        key: r.key,
                    });
                }
                Err(GatewayError::Unavailable(why)) => {
                    // No answer: the card may have been charged. Ask again in the next pass
                    // under the same key, so the gateway answers what it did.
                    r.job.payload["last_error"] = json!(why);
                    tx.update_job(tenant.id, r.job.id, &r.job.payload, r.job.attempts)
                        .await?;
                }
                Err(GatewayError::Declined { code, message })
                    if code == PROCESSING_ERROR && r.job.attempts + 1 < MAX_CHARGE_ATTEMPTS =>
                {
                    // A definite failure that charged nothing: try again in the next pass,
                    // under a new key (the gateway would replay this answer for the old one).
                    r.job.attempts += 1;
                    r.job.payload["key"] = json!(charge_key(tenant, &r.job));
                    r.job.payload["last_error"] = json!(format!("{message} ({code})"));
                    r.job.payload["failed_on"] = json!(on);
                    tx.update_job(tenant.id, r.job.id, &r.job.payload, r.job.attempts)
                        .await?;
                }
                Err(e) => {
                    let why = match &e {
                        GatewayError::Declined { code, message } => format!("{message} ({code})"),
                        other => other.to_string(),
                    };
                    if let Some(account) = accounts.get(&r.account_id) {
                        self.record_failure(&mut tx, tenant, account, &r, &why, on)
                            .await?;
                    }
                    tx.finish_job(tenant.id, r.job.id, &format!("failed: {why}"), true, None)
                        .await?;
                    summary.failed += 1;
                }
            }
        }
        self.record_received(&mut tx, tenant, accounts, &received, on)
            .await?;
        tx.finish_jobs(tenant.id, &succeeded, "succeeded").await?;
        summary.succeeded += succeeded.len() as u64;
        tx.commit().await?;
        Ok(())
    }

    /// A declined charge: a failed payment, a zero ledger entry saying why, a
    /// `payment.failed` event, and the dunning case it opens (or continues).
    async fn record_failure(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        account: &Account,
        r: &Ready,
        why: &str,
        on: NaiveDate,
    ) -> Result<()> {
        tx.insert_payment(
            tenant.id,
            &NewPayment {
                account_id: r.account_id,
                method: r.method.clone(),
                amount: r.amount,
                status: PaymentStatus::Failed,
                failure: Some(why.to_string()),
                reference: String::new(),
                idempotency_key: r.key.clone(),
                paid_on: on,
            },
        )
        .await?;
        tx.insert_ledger(
            tenant.id,
            &[NewLedgerEntry {
                account_id: r.account_id,
                entry_date: on,
                kind: LedgerKind::PaymentFailed,
                amount: Money::from_minor(0, account.currency),
                reference: format!("{}: {why}", r.method),
            }],
        )
        .await?;
        tx.insert_outbox(
            tenant.id,
            &[NewOutbox {
                topic: "payment.failed".into(),
                payload: json!({
                    "account_id": r.account_id,
                    "amount": r.amount.minor(),
                    "currency": account.currency.code(),
                    "method": r.method,
                    "reason": why,
                }),
            }],
        )
        .await?;
        let mut standing = tx.standing(tenant.id, r.account_id).await?;
        let effects = standing.payment_failed(on, &tenant.collection.dunning);
        self.apply_effects(tx, tenant, r.account_id, account, &effects, on)
            .await?;
        tx.save_standing(
            tenant.id,
            r.account_id,
            &standing,
            &tenant.collection.dunning,
        )
        .await?;
        Ok(())
    }
}

/// The overdue reminder of an account not collected automatically: the invoices past due,
/// the amount, since when, and the tenant's bank details to pay to.
fn reminder_job(
    tenant: &Tenant,
    account_id: i64,
    account: &Account,
    standing: &Standing,
    balance: i64,
) -> NewJob {
    email_job(
        account_id,
        account,
        "reminder",
        json!({
            "invoices": standing.overdue,
            "amount": standing.past_due_amount(balance),
            "due_on": standing.since,
            "reminder": standing.reminders_sent,
            "bank_details": tenant.collection.bank_details,
        }),
    )
}

/// A charge job ready for the gateway.
struct Ready {
    job: Job,
    account_id: i64,
    amount: Money,
    key: String,
    token: String,
    method: String,
}

/// The idempotency key of a charge job's current attempt.
fn charge_key(tenant: &Tenant, job: &Job) -> String {
    format!("t{}-charge-{}-{}", tenant.id, job.id, job.attempts)
}
