//! Payments: what was collected or received, transfers, refunds, and an account's standing.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use prorata_core::account::Account;
use prorata_core::dunning::ROLES;
use prorata_core::payment;
use prorata_core::Money;
use prorata_store::{
    LedgerKind, NewLedgerEntry, NewOutbox, NewPayment, Payment, PaymentStatus, Tenant, Tx,
};
use serde_json::json;

use super::{gateway_error, Received, StandingView};
use crate::random_hex;
use crate::{invalid, Engine, EngineError, Result};

impl Engine {
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
        crate::bounds::check_amount("amount", amount_minor)?;
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
        let received = Received {
            account_id,
            method: "bank transfer".into(),
            amount,
            reference: reference.to_string(),
            key: format!("transfer-{}", random_hex(8)?),
        };
        let accounts = BTreeMap::from([(account_id, account)]);
        let id = self
            .record_received(&mut tx, tenant, &accounts, &[received], today)
            .await?
            .pop()
            .ok_or(EngineError::NotFound("payment"))?;
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
                .filter_map(|r| standing.banner_for(*r).map(|n| (r.as_str().to_string(), n)))
                .collect(),
            access: ROLES
                .iter()
                .map(|r| (r.as_str().to_string(), standing.access(*r)))
                .collect(),
            standing,
        })
    }

    /// Payments received: a payment row each, their ledger entries and `payment.succeeded`
    /// events (a few statements for all), and — for each account whose balance they settle — the
    /// end of its dunning case. `accounts` holds every account named. Returns the payments'
    /// ids, in order.
    pub(super) async fn record_received(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        accounts: &BTreeMap<i64, Account>,
        received: &[Received],
        on: NaiveDate,
    ) -> Result<Vec<i64>> {
        let payments: Vec<NewPayment> = received
            .iter()
            .map(|r| NewPayment {
                account_id: r.account_id,
                method: r.method.clone(),
                amount: r.amount,
                status: PaymentStatus::Succeeded,
                failure: None,
                reference: r.reference.clone(),
                idempotency_key: r.key.clone(),
                paid_on: on,
            })
            .collect();
        let ids = tx.insert_payments(tenant.id, &payments).await?;
        let mut ledger = Vec::with_capacity(received.len());
        let mut events = Vec::with_capacity(received.len());
        for (r, id) in received.iter().zip(&ids) {
            ledger.push(NewLedgerEntry {
                account_id: r.account_id,
                entry_date: on,
                kind: LedgerKind::Payment,
                amount: r.amount.checked_neg()?,
                reference: format!("{} {}", r.method, r.reference),
            });
            events.push(NewOutbox {
                topic: "payment.succeeded".into(),
                payload: json!({
                    "account_id": r.account_id,
                    "payment_id": id,
                    "amount": r.amount.minor(),
                    "currency": r.amount.currency().code(),
                    "method": r.method,
                    "reference": r.reference,
                }),
            });
        }
        tx.insert_ledger(tenant.id, &ledger).await?;
        tx.insert_outbox(tenant.id, &events).await?;
        let paid: Vec<i64> = crate::distinct(received.iter().map(|r| r.account_id));
        let balances = tx.balances(tenant.id, &paid).await?;
        let settled: Vec<i64> = paid
            .into_iter()
            .filter(|a| balances.get(a).copied().unwrap_or(0) <= 0)
            .collect();
        for (account_id, mut standing) in tx.standings(tenant.id, &settled).await? {
            let effects = standing.settled();
            let Some(account) = accounts.get(&account_id).filter(|_| !effects.is_empty()) else {
                continue;
            };
            self.apply_effects(tx, tenant, account_id, account, &effects, on)
                .await?;
            tx.save_standing(tenant.id, account_id, &standing, &tenant.collection.dunning)
                .await?;
        }
        Ok(ids)
    }
}
