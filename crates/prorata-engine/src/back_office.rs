//! What the back office reads and does beyond the tickets' use cases: a queue with the names
//! of its tickets' accounts, the account search, an account's whole page in one read, and the
//! billing team's change of country, state and VAT number (seed 003).
//!
//! As everywhere in the engine, nothing here judges who may act: the back office asks the
//! core's policy first. Every read is bounded, and each page is a fixed number of statements
//! whatever the number of rows (no query per ticket or per document).

use std::collections::BTreeMap;

use chrono::Datelike;
use prorata_core::account::{Account, AccountPatch, Actor as AccountActor};
use prorata_core::dunning::Standing;
use prorata_core::payment::PaymentMethod;
use prorata_core::Money;
use prorata_store::{
    AccountRow, AuditEntry, ChangeRequestRow, DocumentRow, Page, Payment, QueueFilter,
    SubscriptionRow, Tenant, TicketRow, User,
};
use serde_json::json;

use crate::tickets::{ticket_page, Actor};
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
    /// Payments received, oldest first (collected, transfers), with what was refunded.
    pub payments: Vec<Payment>,
    /// The ledger's latest entries, newest first (at most [`LEDGER_SHOWN`]).
    pub ledger: Vec<prorata_store::LedgerEntry>,
    /// The e-mails sent to the account's people, newest first (at most [`EMAILS_SHOWN`]):
    /// documents, dunning notices (the standing's history), tickets' answers.
    pub emails: Vec<prorata_store::MailRow>,
    pub staff: Vec<User>,
    /// The tenant's business date (what "in force" means on the page).
    pub today: chrono::NaiveDate,
}

