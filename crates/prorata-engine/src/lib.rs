//! # prorata-engine: the use cases
//!
//! One function per thing a caller does — run billing, create a subscription, request a
//! contract change, advance a sandbox clock, create an API key — each owning its transaction:
//! the core decides, the store persists, and documents, ledger entries and outbox rows are
//! written together or not at all. Nothing here knows about HTTP or the terminal.
//!
//! The engine is where the wall clock may be read ([`Engine::today`]): a live tenant bills on
//! the calendar's date, a sandbox tenant on its test clock. The core below never reads a clock.

mod accounts;
pub mod back_office;
mod billing;
pub mod bounds;
mod change_requests;
mod clock;
mod collection;
mod coupons;
mod delivery;
mod documents;
mod entitlements;
pub mod gateway;
mod keys;
mod lists;
pub mod pay_links;
pub mod people;
pub mod phases;
mod portal;
pub mod scan;
pub mod second_factor;
mod subscriptions;
mod tenants;
pub mod tickets;
mod usage;
mod wallets;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use prorata_core::catalog::Catalog;
use prorata_core::change::Refusal;
use prorata_core::reconcile::ReconcileError;
use prorata_store::{Store, StoreError, Tenant, TenantMode, Tx};

pub use billing::*;
pub use change_requests::*;
pub use collection::*;
pub use coupons::*;
pub use delivery::*;
pub use documents::*;
pub use keys::*;
pub use lists::*;
pub use portal::*;
pub use subscriptions::*;
pub use usage::*;
pub use wallets::*;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(StoreError),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
    #[error("{0}")]
    Refused(Refusal),
    /// A coupon request refused by the core (unknown, expired, used up, already applied…).
    #[error("{0}")]
    CouponRefused(prorata_core::coupon::CouponRefusal),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("billing: {0}")]
    Reconcile(#[from] ReconcileError),
    #[error("amount: {0}")]
    Money(#[from] prorata_core::money::MoneyError),
    /// The payment was refused (a declined card authorisation).
    #[error("{0}")]
    PaymentRefused(String),
    /// An outside service (the gateway) did not answer; try again later.
    #[error("{0}")]
    Unavailable(String),
}

/// A store's conflict (a unique e-mail taken, a second owner) is the caller's: it reads as
/// [`EngineError::Conflict`], a 409, wherever it is raised; the rest stays a store error.
impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> EngineError {
        match e {
            StoreError::Conflict(detail) => EngineError::Conflict(detail),
            other => EngineError::Store(other),
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Marks a response whose request lost a race for the database (SQLite's single writer) and
/// committed nothing: the server runs it again before anyone sees it. The API's problems and
/// the portal's pages set it alike.
#[derive(Debug, Clone, Copy)]
pub struct Busy;

pub(crate) fn invalid(field: impl Into<String>, problem: impl ToString) -> EngineError {
    EngineError::Invalid {
        field: field.into(),
        problem: problem.to_string(),
    }
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(bytes))
}

/// `bytes` in lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of a hex string (either case); `None` when it is not hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// `bytes` random bytes from the system, in hex: keys, nonces, session ids, references.
pub fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf)
        .map_err(|e| EngineError::Unavailable(format!("no randomness: {e}")))?;
    Ok(hex(&buf))
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The use cases over one store, with parsed catalogs cached by tenant and version (versions
/// never change once stored).
#[derive(Debug, Clone)]
pub struct Engine {
    pub store: Store,
    /// Keyed by (tenant, version id): a cache hit must never skip the tenant check the store
    /// makes on a read.
    catalogs: Arc<Mutex<CatalogCache>>,
    /// What usage ingestion knows of accounts, by (tenant, account id).
    usage_accounts: Arc<Mutex<usage::AccountCache>>,
    /// Partial usage totals this process appended and has not folded, by tenant, and whether
    /// a fold of them is running ([`Engine::fold_usage`]).
    usage_pending: Arc<Mutex<usage::PendingUsage>>,
    /// The queue of SQLite's usage writer, which commits concurrent batches together
    /// (`usage::writer`); started on first use.
    usage_writer: Arc<Mutex<usage::Writer>>,
    /// Partial usage totals a tenant's batches append before ingestion folds them in the
    /// background; 0: never (the billing run still folds). [`Engine::with_usage_fold_after`].
    usage_fold_after: u64,
    /// Where charges go; the built-in sandbox unless [`Engine::with_gateway`] says otherwise.
    pub gateway: Arc<dyn gateway::Gateway>,
    /// Signs single-use links and CSRF tokens ([`people::SecretKey`]); random unless
    /// [`Engine::with_secret`] gives the deployment's.
    pub secret: people::SecretKey,
    /// Scans every uploaded file before it is stored, when [`Engine::with_scanner`] gives a
    /// ClamAV daemon; none by default.
    pub scanner: Option<scan::Scanner>,
    /// Tenants by portal slug, read at most once a second: every page names its tenant.
    /// Cleared by this engine's own changes to a tenant (clock, settings); another process's
    /// changes show within [`TENANT_CACHE_FOR`].
    tenants_by_slug: Arc<Mutex<HashMap<String, (std::time::Instant, Tenant)>>>,
    /// Checks a new or changed VAT number before an account is saved with it: offline
    /// (shape and check key) unless [`Engine::with_vat_number_check`] gives another, such as
    /// a register (VIES) client.
    pub vat_check: Arc<dyn prorata_core::vat_number::VatNumberCheck>,
}

/// How long a tenant read for a page is reused.
pub const TENANT_CACHE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// Parsed catalogs by (tenant, version id).
type CatalogCache = HashMap<(i64, i64), Arc<Catalog>>;

impl Engine {
    pub fn new(store: Store) -> Engine {
        Engine {
            gateway: Arc::new(gateway::SandboxGateway::new(store.clone())),
            store,
            catalogs: Arc::new(Mutex::new(HashMap::new())),
            usage_accounts: Arc::default(),
            usage_pending: Arc::default(),
            usage_writer: Arc::default(),
            usage_fold_after: usage::FOLD_AFTER_ROWS,
            // Without randomness there is no safe session or link: refuse to start.
            secret: people::SecretKey::random().expect("the system's random source"),
            scanner: None,
            tenants_by_slug: Arc::default(),
            vat_check: Arc::new(prorata_core::vat_number::OfflineCheck),
        }
    }

    /// This engine, checking VAT numbers with `check` rather than offline.
    pub fn with_vat_number_check(
        mut self,
        check: Arc<dyn prorata_core::vat_number::VatNumberCheck>,
    ) -> Engine {
        self.vat_check = check;
        self
    }

    /// The tenant at `slug` as last read, if read less than [`TENANT_CACHE_FOR`] ago.
    pub(crate) fn cached_tenant(&self, slug: &str) -> Option<Tenant> {
        let map = self.tenants_by_slug.lock().ok()?;
        map.get(slug)
            .filter(|(at, _)| at.elapsed() < TENANT_CACHE_FOR)
            .map(|(_, t)| t.clone())
    }

    pub(crate) fn cache_tenant(&self, tenant: &Tenant) {
        if let Ok(mut map) = self.tenants_by_slug.lock() {
            map.insert(
                tenant.slug.clone(),
                (std::time::Instant::now(), tenant.clone()),
            );
        }
    }

    /// Forgets every cached tenant: called after this engine changes one.
    pub(crate) fn forget_tenants(&self) {
        if let Ok(mut map) = self.tenants_by_slug.lock() {
            map.clear();
        }
    }

    /// The same engine signing links with `secret` (shared by every server of a deployment).
    pub fn with_secret(self, secret: people::SecretKey) -> Engine {
        Engine { secret, ..self }
    }

    /// The same engine charging through `gateway`.
    pub fn with_gateway(self, gateway: Arc<dyn gateway::Gateway>) -> Engine {
        Engine { gateway, ..self }
    }

    /// The same engine scanning every uploaded file with `scanner` before storing it.
    pub fn with_scanner(self, scanner: scan::Scanner) -> Engine {
        Engine {
            scanner: Some(scanner),
            ..self
        }
    }

    /// The date billing uses for `tenant` now: its test clock in a sandbox, else the calendar
    /// (UTC) date.
    pub fn today(tenant: &Tenant) -> NaiveDate {
        match (tenant.mode, tenant.clock) {
            (TenantMode::Sandbox, Some(clock)) => clock,
            _ => calendar_today(),
        }
    }

    /// A catalog version of `tenant`, parsed once.
    pub(crate) async fn catalog(&self, tx: &mut Tx, tenant: i64, id: i64) -> Result<Arc<Catalog>> {
        if let Some(c) = self
            .catalogs
            .lock()
            .ok()
            .and_then(|m| m.get(&(tenant, id)).cloned())
        {
            return Ok(c);
        }
        let version = tx
            .catalog(tenant, id)
            .await?
            .ok_or(EngineError::NotFound("catalog version"))?;
        let catalog = Catalog::from_toml(&version.source)
            .map_err(|e| StoreError::Corrupt(format!("stored catalog {id}: {e}")))?;
        let catalog = Arc::new(catalog);
        if let Ok(mut m) = self.catalogs.lock() {
            m.insert((tenant, id), catalog.clone());
        }
        Ok(catalog)
    }
}

/// The distinct values of `ids`, in order: the id lists of chunked queries.
pub(crate) fn distinct(ids: impl IntoIterator<Item = i64>) -> Vec<i64> {
    ids.into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Today's date in UTC, from the system clock.
pub fn calendar_today() -> NaiveDate {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now()).date_naive()
}
