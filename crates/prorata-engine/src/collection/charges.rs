//! The collection pass: dispatch, dunning steps, charges (the module docs of `collection`).

use std::collections::BTreeSet;

use chrono::NaiveDate;
use prorata_core::Money;
use prorata_store::{
    Job, JobKind, LedgerKind, NewJob, NewLedgerEntry, NewOutbox, NewPayment, PaymentStatus, Tenant,
};
use serde_json::json;

use super::effects::email_job;
use super::{failpoint, CollectSummary, BATCH, MAX_CHARGE_ATTEMPTS};
use crate::gateway::{GatewayError, PROCESSING_ERROR};
use crate::{Engine, Result};

impl Engine {
    /// The collection pass of `tenant` on its business day `on` (module docs).
    pub async fn collect(&self, tenant: &Tenant, on: NaiveDate) -> Result<CollectSummary> {
        let mut summary = CollectSummary::default();
        self.dispatch(tenant, &mut summary).await?;
        self.dunning_steps(tenant, on, &mut summary).await?;
        self.run_charges(tenant, on, &mut summary).await?;
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
            let ids: Vec<i64> = events
                .iter()
                .filter_map(|e| e.payload.get("account_id").and_then(|v| v.as_i64()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let accounts = tx.accounts(tenant.id, &ids).await?;
            let methods = tx.payment_methods(tenant.id, &ids).await?;
            let mut jobs = Vec::new();
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
            }
            tx.insert_jobs(tenant.id, &jobs).await?;
            let done: Vec<i64> = events.iter().map(|e| e.id).collect();
            tx.mark_events_processed(tenant.id, &done).await?;
            tx.commit().await?;
            summary.events += events.len() as u64;
        }
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
            for (account_id, mut standing) in due {
                let effects = standing.due(on, schedule);
                if let Some(account) = accounts.get(&account_id) {
                    self.apply_effects(&mut tx, tenant, account_id, account, &effects, on)
                        .await?;
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
        summary: &mut CollectSummary,
    ) -> Result<()> {
        // Jobs retried after a transient failure stay pending: one pass tries each job once.
        let mut seen = BTreeSet::new();
        loop {
            let mut tx = self.store.begin().await?;
            let jobs: Vec<Job> = tx
                .pending_jobs(tenant.id, JobKind::Charge, BATCH)
                .await?
                .into_iter()
                .filter(|j| !seen.contains(&j.id))
                .collect();
            drop(tx);
            if jobs.is_empty() {
                return Ok(());
            }
            for job in jobs {
                seen.insert(job.id);
                self.charge(tenant, job, on, summary).await?;
            }
        }
    }

    /// One charge job, in the three steps of the module docs.
    async fn charge(
        &self,
        tenant: &Tenant,
        mut job: Job,
        on: NaiveDate,
        summary: &mut CollectSummary,
    ) -> Result<()> {
        let Some(account_id) = job.account_id else {
            let mut tx = self.store.begin().await?;
            tx.finish_job(tenant.id, job.id, "no account", true, None)
                .await?;
            return Ok(tx.commit().await?);
        };
        // 1. Fix what is charged, how, and under which key.
        if job.payload.get("key").is_none() {
            let mut tx = self.store.begin().await?;
            let balance = tx.balance(tenant.id, account_id).await?;
            let method = tx.payment_method(tenant.id, account_id).await?;
            let token = method.as_ref().and_then(|m| m.token().map(str::to_string));
            let (Some(method), Some(token)) = (method, token) else {
                tx.finish_job(tenant.id, job.id, "no automatic payment method", true, None)
                    .await?;
                return Ok(tx.commit().await?);
            };
            if balance <= 0 {
                tx.finish_job(tenant.id, job.id, "nothing owed", true, None)
                    .await?;
                return Ok(tx.commit().await?);
            }
            job.payload["amount"] = json!(balance);
            job.payload["token"] = json!(token);
            job.payload["method"] = json!(method.describe());
            job.payload["key"] =
                json!(format!("t{}-charge-{}-{}", tenant.id, job.id, job.attempts));
            tx.update_job(tenant.id, job.id, &job.payload, job.attempts)
                .await?;
            tx.commit().await?;
        }
        let field = |name: &str| {
            job.payload
                .get(name)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let (key, token, method) = (field("key"), field("token"), field("method"));
        let account = self.account(tenant, account_id).await?;
        let amount = Money::from_minor(
            job.payload
                .get("amount")
                .and_then(|v| v.as_i64())
                .unwrap_or(0),
            account.currency,
        );
        // 2. Ask the gateway.
        let outcome = self.gateway.charge(&key, &token, amount, on).await;
        failpoint("charge-after-gateway");
        summary.charges += 1;
        // 3. Record.
        let mut tx = self.store.begin().await?;
        match outcome {
            Ok(reference) => {
                self.record_success(
                    &mut tx, tenant, account_id, &account, &method, amount, &reference, &key, on,
                )
                .await?;
                tx.finish_job(tenant.id, job.id, "succeeded", true, None)
                    .await?;
                summary.succeeded += 1;
            }
            Err(GatewayError::Unavailable(why)) => {
                // No answer: the card may have been charged. Ask again in the next pass under
                // the same key, so the gateway answers what it did.
                job.payload["last_error"] = json!(why);
                tx.update_job(tenant.id, job.id, &job.payload, job.attempts)
                    .await?;
            }
            Err(GatewayError::Declined { code, message })
                if code == PROCESSING_ERROR && job.attempts + 1 < MAX_CHARGE_ATTEMPTS =>
            {
                // A definite failure that charged nothing: try again in the next pass, under
                // a new key (the gateway would replay this answer for the old one).
                job.attempts += 1;
                job.payload["key"] =
                    json!(format!("t{}-charge-{}-{}", tenant.id, job.id, job.attempts));
                job.payload["last_error"] = json!(format!("{message} ({code})"));
                tx.update_job(tenant.id, job.id, &job.payload, job.attempts)
                    .await?;
            }
            Err(e) => {
                let why = match &e {
                    GatewayError::Declined { code, message } => format!("{message} ({code})"),
                    other => other.to_string(),
                };
                tx.insert_payment(
                    tenant.id,
                    &NewPayment {
                        account_id,
                        method: method.clone(),
                        amount,
                        status: PaymentStatus::Failed,
                        failure: Some(why.clone()),
                        reference: String::new(),
                        idempotency_key: key.clone(),
                        paid_on: on,
                    },
                )
                .await?;
                tx.insert_ledger(
                    tenant.id,
                    &[NewLedgerEntry {
                        account_id,
                        entry_date: on,
                        kind: LedgerKind::PaymentFailed,
                        amount: Money::from_minor(0, account.currency),
                        reference: format!("{method}: {why}"),
                    }],
                )
                .await?;
                tx.insert_outbox(
                    tenant.id,
                    &[NewOutbox {
                        topic: "payment.failed".into(),
                        payload: json!({
                            "account_id": account_id,
                            "amount": amount.minor(),
                            "currency": account.currency.code(),
                            "method": method,
                            "reason": why,
                        }),
                    }],
                )
                .await?;
                let mut standing = tx.standing(tenant.id, account_id).await?;
                let effects = standing.payment_failed(on, &tenant.collection.dunning);
                self.apply_effects(&mut tx, tenant, account_id, &account, &effects, on)
                    .await?;
                tx.save_standing(tenant.id, account_id, &standing, &tenant.collection.dunning)
                    .await?;
                tx.finish_job(tenant.id, job.id, &format!("failed: {why}"), true, None)
                    .await?;
                summary.failed += 1;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
