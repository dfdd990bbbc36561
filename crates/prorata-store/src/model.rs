//! What the store reads and writes: domain values from `prorata-core` with their ids.

use chrono::NaiveDate;
use prorata_core::access::{Role, UserStatus};
use prorata_core::account::Account;
use prorata_core::document::{Document, DocumentKind};
use prorata_core::payment::CollectionSettings;
use prorata_core::reconcile::Settings;
use prorata_core::timeline::Subscription;
use prorata_core::{Lang, Money};
use serde::{Deserialize, Serialize};

/// Whether a tenant bills for real or in a sandbox with a movable clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TenantMode {
    Live,
    Sandbox,
}

impl TenantMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantMode::Live => "live",
            TenantMode::Sandbox => "sandbox",
        }
    }

    pub(crate) fn parse(s: &str) -> crate::Result<TenantMode> {
        match s {
            "live" => Ok(TenantMode::Live),
            "sandbox" => Ok(TenantMode::Sandbox),
            other => Err(crate::StoreError::Corrupt(format!("tenant mode {other:?}"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: i64,
    pub name: String,
    /// Names the tenant in its portal's address; unique. `t<id>` until one is chosen.
    #[serde(default)]
    pub slug: String,
    pub mode: TenantMode,
    /// The sandbox's test clock; `None` for live tenants, which use the calendar.
    pub clock: Option<NaiveDate>,
    pub settings: Settings,
    /// Dunning schedule and bank details for transfers.
    pub collection: CollectionSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    pub id: i64,
    pub prefix: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogVersion {
    pub id: i64,
    pub version: i64,
    pub source: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRow {
    pub id: i64,
    pub account: Account,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRow {
    pub id: i64,
    pub account_id: i64,
    pub catalog_version_id: i64,
    pub subscription: Subscription,
    pub next_due: Option<NaiveDate>,
    /// Bumped by every change of the timeline: a billing run that read the row earlier knows
    /// to reconcile it again.
    pub revision: i64,
}

/// A subscription due for billing, with its settled-through horizon (`None`: the billing run
/// reads its whole history).
#[derive(Debug, Clone)]
pub struct DueRow {
    pub row: SubscriptionRow,
    pub horizon: Option<prorata_core::horizon::Horizon>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentRow {
    pub id: i64,
    pub account_id: i64,
    pub subscription_id: i64,
    pub document: Document,
}

/// The files kept for each document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// Factur-X: PDF/A-3 with the XML embedded.
    Pdf,
    /// EN 16931 CII XML.
    Xml,
}

/// A file to store for a document.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub document_id: i64,
    pub format: FileFormat,
    /// Lower-case hex.
    pub sha256: String,
    pub body: Vec<u8>,
}

/// A stored file and the SHA-256 recorded when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub sha256: String,
    pub body: Vec<u8>,
}

/// A document to store, with what it belongs to.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub account_id: i64,
    pub subscription_id: i64,
    pub document: Document,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    Invoice,
    CreditNote,
    Payment,
    /// A collection that failed: zero amount, its reason in the reference.
    PaymentFailed,
    Refund,
    WriteOff,
    /// Prepaid credit an invoice took from the account's wallet: lowers the balance like a
    /// payment.
    PrepaidCredit,
}

impl LedgerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Invoice => "invoice",
            LedgerKind::CreditNote => "credit_note",
            LedgerKind::Payment => "payment",
            LedgerKind::PaymentFailed => "payment_failed",
            LedgerKind::Refund => "refund",
            LedgerKind::WriteOff => "write_off",
            LedgerKind::PrepaidCredit => "prepaid_credit",
        }
    }

    pub(crate) fn parse(s: &str) -> crate::Result<LedgerKind> {
        Ok(match s {
            "invoice" => LedgerKind::Invoice,
            "credit_note" => LedgerKind::CreditNote,
            "payment" => LedgerKind::Payment,
            "payment_failed" => LedgerKind::PaymentFailed,
            "refund" => LedgerKind::Refund,
            "write_off" => LedgerKind::WriteOff,
            "prepaid_credit" => LedgerKind::PrepaidCredit,
            other => return Err(crate::StoreError::Corrupt(format!("ledger kind {other:?}"))),
        })
    }

    pub fn of_document(kind: DocumentKind) -> LedgerKind {
        match kind {
            DocumentKind::Invoice => LedgerKind::Invoice,
            DocumentKind::CreditNote => LedgerKind::CreditNote,
        }
    }
}

/// A ledger entry; a positive amount is owed by the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LedgerEntry {
    pub id: i64,
    pub account_id: i64,
    pub entry_date: NaiveDate,
    pub kind: LedgerKind,
    pub amount: Money,
    pub reference: String,
}

