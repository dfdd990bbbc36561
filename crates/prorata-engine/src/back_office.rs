//! What the back office reads and does beyond the tickets' use cases: a queue with the names
//! of its tickets' accounts, the account search, an account's whole page in one read, and the
//! billing team's change of country, state and VAT number (seed 003).
//!
//! As everywhere in the engine, nothing here judges who may act: the back office asks the
//! core's policy first. Every read is bounded, and each page is a fixed number of statements
//! whatever the number of rows (no query per ticket or per document).

use std::collections::BTreeMap;

use prorata_core::account::{Account, AccountPatch, Actor as AccountActor};
use prorata_core::dunning::Standing;
use prorata_core::payment::PaymentMethod;
use prorata_core::Money;
use prorata_store::{
    AccountRow, AuditEntry, ChangeRequestRow, DocumentRow, NewAudit, Page, Payment, QueueFilter,
    SubscriptionRow, Tenant, TicketRow, User,
};
use serde_json::json;

use crate::tickets::{Actor, MAX_TICKETS_PAGE};
use crate::{Engine, EngineError, Result};

/// A page of a queue: its tickets, the names of their accounts, the staff to assign to.
#[derive(Debug, Clone)]
pub struct QueueView {
    pub page: Page<TicketRow>,
    pub accounts: BTreeMap<i64, String>,
    pub staff: Vec<User>,
}

/// An account as the back office shows it.
#[derive(Debug, Clone)]
pub struct AccountOverview {
    pub id: i64,
    pub account: Account,
    /// Its account manager (a staff user's id).
    pub manager: Option<i64>,
    pub users: Vec<User>,
    pub subscriptions: Vec<SubscriptionRow>,
    /// Newest first, at most [`DOCUMENTS_SHOWN`].
    pub documents: Vec<DocumentRow>,
    /// In minor units; positive when the customer owes.
    pub balance: i64,
    pub standing: Standing,
    pub method: Option<PaymentMethod>,
    /// Newest first, at most [`TICKETS_SHOWN`].
    pub tickets: Vec<TicketRow>,
    pub change_requests: Vec<ChangeRequestRow>,
    /// Newest first, at most [`AUDIT_SHOWN`].
    pub audit: Vec<AuditEntry>,
    pub staff: Vec<User>,
    /// The tenant's business date (what "in force" means on the page).
    pub today: chrono::NaiveDate,
}

/// What an account page lists of each kind: five years of monthly documents and their
/// corrections fit, and the page stays one screen of reading per section.
pub const DOCUMENTS_SHOWN: i64 = 200;
pub const TICKETS_SHOWN: i64 = 50;
pub const AUDIT_SHOWN: i64 = 100;
/// Accounts a search returns.
pub const SEARCH_LIMIT: i64 = 50;

