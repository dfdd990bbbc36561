//! Collection: payment methods, charges, transfers, refunds and dunning (seeds 002 and 004).
//!
//! The collection pass of a tenant on a business day ([`Engine::collect`]) does, in order:
//!
//! 1. **dispatch**: outbox events become jobs — an invoice e-mail to the billing contacts, a
//!    charge when the account pays by card, SEPA or ACH, a webhook per subscribed endpoint —
//!    and the event is marked processed in the same transaction, so each is dispatched once;
//! 2. **dunning**: every account whose schedule has a step due takes it
//!    ([`prorata_core::dunning`]), its effects written as jobs and events;
//! 3. **charges**: each pending charge fixes its amount (the balance then) and its gateway
//!    idempotency key in a first commit, calls the gateway, and records the outcome — payment,
//!    ledger entry, event, standing — in a second. A process killed between the gateway's
//!    answer and the second commit runs the job again with the same key, and the gateway
//!    answers from memory: the customer is charged once.
//!
//! E-mails and webhooks are delivered by the server's workers (at least once; each carries an
//! id receivers can deduplicate on).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use prorata_core::account::{Account, Address};
use prorata_core::dunning::{Effect, Notice, Role, Standing, ROLES};
use prorata_core::payment::{self, CollectionSettings, PaymentMethod};
use prorata_core::Money;
use prorata_store::{
    Job, JobKind, LedgerKind, NewJob, NewLedgerEntry, NewOutbox, NewPayment, Payment,
    PaymentStatus, Tenant, Tx,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::gateway::{BankAccount, GatewayError, PROCESSING_ERROR};
use crate::{invalid, Engine, EngineError, Result};

/// Events and standings handled per transaction.
const BATCH: i64 = 500;
/// Processing errors (transient declines) tolerated before a charge counts as failed.
const MAX_CHARGE_ATTEMPTS: i64 = 3;

/// A payment method as the API receives it. A card arrives as the gateway's token (made in
/// the customer's browser); bank details are checked here, handed to the gateway and kept
/// only masked.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum NewPaymentMethod {
    Card {
        token: String,
    },
    SepaDebit {
        iban: String,
        /// The mandate the customer signed; one is made up when absent.
        #[serde(default)]
        mandate_reference: Option<String>,
    },
    AchDebit {
        routing_number: String,
        account_number: String,
    },
    BankTransfer,
}

/// What a collection pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CollectSummary {
    pub events: u64,
    pub dunning_steps: u64,
    pub charges: u64,
    pub succeeded: u64,
    pub failed: u64,
}

/// An account's standing as people see it: status, the case, the banner and sign-in rights
/// of each role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StandingView {
    pub standing: Standing,
    pub next_step_on: Option<NaiveDate>,
    pub balance: i64,
    pub currency: String,
    pub banners: BTreeMap<String, Notice>,
    pub access: BTreeMap<String, prorata_core::dunning::Access>,
}