#[derive(Debug, Clone)]
pub struct NewLedgerEntry {
    pub account_id: i64,
    pub entry_date: NaiveDate,
    pub kind: LedgerKind,
    pub amount: Money,
    pub reference: String,
}

/// How a wallet entry moved the account's prepaid credit ([`prorata_core::wallet`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WalletKind {
    /// A top-up the customer paid for.
    Paid,
    /// A top-up the vendor gave.
    Granted,
    /// Credit an invoice took (negative).
    Applied,
}

impl WalletKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WalletKind::Paid => "paid",
            WalletKind::Granted => "granted",
            WalletKind::Applied => "applied",
        }
    }

    pub(crate) fn parse(s: &str) -> crate::Result<WalletKind> {
        Ok(match s {
            "paid" => WalletKind::Paid,
            "granted" => WalletKind::Granted,
            "applied" => WalletKind::Applied,
            other => return Err(crate::StoreError::Corrupt(format!("wallet kind {other:?}"))),
        })
    }

    pub fn of_top_up(kind: prorata_core::wallet::TopUp) -> WalletKind {
        match kind {
            prorata_core::wallet::TopUp::Paid => WalletKind::Paid,
            prorata_core::wallet::TopUp::Granted => WalletKind::Granted,
        }
    }
}

/// An entry of an account's wallet; a positive amount is credit put on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WalletEntry {
    pub id: i64,
    pub account_id: i64,
    pub entry_date: NaiveDate,
    pub kind: WalletKind,
    pub amount: Money,
    /// The invoice that took the credit, or the top-up's reference.
    pub reference: String,
}

#[derive(Debug, Clone)]
pub struct NewWalletEntry {
    pub account_id: i64,
    pub entry_date: NaiveDate,
    pub kind: WalletKind,
    pub amount: Money,
    pub reference: String,
}

/// Something that must leave the system (an e-mail, a charge, a webhook), written with the
/// change that caused it.
#[derive(Debug, Clone)]
pub struct NewOutbox {
    pub topic: String,
    pub payload: serde_json::Value,
}

/// One page of a list, and the cursor of the next page when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<i64>,
}

/// A stored response to a POST, replayed for a repeated `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentResponse {
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

pub fn document_kind_str(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Invoice => "invoice",
        DocumentKind::CreditNote => "credit_note",
    }
}

// ---------------------------------------------------------------- collection

/// A collection tried through the gateway, or a transfer recorded by the billing team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Payment {
    pub id: i64,
    pub account_id: i64,
    /// How it was paid, as shown to people (`Visa •••• 4242 (12/2028)`, `bank transfer`).
    pub method: String,
    pub amount: Money,
    pub refunded: Money,
    pub status: PaymentStatus,
    pub failure: Option<String>,
    pub reference: String,
    pub paid_on: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Succeeded,
    Failed,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewPayment {
    pub account_id: i64,
    pub method: String,
    pub amount: Money,
    pub status: PaymentStatus,
    pub failure: Option<String>,
    pub reference: String,
    pub idempotency_key: String,
    pub paid_on: NaiveDate,
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Charge,
    Email,
    Webhook,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Charge => "charge",
            JobKind::Email => "email",
            JobKind::Webhook => "webhook",
        }
    }
}

/// An effect leaving the system, done once: see the `jobs` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub tenant_id: i64,
    pub account_id: Option<i64>,
    pub kind: JobKind,
    pub payload: serde_json::Value,
    pub attempts: i64,
}

/// An e-mail of an account, as the back office lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailRow {
    pub id: i64,
    /// `invoice`, `credit_note`, `notice`, `ticket`, …
    pub template: String,
    /// The document number, the dunning notice or the ticket e-mail's kind it carries.
    pub what: Option<String>,
    pub to: Vec<String>,
    pub created_at: String,
    /// When it went out (or was given up).
    pub done_at: Option<String>,
    pub outcome: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewJob {
    pub account_id: Option<i64>,
    pub kind: JobKind,
    pub payload: serde_json::Value,
}