impl Engine {
    /// A page of tickets matching `filter` (a queue: oldest first), with their accounts'
    /// names and the tenant's staff, in one read.
    pub async fn queue_view(
        &self,
        tenant: &Tenant,
        filter: &QueueFilter,
        after: i64,
        limit: i64,
    ) -> Result<QueueView> {
        let limit = limit.clamp(1, MAX_TICKETS_PAGE);
        let mut tx = self.store.read().await?;
        let mut items = tx.tickets(tenant.id, filter, after, limit + 1).await?;
        let next = (items.len() as i64 > limit).then(|| {
            items.truncate(limit as usize);
            items.last().map_or(after, |t| t.id)
        });
        let mut ids: Vec<i64> = items.iter().map(|t| t.account_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let accounts = tx
            .accounts(tenant.id, &ids)
            .await?
            .into_iter()
            .map(|(id, a)| (id, a.name))
            .collect();
        let staff = tx.staff_users(tenant.id).await?;
        Ok(QueueView {
            page: Page { items, next },
            accounts,
            staff,
        })
    }

    /// The tenant's staff users (to assign tickets and name the authors of answers).
    pub async fn staff_users(&self, tenant: &Tenant) -> Result<Vec<User>> {
        let mut tx = self.store.read().await?;
        Ok(tx.staff_users(tenant.id).await?)
    }

    /// Accounts found by a company name, a VAT number, an address or contact, a user's
    /// e-mail or an invoice or credit note number.
    pub async fn search_accounts(&self, tenant: &Tenant, text: &str) -> Result<Vec<AccountRow>> {
        if text.chars().count() > 200 {
            return Err(crate::invalid("q", "at most 200 characters"));
        }
        let mut tx = self.store.read().await?;
        Ok(tx.search_accounts(tenant.id, text, SEARCH_LIMIT).await?)
    }

    /// Everything the account page shows, in one read.
    pub async fn account_overview(&self, tenant: &Tenant, id: i64) -> Result<AccountOverview> {
        let mut tx = self.store.read().await?;
        let account = tx
            .account(tenant.id, id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        let mut documents = tx
            .list_documents_newest(tenant.id, id, DOCUMENTS_SHOWN)
            .await?;
        documents.truncate(DOCUMENTS_SHOWN as usize);
        let filter = QueueFilter {
            account_id: Some(id),
            newest_first: true,
            ..QueueFilter::default()
        };
        Ok(AccountOverview {
            id,
            manager: tx.account_manager(tenant.id, id).await?,
            users: tx.users_of_account(tenant.id, id).await?,
            subscriptions: tx.subscriptions_of_account(tenant.id, id).await?,
            documents,
            balance: tx.balance(tenant.id, id).await?,
            standing: tx.standing(tenant.id, id).await?,
            method: tx.payment_method(tenant.id, id).await?,
            tickets: tx.tickets(tenant.id, &filter, 0, TICKETS_SHOWN).await?,
            change_requests: tx.change_requests(tenant.id, None, Some(id)).await?,
            audit: tx.audit_of_account(tenant.id, id, 0, AUDIT_SHOWN).await?,
            staff: tx.staff_users(tenant.id).await?,
            today: Engine::today(tenant),
            account,
        })
    }

    /// The billing team changes an account's country, state and VAT number (seed 003): the
    /// new values print on the documents issued from now on; those issued keep theirs (a
    /// document is immutable). Checked as any account change, audited with the old values.
    pub async fn change_tax_details(
        &self,
        tenant: &Tenant,
        who: Actor<'_>,
        id: i64,
        country: &str,
        state: &str,
        vat_number: &str,
    ) -> Result<Account> {
        let patch = AccountPatch {
            country: Some(country.trim().to_string()),
            state: Some(state.trim().to_string()),
            vat_number: Some(vat_number.trim().to_string()),
            ..AccountPatch::default()
        };
        self.update_account_by(tenant, id, &patch, AccountActor::BillingTeam, who)
            .await
    }

    /// The billing team records a bank transfer a customer proved in a ticket (seed 004):
    /// `amount` in major units of the account's currency (`"1490.40"`), `reference` as the
    /// bank shows it. The payment settles what it covers; a suspended account whose balance
    /// it clears is reactivated and its billing contacts are e-mailed, as for any payment.
    /// The ticket gets an internal note and the audit trail the payment, after the payment
    /// is committed (a crash between them loses the note, never the payment).
    pub async fn record_transfer_from_ticket(
        &self,
        tenant: &Tenant,
        who: Actor<'_>,
        ticket: i64,
        amount: &str,
        reference: &str,
    ) -> Result<Payment> {
        let row = self.ticket(tenant, ticket, true).await?.ticket;
        let account = self.account(tenant, row.account_id).await?;
        let money = Money::parse(amount.trim(), account.currency)
            .map_err(|e| crate::invalid("amount", e.to_string()))?;
        if money.minor() <= 0 {
            return Err(crate::invalid(
                "amount",
                "a transfer received is more than zero",
            ));
        }
        let payment = self
            .record_transfer(tenant, row.account_id, money.minor(), reference)
            .await?;
        let note = format!(
            "Transfer recorded: {} {} ({}), payment #{}.",
            money.amount_text(),
            money.currency(),
            payment.reference,
            payment.id
        );
        let mut tx = self.store.begin().await?;
        tx.insert_ticket_message(
            tenant.id,
            ticket,
            who.user_id,
            prorata_core::tickets::Author::Staff,
            true,
            &note,
        )
        .await?;
        tx.insert_audit(
            tenant.id,
            &NewAudit {
                account_id: Some(row.account_id),
                actor_id: who.user_id,
                actor: who.role.map_or("api", |r| r.as_str()),
                address: who.address,
                action: "payment.transfer_recorded",
                subject: Some(format!("payment:{}", payment.id)),
                before: None,
                after: Some(json!({
                    "amount": money.amount_text(),
                    "currency": money.currency(),
                    "reference": payment.reference,
                    "ticket": ticket,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(payment)
    }
}