fn role_name(r: Role) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Stops the process at a named point when `PRORATA_FAILPOINT` names it: how the crash tests
/// kill a worker at the worst moment. Read on each call; costs an environment lookup.
pub fn failpoint(name: &str) {
    if std::env::var("PRORATA_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}

fn gateway_error(e: GatewayError) -> EngineError {
    match e {
        GatewayError::Declined { code, message } => {
            EngineError::PaymentRefused(format!("{message} ({code})"))
        }
        GatewayError::Invalid(m) => invalid("token", m),
        GatewayError::Unavailable(m) => EngineError::Unavailable(m),
    }
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf)
        .map_err(|e| EngineError::Unavailable(format!("no randomness: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// An account without its personal data (seed 004's purge): what the ledger and the legal
/// records still need (country, currency, language, zone) and nothing that names a person.
fn purged(account: &Account) -> Account {
    Account {
        name: "(purged)".into(),
        website: String::new(),
        address: Address::default(),
        vat_number: None,
        billing_contacts: Vec::new(),
        ..account.clone()
    }
}

impl Engine {
    pub async fn set_collection_settings(
        &self,
        tenant: &Tenant,
        settings: &CollectionSettings,
    ) -> Result<()> {
        settings
            .validate()
            .map_err(|e| invalid(e.field, e.problem))?;
        let mut tx = self.store.begin().await?;
        tx.set_collection(tenant.id, settings).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes `input` the account's payment method. A card is authorised for one unit of the
    /// account's currency (1 USD for a USD account) and the authorisation voided at once
    /// (seed 004); a refused authorisation refuses the card with the gateway's reason. An
    /// account in dunning gets a charge queued: seed 004 retries an updated card in the next
    /// batch.
    pub async fn add_payment_method(
        &self,
        tenant: &Tenant,
        account_id: i64,
        input: &NewPaymentMethod,
    ) -> Result<PaymentMethod> {
        let account = self.account(tenant, account_id).await?;
        let today = Engine::today(tenant);
        let key = format!("t{}-pm-{account_id}-{}", tenant.id, random_hex(8)?);
        let method = match input {
            NewPaymentMethod::Card { token } => {
                payment::check_token("token", token).map_err(|e| invalid(e.field, e.problem))?;
                let card = self.gateway.card(token).await.map_err(gateway_error)?;
                payment::check_expiry(card.exp_month, card.exp_year, today).map_err(|e| {
                    EngineError::PaymentRefused(format!("card refused: {}", e.problem))
                })?;
                let one =
                    Money::from_minor(10_i64.pow(account.currency.exponent()), account.currency);
                let auth = self
                    .gateway
                    .authorise(&format!("{key}-auth"), token, one, today)
                    .await
                    .map_err(|e| match gateway_error(e) {
                        EngineError::PaymentRefused(m) => {
                            EngineError::PaymentRefused(format!("card refused: {m}"))
                        }
                        other => other,
                    })?;
                self.gateway
                    .void(&format!("{key}-void"), &auth)
                    .await
                    .map_err(gateway_error)?;
                PaymentMethod::Card {
                    token: token.clone(),
                    brand: card.brand,
                    last4: card.last4,
                    exp_month: card.exp_month,
                    exp_year: card.exp_year,
                }
            }
            NewPaymentMethod::SepaDebit {
                iban,
                mandate_reference,
            } => {
                let iban = payment::check_iban(iban).map_err(|e| invalid(e.field, e.problem))?;
                let mandate = match mandate_reference {
                    Some(m) if !m.trim().is_empty() => {
                        if m.len() > 35 || payment::contains_card_number(m) {
                            return Err(invalid("mandate_reference", "at most 35 characters"));
                        }
                        m.trim().to_string()
                    }
                    _ => format!("PRORATA-{}-{account_id}-{}", tenant.id, random_hex(4)?),
                };
                let token = self
                    .gateway
                    .attach_bank_account(&key, &BankAccount::Iban(iban.clone()))
                    .await
                    .map_err(gateway_error)?;
                PaymentMethod::SepaDebit {
                    token,
                    iban: payment::mask_iban(&iban),
                    mandate_reference: mandate,
                }
            }
            NewPaymentMethod::AchDebit {
                routing_number,
                account_number,
            } => {
                let routing = payment::check_routing_number(routing_number)
                    .map_err(|e| invalid(e.field, e.problem))?;
                let number = payment::check_account_number(account_number)
                    .map_err(|e| invalid(e.field, e.problem))?;
                let token = self
                    .gateway
                    .attach_bank_account(
                        &key,
                        &BankAccount::Ach {
                            routing: routing.clone(),
                            account: number.clone(),
                        },
                    )
                    .await
                    .map_err(gateway_error)?;
                PaymentMethod::AchDebit {
                    token,
                    routing_number: routing,
                    account_number: payment::mask_last4(&number),
                }
            }
            NewPaymentMethod::BankTransfer => PaymentMethod::BankTransfer,
        };
        let mut tx = self.store.begin().await?;
        tx.attach_payment_method(tenant.id, account_id, &method)
            .await?;
        let standing = tx.standing(tenant.id, account_id).await?;
        if method.token().is_some() {
            let effects = standing.method_updated();
            self.apply_effects(&mut tx, tenant, account_id, &account, &effects, today)
                .await?;
        }
        tx.commit().await?;
        Ok(method)
    }

    pub async fn payment_method(
        &self,
        tenant: &Tenant,
        account_id: i64,
    ) -> Result<Option<PaymentMethod>> {
        self.account(tenant, account_id).await?;
        let mut tx = self.store.begin().await?;
        Ok(tx.payment_method(tenant.id, account_id).await?)
    }

    pub async fn payments(&self, tenant: &Tenant, account_id: i64) -> Result<Vec<Payment>> {
        self.account(tenant, account_id).await?;
        let mut tx = self.store.begin().await?;
        Ok(tx.payments(tenant.id, account_id).await?)
    }

    /// Records a bank transfer received (the billing team matches it to the account by the
    /// invoice number it quotes). Partial payments and overpayments are allowed: the balance
    /// says what is left, and a credit goes to the next invoice.
    pub async fn record_transfer(
        &self,
        tenant: &Tenant,
        account_id: i64,
        amount_minor: i64,
        reference: &str,
    ) -> Result<Payment> {
        if amount_minor <= 0 {
            return Err(invalid("amount", "must be positive (minor units)"));
        }
        let reference = reference.trim();
        if reference.is_empty() || reference.len() > 140 {
            return Err(invalid(
                "reference",
                "1 to 140 characters: the transfer's reference",
            ));
        }
        if payment::contains_card_number(reference) {
            return Err(invalid("reference", "must not hold a card number"));
        }
        let account = self.account(tenant, account_id).await?;
        let today = Engine::today(tenant);
        let amount = Money::from_minor(amount_minor, account.currency);
        let mut tx = self.store.begin().await?;
        let key = format!("transfer-{}", random_hex(8)?);
        let id = self
            .record_success(
                &mut tx,
                tenant,
                account_id,
                &account,
                "bank transfer",
                amount,
                reference,
                &key,
                today,
            )
            .await?;
        let payment = tx
            .payment(tenant.id, id)
            .await?
            .ok_or(EngineError::NotFound("payment"))?;
        tx.commit().await?;
        Ok(payment)
    }

    /// Records a bank transfer received, matched to its account by the invoice number its
    /// reference quotes (`"Virement ACME INV-000042"`). A reference naming no invoice of the
    /// tenant is refused: the billing team then records it on the account it knows.
    pub async fn match_transfer(
        &self,
        tenant: &Tenant,
        amount_minor: i64,
        reference: &str,
    ) -> Result<Payment> {
        let mut tx = self.store.begin().await?;
        let mut account = None;
        let words = reference
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '/' | ':' | '(' | ')'))
            .filter(|w| (4..=40).contains(&w.len()))
            .take(20);
        for word in words {
            if let Some(doc) = tx.document_by_number(tenant.id, word).await? {
                if doc.document.kind == prorata_core::DocumentKind::Invoice {
                    account = Some(doc.account_id);
                    break;
                }
            }
        }
        drop(tx);
        let account = account.ok_or_else(|| {
            invalid(
                "reference",
                "names no invoice number of this tenant; record the transfer on its account",
            )
        })?;
        self.record_transfer(tenant, account, amount_minor, reference)
            .await
    }

    /// Refunds (part of) a payment: through the gateway for a collected one, as a record for a
    /// transfer (sent back by the billing team's bank). The ledger gains a refund entry.
    pub async fn refund_payment(
        &self,
        tenant: &Tenant,
        payment_id: i64,
        amount_minor: Option<i64>,
    ) -> Result<Payment> {
        let mut tx = self.store.begin().await?;
        let payment = tx
            .payment(tenant.id, payment_id)
            .await?
            .ok_or(EngineError::NotFound("payment"))?;
        drop(tx);
        if payment.status != PaymentStatus::Succeeded {
            return Err(EngineError::Conflict(
                "only a succeeded payment can be refunded".into(),
            ));
        }
        let left = payment.amount.minor() - payment.refunded.minor();
        let amount = amount_minor.unwrap_or(left);
        if amount <= 0 || amount > left {
            return Err(invalid(
                "amount",
                format!("must be between 1 and {left} (what is left to refund)"),
            ));
        }
        let money = Money::from_minor(amount, payment.amount.currency());
        let key = format!(
            "t{}-refund-{payment_id}-{}",
            tenant.id,
            payment.refunded.minor()
        );
        let reference = if payment.method == "bank transfer" {
            format!("refund of {}", payment.reference)
        } else {
            self.gateway
                .refund(&key, &payment.reference, money)
                .await
                .map_err(gateway_error)?
        };
        let mut tx = self.store.begin().await?;
        if !tx.add_refunded(tenant.id, payment_id, amount).await? {
            return Err(EngineError::Conflict(
                "refunded meanwhile; read the payment again".into(),
            ));
        }
        tx.insert_ledger(
            tenant.id,
            &[NewLedgerEntry {
                account_id: payment.account_id,
                entry_date: Engine::today(tenant),
                kind: LedgerKind::Refund,
                amount: money,
                reference,
            }],
        )
        .await?;
        let payment = tx
            .payment(tenant.id, payment_id)
            .await?
            .ok_or(EngineError::NotFound("payment"))?;
        tx.commit().await?;
        Ok(payment)
    }

    /// The account's standing, banners and who may sign in.
    pub async fn standing(&self, tenant: &Tenant, account_id: i64) -> Result<StandingView> {
        let account = self.account(tenant, account_id).await?;
        let mut tx = self.store.begin().await?;
        let standing = tx.standing(tenant.id, account_id).await?;
        let balance = tx.balance(tenant.id, account_id).await?;
        Ok(StandingView {
            next_step_on: standing.next_due(&tenant.collection.dunning),
            balance,
            currency: account.currency.code().to_string(),
            banners: ROLES
                .iter()
                .filter_map(|r| standing.banner_for(*r).map(|n| (role_name(*r), n)))
                .collect(),
            access: ROLES
                .iter()
                .map(|r| (role_name(*r), standing.access(*r)))
                .collect(),
            standing,
        })
    }

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

    /// A payment received: the payment row, its ledger entry, a `payment.succeeded` event,
    /// and — when the balance is settled — the end of any dunning case.
    #[allow(clippy::too_many_arguments)]
    async fn record_success(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        account_id: i64,
        account: &Account,
        method: &str,
        amount: Money,
        reference: &str,
        key: &str,
        on: NaiveDate,
    ) -> Result<i64> {
        let id = tx
            .insert_payment(
                tenant.id,
                &NewPayment {
                    account_id,
                    method: method.to_string(),
                    amount,
                    status: PaymentStatus::Succeeded,
                    failure: None,
                    reference: reference.to_string(),
                    idempotency_key: key.to_string(),
                    paid_on: on,
                },
            )
            .await?;
        tx.insert_ledger(
            tenant.id,
            &[NewLedgerEntry {
                account_id,
                entry_date: on,
                kind: LedgerKind::Payment,
                amount: amount.checked_neg()?,
                reference: format!("{method} {reference}"),
            }],
        )
        .await?;
        tx.insert_outbox(
            tenant.id,
            &[NewOutbox {
                topic: "payment.succeeded".into(),
                payload: json!({
                    "account_id": account_id,
                    "payment_id": id,
                    "amount": amount.minor(),
                    "currency": amount.currency().code(),
                    "method": method,
                    "reference": reference,
                }),
            }],
        )
        .await?;
        let balance = tx.balance(tenant.id, account_id).await?;
        if balance <= 0 {
            let mut standing = tx.standing(tenant.id, account_id).await?;
            let effects = standing.settled();
            if !effects.is_empty() {
                self.apply_effects(tx, tenant, account_id, account, &effects, on)
                    .await?;
                tx.save_standing(tenant.id, account_id, &standing, &tenant.collection.dunning)
                    .await?;
            }
        }
        Ok(id)
    }

    /// Writes what a standing transition asks for, in the caller's transaction.
    async fn apply_effects(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        account_id: i64,
        account: &Account,
        effects: &[Effect],
        on: NaiveDate,
    ) -> Result<()> {
        let mut jobs = Vec::new();
        let mut events = Vec::new();
        for effect in effects {
            match effect {
                Effect::Retry => jobs.push(NewJob {
                    account_id: Some(account_id),
                    kind: JobKind::Charge,
                    payload: json!({ "reason": "dunning retry" }),
                }),
                Effect::Email { notice } if !account.billing_contacts.is_empty() => {
                    let balance = tx.balance(tenant.id, account_id).await?;
                    jobs.push(email_job(
                        account_id,
                        account,
                        "notice",
                        json!({
                            "notice": notice,
                            "balance": balance,
                            "since": on,
                        }),
                    ));
                }
                Effect::Email { .. } => {}
                Effect::Event { topic } => events.push(NewOutbox {
                    topic: (*topic).to_string(),
                    payload: json!({ "account_id": account_id, "on": on }),
                }),
                Effect::EndSubscriptions => {
                    let at = prorata_core::timeline::start_of(on);
                    for mut row in tx.subscriptions_of_account(tenant.id, account_id).await? {
                        if row.subscription.end(on).is_some_and(|end| end <= at) {
                            continue;
                        }
                        row.subscription.events.push(prorata_core::timeline::Event {
                            recorded_on: on,
                            effective: at,
                            change: prorata_core::timeline::Change::Cancelled,
                        });
                        self.bill_one(tx, tenant, &row, on).await?;
                    }
                }
                Effect::Purge => {
                    tx.purge_account(tenant.id, account_id, &purged(account))
                        .await?;
                    events.push(NewOutbox {
                        topic: "account.purged".into(),
                        payload: json!({ "account_id": account_id, "on": on }),
                    });
                }
            }
        }
        tx.insert_jobs(tenant.id, &jobs).await?;
        tx.insert_outbox(tenant.id, &events).await?;
        Ok(())
    }
}

/// An e-mail to the account's billing contacts, in its language, addressed now: a contact
/// changed later does not receive what was sent before.
fn email_job(
    account_id: i64,
    account: &Account,
    template: &str,
    data: serde_json::Value,
) -> NewJob {
    NewJob {
        account_id: Some(account_id),
        kind: JobKind::Email,
        payload: json!({
            "template": template,
            "to": account.billing_contacts,
            "lang": account.language,
            "account_name": account.name,
            "currency": account.currency.code(),
            "data": data,
        }),
    }
}