/// An outbox row: something that happened, waiting to be turned into jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub topic: String,
    pub payload: serde_json::Value,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEndpoint {
    pub id: i64,
    pub url: String,
    /// Topics sent; empty means every topic.
    pub events: Vec<String>,
    pub created_at: String,
    pub disabled_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    pub id: i64,
    pub endpoint_id: i64,
    pub event_id: i64,
    pub topic: String,
    pub attempt: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub attempted_at: String,
}

// ---------------------------------------------------------------- people

/// A person of a tenant: a customer account's user (owner, admin, agent) or one of the
/// tenant's staff (`account_id` is `None`).
#[derive(Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: i64,
    pub tenant_id: i64,
    pub account_id: Option<i64>,
    pub role: Role,
    /// Lower-case (the caller folds it before storing and looking it up).
    pub email: String,
    pub name: String,
    pub language: Lang,
    pub status: UserStatus,
    /// The password's hash; `None` until one is set. Never serialized nor printed.
    #[serde(skip_serializing)]
    pub password_hash: Option<String>,
    pub created_at: String,
}

fn hash_state(hash: &Option<impl Sized>) -> &'static str {
    if hash.is_some() {
        "<set>"
    } else {
        "<none>"
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("account_id", &self.account_id)
            .field("role", &self.role)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("language", &self.language)
            .field("status", &self.status)
            .field(
                "password_hash",
                &format_args!("{}", hash_state(&self.password_hash)),
            )
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A user to store (see [`crate::Tx::insert_user`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NewUser<'a> {
    pub account_id: Option<i64>,
    pub role: Role,
    pub email: &'a str,
    pub name: &'a str,
    pub language: Lang,
    pub status: UserStatus,
    pub password_hash: Option<&'a str>,
}

impl std::fmt::Debug for NewUser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("account_id", &self.account_id)
            .field("role", &self.role)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("language", &self.language)
            .field("status", &self.status)
            .field(
                "password_hash",
                &format_args!("{}", hash_state(&self.password_hash)),
            )
            .finish()
    }
}

/// A signed-in session, found by the SHA-256 of its id. Times are unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SessionRow {
    pub tenant_id: i64,
    pub user_id: i64,
    pub created_at: i64,
    pub last_seen: i64,
    /// Absolute expiry: the session ends then however active it is.
    pub expires_at: i64,
    /// The user gave every factor their role asks for (a staff session waiting for its
    /// second factor is not).
    pub verified: bool,
}

/// A user's second factor (TOTP) as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRow {
    /// The secret, sealed under the server's key; `None` before enrolment.
    pub sealed: Option<String>,
    /// Unix seconds of the first code accepted; `None` while enrolling.
    pub confirmed_at: Option<i64>,
    /// The last 30-second step accepted.
    pub last_step: Option<i64>,
}