/// What an account page lists of each kind: five years of monthly documents and their
/// corrections fit, and the page stays one screen of reading per section.
pub const DOCUMENTS_SHOWN: i64 = 200;
pub const TICKETS_SHOWN: i64 = 50;
pub const AUDIT_SHOWN: i64 = 100;
pub const LEDGER_SHOWN: i64 = 100;
pub const EMAILS_SHOWN: i64 = 100;
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
        let mut tx = self.store.read().await?;
        let page = ticket_page(&mut tx, tenant.id, filter, after, limit).await?;
        let mut ids: Vec<i64> = page.items.iter().map(|t| t.account_id).collect();
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
            page,
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
            payments: tx.payments(tenant.id, id).await?,
            ledger: tx.ledger_newest(tenant.id, id, LEDGER_SHOWN).await?,
            emails: tx.emails_of_account(tenant.id, id, EMAILS_SHOWN).await?,
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
        self.update_account_by(tenant, id, &patch, AccountActor::BillingTeam, who, None)
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
            &who.audit(
                row.account_id,
                "payment.transfer_recorded",
                format!("payment:{}", payment.id),
                None,
                Some(json!({
                    "amount": money.amount_text(),
                    "currency": money.currency(),
                    "reference": payment.reference,
                    "ticket": ticket,
                })),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(payment)
    }

    /// Seed 004: the billing team sends documents again to the account's billing contacts,
    /// each e-mail with its PDF — one document, or every invoice of a month (what an owner
    /// asks for by month and year). Returns the numbers sent.
    pub async fn send_documents_again(
        &self,
        tenant: &Tenant,
        who: Actor<'_>,
        account_id: i64,
        which: Resend,
    ) -> Result<Vec<String>> {
        let mut tx = self.store.begin().await?;
        let account = tx
            .account(tenant.id, account_id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        if account.billing_contacts.is_empty() {
            return Err(crate::invalid(
                "billing_contacts",
                "the account has no invoice recipient to send to",
            ));
        }
        let docs: Vec<DocumentRow> = match which {
            Resend::Document(id) => {
                let doc = tx
                    .document(tenant.id, id)
                    .await?
                    .filter(|d| d.account_id == account_id)
                    .ok_or(EngineError::NotFound("document"))?;
                vec![doc]
            }
            Resend::Month { year, month } => {
                let first = chrono::NaiveDate::from_ymd_opt(year, month, 1)
                    .ok_or_else(|| crate::invalid("month", "not a month of a year"))?;
                let found: Vec<DocumentRow> = tx
                    .list_documents(
                        tenant.id,
                        Some(prorata_core::DocumentKind::Invoice),
                        Some(account_id),
                        0,
                        10_000,
                    )
                    .await?
                    .items
                    .into_iter()
                    .filter(|d| {
                        let on = d.document.issued_on;
                        on >= first && on.month0() == first.month0() && on.year() == year
                    })
                    .collect();
                if found.is_empty() {
                    return Err(crate::invalid(
                        "month",
                        format!("no invoice was issued in {month:02}/{year}"),
                    ));
                }
                found
            }
        };
        let jobs: Vec<prorata_store::NewJob> = docs
            .iter()
            .map(|d| {
                let template = match d.document.kind {
                    prorata_core::DocumentKind::Invoice => "invoice",
                    prorata_core::DocumentKind::CreditNote => "credit_note",
                };
                crate::collection::effects::email_job(
                    account_id,
                    &account,
                    template,
                    json!({ "number": d.document.number }),
                )
            })
            .collect();
        tx.insert_jobs(tenant.id, &jobs).await?;
        let numbers: Vec<String> = docs.iter().map(|d| d.document.number.clone()).collect();
        tx.insert_audit(
            tenant.id,
            &who.audit(
                account_id,
                "documents.sent_again",
                format!("account:{account_id}"),
                None,
                Some(json!({"numbers": numbers, "to": account.billing_contacts})),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(numbers)
    }

    /// Seed 004: the billing team adds or removes an invoice recipient with the owner's
    /// consent, which is written down (how and when the owner agreed) and kept in the audit
    /// trail with the change.
    pub async fn change_billing_contact(
        &self,
        tenant: &Tenant,
        who: Actor<'_>,
        account_id: i64,
        change: ContactChange<'_>,
        consent: &str,
    ) -> Result<Account> {
        let consent = consent.trim();
        if consent.is_empty() || consent.chars().count() > 500 {
            return Err(crate::invalid(
                "consent",
                "say how and when the owner agreed (at most 500 characters)",
            ));
        }
        let account = self.account(tenant, account_id).await?;
        let mut contacts = account.billing_contacts.clone();
        match change {
            ContactChange::Add(email) => {
                let email = email.trim().to_lowercase();
                if contacts.contains(&email) {
                    return Err(crate::invalid("email", "already an invoice recipient"));
                }
                contacts.push(email);
            }
            ContactChange::Remove(email) => {
                let before = contacts.len();
                contacts.retain(|c| !c.eq_ignore_ascii_case(email.trim()));
                if contacts.len() == before {
                    return Err(crate::invalid("email", "not an invoice recipient"));
                }
            }
        }
        let patch = AccountPatch {
            billing_contacts: Some(contacts),
            ..AccountPatch::default()
        };
        let note = format!("owner's consent: {consent}");
        self.update_account_by(
            tenant,
            account_id,
            &patch,
            AccountActor::BillingTeam,
            who,
            Some(&note),
        )
        .await
    }

    /// The billing team refunds (part of) a payment of the account, audited.
    pub async fn refund_for_account(
        &self,
        tenant: &Tenant,
        who: Actor<'_>,
        account_id: i64,
        payment_id: i64,
        amount: Option<&str>,
    ) -> Result<Payment> {
        let account = self.account(tenant, account_id).await?;
        let owned = self
            .payments(tenant, account_id)
            .await?
            .into_iter()
            .any(|p| p.id == payment_id);
        if !owned {
            return Err(EngineError::NotFound("payment"));
        }
        let minor = match amount.map(str::trim).filter(|a| !a.is_empty()) {
            Some(text) => Some(
                Money::parse(text, account.currency)
                    .map_err(|e| crate::invalid("amount", e.to_string()))?
                    .minor(),
            ),
            None => None,
        };
        let payment = self.refund_payment(tenant, payment_id, minor).await?;
        let mut tx = self.store.begin().await?;
        tx.insert_audit(
            tenant.id,
            &who.audit(
                account_id,
                "payment.refunded",
                format!("payment:{payment_id}"),
                None,
                Some(json!({"refunded": payment.refunded.amount_text(),
                            "currency": payment.refunded.currency()})),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(payment)
    }

    /// A tenant admin sets the wording of the contract terms the portal shows (the notice
    /// clause, the cancellation reasons), in both languages; audited, followed by every page
    /// from now on.
    pub async fn set_terms(
        &self,
        tenant: &Tenant,
        who: Actor<'_>,
        terms: &prorata_core::terms::Terms,
    ) -> Result<()> {
        let blank =
            |t: &prorata_core::catalog::Text| t.en.trim().is_empty() || t.fr.trim().is_empty();
        if blank(&terms.notice_clause) {
            return Err(crate::invalid("notice_clause", "in both languages"));
        }
        if terms.cancellation_reasons.is_empty() || terms.cancellation_reasons.iter().any(blank) {
            return Err(crate::invalid(
                "cancellation_reasons",
                "at least one, each in both languages",
            ));
        }
        self.replace_setting(tenant, |s| &mut s.terms, terms, Some((who, "tenant.terms")))
            .await
    }

    /// A tenant admin acts on a staff member: disables them (signed out at once, and no
    /// sign-in after), or resets their second factor (a lost phone: signed out, the next
    /// sign-in enrols a new app). Never on oneself, never on a customer's person.
    pub async fn manage_staff_user(
        &self,
        tenant: &Tenant,
        who: Actor<'_>,
        user_id: i64,
        action: StaffChange,
    ) -> Result<()> {
        if who.user_id == Some(user_id) {
            return Err(crate::invalid(
                "user",
                "not on yourself: ask another administrator",
            ));
        }
        let mut tx = self.store.begin().await?;
        let user = tx
            .user(tenant.id, user_id)
            .await?
            .filter(|u| !u.role.is_customer())
            .ok_or(EngineError::NotFound("staff user"))?;
        let name = match action {
            StaffChange::Disable => {
                tx.set_user_status(
                    tenant.id,
                    user_id,
                    prorata_core::access::UserStatus::Disabled,
                )
                .await?;
                "staff.disabled"
            }
            StaffChange::ResetSecondFactor => {
                tx.reset_totp(tenant.id, user_id).await?;
                "staff.second_factor_reset"
            }
        };
        tx.delete_sessions_of_user(tenant.id, user_id).await?;
        tx.insert_audit(
            tenant.id,
            &who.tenant_audit(
                name,
                Some(format!("user:{user_id}")),
                Some(json!({"status": user.status.as_str(), "email": user.email})),
                None,
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Which documents to send again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    Document(i64),
    /// Every invoice issued in that month.
    Month {
        year: i32,
        month: u32,
    },
}

/// An invoice recipient added or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactChange<'a> {
    Add(&'a str),
    Remove(&'a str),
}

/// What a tenant admin does to a staff member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffChange {
    Disable,
    ResetSecondFactor,
}