/// What a single-use link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenPurpose {
    Invitation,
    PasswordReset,
    PortalSession,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Invitation => "invitation",
            TokenPurpose::PasswordReset => "password_reset",
            TokenPurpose::PortalSession => "portal_session",
        }
    }

    pub fn parse(s: &str) -> Option<TokenPurpose> {
        [
            TokenPurpose::Invitation,
            TokenPurpose::PasswordReset,
            TokenPurpose::PortalSession,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// A single-use link. The link itself is derived from `nonce` with a server key, so this row
/// alone can neither reveal nor forge it. Times are unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserToken {
    pub id: i64,
    pub tenant_id: i64,
    pub user_id: i64,
    pub purpose: TokenPurpose,
    pub nonce: String,
    pub return_url: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// Where a customer's change request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeRequestStatus {
    Pending,
    Applied,
    Refused,
}

impl ChangeRequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeRequestStatus::Pending => "pending",
            ChangeRequestStatus::Applied => "applied",
            ChangeRequestStatus::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Option<ChangeRequestStatus> {
        [
            ChangeRequestStatus::Pending,
            ChangeRequestStatus::Applied,
            ChangeRequestStatus::Refused,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// A change a customer asked for (a downgrade or a cancellation), waiting for the staff.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ChangeRequest))]
pub struct ChangeRequestRow {
    pub id: i64,
    pub account_id: i64,
    pub subscription_id: i64,
    /// Who asked; `None` once that user is deleted (or when the staff asked).
    pub user_id: Option<i64>,
    /// The change asked (a `prorata_core::change::Request`, kept as JSON).
    #[cfg_attr(feature = "openapi", schema(value_type = prorata_core::change::Request))]
    pub request: serde_json::Value,
    /// The reason given for a cancellation.
    pub reason: Option<String>,
    pub status: ChangeRequestStatus,
    /// The tenant's business date when it was asked.
    pub submitted_on: NaiveDate,
    /// The staff's note when deciding.
    pub note: Option<String>,
    pub created_at: String,
    pub decided_at: Option<String>,
}

/// A session as a signed-in page reads it: the session, its user, the user's account (a
/// customer's) and that account's dunning standing (the default when it has none stored).
#[derive(Debug, Clone)]
pub struct SessionView {
    pub session: SessionRow,
    pub user: User,
    pub account: Option<Account>,
    pub standing: prorata_core::dunning::Standing,
}

/// A billing support ticket (seed 000).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketRow {
    pub id: i64,
    pub account_id: i64,
    /// Who filed it; `None` when filed through the API (or once that user is deleted).
    pub requester_id: Option<i64>,
    /// The contact reason's code when it was filed.
    pub reason: String,
    pub queue: prorata_core::tickets::Queue,
    /// The staff member on it (an account manager's matters go to them at once).
    pub assignee_id: Option<i64>,
    pub subject: String,
    pub status: prorata_core::tickets::Status,
    /// The invoice or credit note it is about.
    pub document_id: Option<i64>,
    /// The change request it carries to the account manager.
    pub change_request_id: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
    /// When the customer first saw a staff answer.
    pub first_response_at: Option<String>,
    /// The tenant's business date it was solved on.
    pub solved_on: Option<NaiveDate>,
    pub solved_at: Option<String>,
}

/// What a new ticket is made of (its first message comes with it).
#[derive(Debug, Clone)]
pub struct NewTicket<'a> {
    pub account_id: i64,
    pub requester_id: Option<i64>,
    pub reason: &'a str,
    pub queue: prorata_core::tickets::Queue,
    pub assignee_id: Option<i64>,
    pub subject: &'a str,
    pub document_id: Option<i64>,
    pub change_request_id: Option<i64>,
}

/// A ticket as it already stands (its status, times and assignee given), with its first
/// message: what a bulk load writes ([`crate::Tx::load_tickets`]) — an import of another
/// help desk's history, or a benchmark's queue.
#[derive(Debug, Clone)]
pub struct LoadedTicket<'a> {
    pub ticket: NewTicket<'a>,
    pub status: prorata_core::tickets::Status,
    /// RFC 3339, as the store writes its own timestamps; also the message's time.
    pub created_at: String,
    pub first_response_at: Option<String>,
    pub solved_on: Option<NaiveDate>,
    pub solved_at: Option<String>,
    /// The first message, by the requester (a customer) or, with no requester, the API.
    pub body: &'a str,
}

/// One message of a ticket's thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketMessage {
    pub id: i64,
    pub ticket_id: i64,
    pub author_id: Option<i64>,
    pub author: prorata_core::tickets::Author,
    /// A staff note the customer never sees.
    pub internal: bool,
    pub body: String,
    pub created_at: String,
}

/// A file of a message, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketFile {
    pub id: i64,
    pub ticket_id: i64,
    pub message_id: i64,
    pub name: String,
    pub media_type: String,
    pub size: i64,
    pub sha256: String,
}

/// A file as it is stored with a new message.
#[derive(Debug, Clone)]
pub struct NewTicketFile<'a> {
    pub name: &'a str,
    pub media_type: &'a str,
    pub sha256: &'a str,
    pub body: &'a [u8],
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: i64,
    pub account_id: Option<i64>,
    pub actor_id: Option<i64>,
    /// The actor's role (`owner`, `billing_team`, …), or `api`.
    pub actor: String,
    pub address: Option<String>,
    pub action: String,
    pub subject: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub at: String,
}

/// A line to append to the audit trail.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub account_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub actor: &'a str,
    pub address: Option<&'a str>,
    pub action: &'a str,
    pub subject: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}
