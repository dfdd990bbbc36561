//! People: users, invitations, passwords, sessions and single-use links.
//!
//! - Passwords are hashed with Argon2id (OWASP's parameters, off the async runtime); at least
//!   12 characters. An unknown e-mail costs the same hash as a wrong password and gets the
//!   same answer.
//! - Sign-in attempts are throttled per e-mail and per address over a sliding window, in the
//!   store, so every server of a tenant sees the same count.
//! - Sessions are random 256-bit ids kept server-side by their SHA-256 only, with an idle and
//!   an absolute expiry; a new id is made at every sign-in (never reused from before), and a
//!   password change ends every session of the user.
//! - Single-use links (invitation, password reset, portal session) are `ID-MAC`: the MAC is an
//!   HMAC-SHA256, under the server's [`SecretKey`], of the tenant, the id, the purpose and a
//!   random nonce stored with the row. The database alone can neither forge nor reveal a link
//!   (it holds the nonce, not the key), and e-mail jobs carry only the id: the mail worker
//!   derives the link when it sends.
//!
//! Who may do what is not decided here: pages ask [`prorata_core::access::decide`] first.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use prorata_core::access::{self, Role, Target, UserStatus};
use prorata_core::Lang;
use prorata_store::{JobKind, NewJob, NewUser, Tenant, TokenPurpose, Tx, User};
use sha2::Sha256;

use crate::{constant_time_eq, invalid, random_hex, Engine, EngineError, Result};

/// Idle sessions end after this long without a request.
pub const SESSION_IDLE: Duration = Duration::from_secs(2 * 3600);
/// Every session ends this long after sign-in, active or not.
pub const SESSION_ABSOLUTE: Duration = Duration::from_secs(12 * 3600);
/// `last_seen` is written at most this often (a page view is otherwise read-only).
const TOUCH_EVERY: i64 = 60;
pub const INVITATION_VALID: Duration = Duration::from_secs(7 * 24 * 3600);
pub const RESET_VALID: Duration = Duration::from_secs(3600);
pub const PORTAL_SESSION_VALID: Duration = Duration::from_secs(5 * 60);
/// Failed sign-ins counted over this window.
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failures of one e-mail within the window after which sign-in is refused: the 6th try.
pub const MAX_FAILURES_PER_EMAIL: i64 = 5;
/// Failures from one address within the window (many e-mails from one place).
pub const MAX_FAILURES_PER_ADDRESS: i64 = 30;
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Argon2 hashes whatever length it is given: an upper bound keeps one request cheap.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The server's secret: it signs single-use links and CSRF tokens. Several servers of one
/// deployment must share it (`PRORATA_SECRET_KEY`); it is never stored in the database.
#[derive(Clone)]
pub struct SecretKey(Arc<[u8; 32]>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<hidden>)")
    }
}

impl SecretKey {
    /// A fresh random key (links made with it die with the process).
    pub fn random() -> Result<SecretKey> {
        let mut k = [0u8; 32];
        getrandom::getrandom(&mut k)
            .map_err(|e| EngineError::Unavailable(format!("no randomness: {e}")))?;
        Ok(SecretKey(Arc::new(k)))
    }

    /// A key from 64 hex characters.
    pub fn from_hex(hex: &str) -> Result<SecretKey> {
        let bytes = crate::unhex(hex.trim())
            .filter(|b| b.len() == 32)
            .ok_or_else(|| invalid("secret_key", "expected 64 hexadecimal characters"))?;
        let mut k = [0u8; 32];
        k.copy_from_slice(&bytes);
        Ok(SecretKey(Arc::new(k)))
    }

    pub fn to_hex(&self) -> String {
        crate::hex(self.0.as_ref())
    }

    /// HMAC-SHA256 of `message` under the key, in hex.
    pub fn mac(&self, message: &str) -> String {
        // A key of any length is accepted by HMAC; this cannot fail.
        let Ok(mut m) = Hmac::<Sha256>::new_from_slice(self.0.as_ref()) else {
            return String::new();
        };
        m.update(message.as_bytes());
        crate::hex(&m.finalize().into_bytes())
    }
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Why a sign-in failed. Unknown e-mail and wrong password are one case on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInError {
    BadCredentials,
    /// Too many failures: try again later.
    Throttled,
    /// The account's standing or the user's status keeps them out.
    Denied(access::Denial),
}

/// A signed-in user and their new session id (to set as a cookie; never stored).
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    pub session_id: String,
}

/// A person to add to an account or to the staff.
#[derive(Debug, Clone)]
pub struct PersonSpec {
    pub account_id: Option<i64>,
    pub role: Role,
    pub email: String,
    pub name: String,
    pub language: Lang,
}

impl PersonSpec {
    fn checked(&self) -> Result<PersonSpec> {
        let email = self.email.trim().to_lowercase();
        let at = email.find('@');
        if !at.is_some_and(|i| i > 0 && i + 1 < email.len())
            || email.len() > 254
            || email.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid("email", "expected an e-mail address"));
        }
        let name = self.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(invalid("name", "expected 1 to 200 characters"));
        }
        if self.role.is_customer() != self.account_id.is_some() {
            return Err(invalid(
                "role",
                "owners, admins and agents belong to an account; staff to none",
            ));
        }
        Ok(PersonSpec {
            email,
            name,
            ..self.clone()
        })
    }
}

/// Checks a new password's shape; the error says how to fix it.
pub fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(invalid(
            "password",
            format!("use at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(invalid(
            "password",
            format!("use at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's first choice), off
/// the runtime's threads.
pub async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_string();
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt)
        .map_err(|e| EngineError::Unavailable(format!("no randomness: {e}")))?;
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(&salt).map_err(|e| invalid("password", e))?;
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| invalid("password", e))
    })
    .await
    .map_err(|e| EngineError::Unavailable(format!("hashing stopped: {e}")))?
}

/// Whether `password` matches `hash` (a PHC string). With no hash, a dummy one is checked so
/// that an unknown user costs as much as a known one.
async fn verify_password(password: &str, hash: Option<&str>) -> bool {
    // A fixed hash of a random password, same parameters as real ones.
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
                         2Pzm4H1eVWCRf+v2yNDEdYm1Rt3sG0JIlBPQyyeSLEw";
    let password = password.to_string();
    let known = hash.is_some();
    let hash = hash.unwrap_or(DUMMY).to_string();
    let ok = tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        PasswordHash::new(&hash).is_ok_and(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false);
    ok && known
}

/// The links that set a password.
const SETS_PASSWORD: &[TokenPurpose] = &[TokenPurpose::Invitation, TokenPurpose::PasswordReset];

pub(crate) fn session_hash(session_id: &str) -> String {
    crate::sha256_hex(session_id.as_bytes())
}

impl Engine {
    /// The MAC of a single-use link's row.
    fn token_mac(&self, tenant: i64, id: i64, purpose: TokenPurpose, nonce: &str) -> String {
        let mac = self
            .secret
            .mac(&format!("token:{tenant}:{id}:{}:{nonce}", purpose.as_str()));
        mac[..32.min(mac.len())].to_string()
    }

    /// The link token of row `id` (for the mail worker, which sends it): `ID-MAC`.
    pub async fn token_for(&self, tenant: i64, id: i64) -> Result<String> {
        let mut tx = self.store.begin().await?;
        let t = tx
            .token(tenant, id)
            .await?
            .ok_or(EngineError::NotFound("link"))?;
        Ok(format!(
            "{id}-{}",
            self.token_mac(tenant, id, t.purpose, &t.nonce)
        ))
    }

    /// Makes a single-use link for `user` in `tx`; returns its id and token.
    async fn new_token(
        &self,
        tx: &mut Tx,
        tenant: i64,
        user: i64,
        purpose: TokenPurpose,
        valid: Duration,
        return_url: Option<&str>,
    ) -> Result<(i64, String)> {
        let nonce = random_hex(16)?;
        let now = unix_now();
        let id = tx
            .insert_token(
                tenant,
                user,
                purpose,
                &nonce,
                return_url,
                now,
                now.saturating_add(secs(valid)),
            )
            .await?;
        Ok((
            id,
            format!("{id}-{}", self.token_mac(tenant, id, purpose, &nonce)),
        ))
    }

    /// Spends a single-use link of one of `purposes`: valid, unexpired, unused, and now used.
    /// Returns the user and the link's return URL.
    async fn spend_token(
        &self,
        tx: &mut Tx,
        tenant: i64,
        token: &str,
        purposes: &[TokenPurpose],
    ) -> Result<(User, Option<String>)> {
        let refused = || {
            invalid(
                "token",
                "this link is not valid, or was used or has expired",
            )
        };
        let (id, mac) = token.split_once('-').ok_or_else(refused)?;
        let id: i64 = id.parse().map_err(|_| refused())?;
        let row = tx.token(tenant, id).await?.ok_or_else(refused)?;
        let expected = self.token_mac(tenant, id, row.purpose, &row.nonce);
        if !purposes.contains(&row.purpose) || !constant_time_eq(mac, &expected) {
            return Err(refused());
        }
        if !tx.use_token(tenant, id, unix_now()).await? {
            return Err(refused());
        }
        let user = tx.user(tenant, row.user_id).await?.ok_or_else(refused)?;
        if user.status == UserStatus::Disabled {
            return Err(refused());
        }
        Ok((user, row.return_url))
    }

    /// Queues an e-mail carrying the link `token_id` to `user` (the worker adds the link).
    async fn queue_link_mail(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        user: &User,
        template: &str,
        token_id: i64,
        inviter: Option<&str>,
    ) -> Result<()> {
        let account_name = match user.account_id {
            Some(a) => tx.account(tenant.id, a).await?.map(|a| a.name),
            None => None,
        }
        .unwrap_or_else(|| tenant.name.clone());
        let payload = serde_json::json!({
            "template": template,
            "to": [user.email],
            "lang": user.language,
            "account_name": account_name,
            "data": {
                "token_id": token_id,
                "tenant_slug": tenant.slug,
                "user_name": user.name,
                "inviter": inviter,
            },
        });
        tx.insert_jobs(
            tenant.id,
            &[NewJob {
                account_id: user.account_id,
                kind: JobKind::Email,
                payload,
            }],
        )
        .await?;
        Ok(())
    }

    /// Invites a person: the user is created `invited` and receives an e-mail with a link to
    /// set a password (valid 7 days, once). `inviter` is the name printed in the e-mail.
    pub async fn invite_user(
        &self,
        tenant: &Tenant,
        spec: &PersonSpec,
        inviter: Option<&str>,
    ) -> Result<User> {
        let spec = spec.checked()?;
        let mut tx = self.store.begin().await?;
        if let Some(a) = spec.account_id {
            tx.account(tenant.id, a)
                .await?
                .ok_or(EngineError::NotFound("account"))?;
        }
        let id = tx
            .insert_user(
                tenant.id,
                &NewUser {
                    account_id: spec.account_id,
                    role: spec.role,
                    email: &spec.email,
                    name: &spec.name,
                    language: spec.language,
                    status: UserStatus::Invited,
                    password_hash: None,
                },
            )
            .await?;
        let user = tx
            .user(tenant.id, id)
            .await?
            .ok_or(EngineError::NotFound("user"))?;
        let (token_id, _) = self
            .new_token(
                &mut tx,
                tenant.id,
                id,
                TokenPurpose::Invitation,
                INVITATION_VALID,
                None,
            )
            .await?;
        self.queue_link_mail(&mut tx, tenant, &user, "invitation", token_id, inviter)
            .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Creates an active user with a password at once (the sandbox demo, and tests).
    pub async fn create_user_with_password(
        &self,
        tenant: &Tenant,
        spec: &PersonSpec,
        password: &str,
    ) -> Result<User> {
        check_password(password)?;
        let hash = hash_password(password).await?;
        self.create_user_with_hash(tenant, spec, &hash).await
    }

    /// Creates an active user whose password hash is `hash` (from [`hash_password`]): the
    /// sandbox demo gives all its people one demo password, hashed once.
    pub async fn create_user_with_hash(
        &self,
        tenant: &Tenant,
        spec: &PersonSpec,
        hash: &str,
    ) -> Result<User> {
        let spec = spec.checked()?;
        let mut tx = self.store.begin().await?;
        let id = tx
            .insert_user(
                tenant.id,
                &NewUser {
                    account_id: spec.account_id,
                    role: spec.role,
                    email: &spec.email,
                    name: &spec.name,
                    language: spec.language,
                    status: UserStatus::Active,
                    password_hash: Some(hash),
                },
            )
            .await?;
        let user = tx
            .user(tenant.id, id)
            .await?
            .ok_or(EngineError::NotFound("user"))?;
        tx.commit().await?;
        Ok(user)
    }

    /// Sets a password through an invitation or reset link and signs the user in: every
    /// other session of the user ends.
    pub async fn set_password_with_link(
        &self,
        tenant: &Tenant,
        token: &str,
        password: &str,
    ) -> Result<SignedIn> {
        check_password(password)?;
        let hash = hash_password(password).await?;
        let mut tx = self.store.begin().await?;
        let (user, _) = self
            .spend_token(&mut tx, tenant.id, token, SETS_PASSWORD)
            .await?;
        tx.set_password(tenant.id, user.id, &hash).await?;
        tx.delete_sessions_of_user(tenant.id, user.id).await?;
        let session_id = self.open_session(&mut tx, tenant.id, &user).await?;
        let user = tx
            .user(tenant.id, user.id)
            .await?
            .ok_or(EngineError::NotFound("user"))?;
        tx.commit().await?;
        Ok(SignedIn { user, session_id })
    }

    /// Whether a link is still good (the page that asks for a password shows it or says why
    /// not), without spending it.
    pub async fn link_user(&self, tenant: &Tenant, token: &str) -> Result<User> {
        let mut tx = self.store.begin().await?;
        // Spent inside a transaction that is rolled back: the same checks, no effect.
        let (user, _) = self
            .spend_token(&mut tx, tenant.id, token, SETS_PASSWORD)
            .await?;
        tx.rollback().await?;
        Ok(user)
    }

    /// Sends a password-reset link when `email` is an active user; says nothing either way.
    pub async fn request_password_reset(&self, tenant: &Tenant, email: &str) -> Result<()> {
        let email = email.trim().to_lowercase();
        let mut tx = self.store.begin().await?;
        let Some(user) = tx.user_by_email(tenant.id, &email).await? else {
            return Ok(());
        };
        if user.status != UserStatus::Active {
            return Ok(());
        }
        let (token_id, _) = self
            .new_token(
                &mut tx,
                tenant.id,
                user.id,
                TokenPurpose::PasswordReset,
                RESET_VALID,
                None,
            )
            .await?;
        self.queue_link_mail(&mut tx, tenant, &user, "password_reset", token_id, None)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Opens a session for `user` after their password (or a link): a customer's is whole; a
    /// staff member's waits for the second factor ([`crate::second_factor`]).
    async fn open_session(&self, tx: &mut Tx, tenant: i64, user: &User) -> Result<String> {
        self.open_session_with(tx, tenant, user.id, user.role.is_customer())
            .await
    }

    /// Opens a session, `verified` when the user gave every factor their role asks for.
    pub(crate) async fn open_session_with(
        &self,
        tx: &mut Tx,
        tenant: i64,
        user: i64,
        verified: bool,
    ) -> Result<String> {
        let session_id = random_hex(32)?;
        let now = unix_now();
        tx.insert_session_with(
            tenant,
            user,
            &session_hash(&session_id),
            now,
            now.saturating_add(secs(SESSION_ABSOLUTE)),
            verified,
        )
        .await?;
        Ok(session_id)
    }

    /// The standing-aware check that a user may use the portal at all.
    async fn may_sign_in(&self, tx: &mut Tx, tenant: i64, user: &User) -> Result<()> {
        if user.status != UserStatus::Active {
            return Err(EngineError::Forbidden("the user is not active".into()));
        }
        let Some(account_id) = user.account_id else {
            return Ok(());
        };
        let standing = tx.standing(tenant, account_id).await?;
        access::decide(
            user.person(),
            access::Action::SignIn,
            Target {
                account_id,
                standing: standing.status,
            },
        )
        .map_err(|d| EngineError::Forbidden(d.to_string()))
    }

    /// Signs in with an e-mail and a password, from `address` (the client's IP address).
    pub async fn sign_in(
        &self,
        tenant: &Tenant,
        email: &str,
        password: &str,
        address: &str,
    ) -> Result<std::result::Result<SignedIn, SignInError>> {
        let email = email.trim().to_lowercase();
        let email_key = format!("email:{email}");
        let address_key = format!("ip:{address}");
        let now = unix_now();
        let since = now.saturating_sub(secs(THROTTLE_WINDOW));
        let mut tx = self.store.begin().await?;
        if tx
            .count_sign_in_failures(tenant.id, &email_key, since)
            .await?
            >= MAX_FAILURES_PER_EMAIL
            || tx
                .count_sign_in_failures(tenant.id, &address_key, since)
                .await?
                >= MAX_FAILURES_PER_ADDRESS
        {
            return Ok(Err(SignInError::Throttled));
        }
        let user = tx.user_by_email(tenant.id, &email).await?;
        tx.rollback().await?;
        let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let ok = password.len() <= MAX_PASSWORD_BYTES && verify_password(password, hash).await;
        let mut tx = self.store.begin().await?;
        let user = match (ok, user) {
            (true, Some(user)) => user,
            _ => {
                tx.record_sign_in_failure(tenant.id, &email_key, now)
                    .await?;
                tx.record_sign_in_failure(tenant.id, &address_key, now)
                    .await?;
                tx.commit().await?;
                return Ok(Err(SignInError::BadCredentials));
            }
        };
        if let Err(e) = self.may_sign_in(&mut tx, tenant.id, &user).await {
            tx.rollback().await?;
            let denial = match e {
                EngineError::Forbidden(m) if m.contains("not active") => {
                    return Ok(Err(SignInError::BadCredentials))
                }
                _ => access::Denial::NoAccess,
            };
            return Ok(Err(SignInError::Denied(denial)));
        }
        tx.clear_sign_in_failures(tenant.id, &email_key).await?;
        let session_id = self.open_session(&mut tx, tenant.id, &user).await?;
        tx.commit().await?;
        Ok(Ok(SignedIn { user, session_id }))
    }

    /// After a read: ends an expired session, or refreshes a live one's idle time, each in a
    /// short write of its own; a page view whose session needs neither writes nothing. Best
    /// effort: a write that loses a race is tried again on a later request.
    async fn settle_session(&self, tenant: i64, hash: &str, state: SessionState) {
        let end = match state {
            SessionState::Expired => true,
            SessionState::Live { stale: true } => false,
            SessionState::Gone | SessionState::Live { stale: false } => return,
        };
        let write = async {
            let mut tx = self.store.begin().await?;
            if end {
                tx.delete_session(tenant, hash).await?;
            } else {
                tx.touch_session(tenant, hash, unix_now()).await?;
            }
            tx.commit().await
        };
        if let Err(e) = write.await {
            eprintln!("session upkeep (tenant {tenant}): {e}");
        }
    }

    /// The user of a session, if it is live. A user disabled since has no session.
    pub async fn session_user(&self, tenant: &Tenant, session_id: &str) -> Result<Option<User>> {
        if session_id.len() != 64 {
            return Ok(None);
        }
        let hash = session_hash(session_id);
        let mut tx = self.store.read().await?;
        let view = tx.session_view(tenant.id, &hash).await?;
        drop(tx);
        let Some(view) = view else {
            return Ok(None);
        };
        let state = SessionState::of(&view, unix_now());
        self.settle_session(tenant.id, &hash, state).await;
        Ok(matches!(state, SessionState::Live { .. }).then_some(view.user))
    }

    /// A portal request, read in one statement without a transaction (two when the tenant is
    /// not cached): the tenant at `slug`, and the signed-in user of `session_id` with their
    /// account and its standing.
    pub async fn visit(&self, slug: &str, session_id: Option<&str>) -> Result<Visit> {
        if slug.is_empty() || slug.len() > 64 {
            return Ok(Visit::NoTenant);
        }
        let session = session_id.filter(|s| s.len() == 64).map(session_hash);
        if session.is_none() {
            if let Some(tenant) = self.cached_tenant(slug) {
                return Ok(Visit::Anonymous(tenant));
            }
        }
        let mut tx = self.store.read().await?;
        let tenant = match self.cached_tenant(slug) {
            Some(t) => t,
            None => {
                let Some(t) = tx.tenant_by_slug(slug).await? else {
                    return Ok(Visit::NoTenant);
                };
                self.cache_tenant(&t);
                t
            }
        };
        let Some(hash) = session else {
            return Ok(Visit::Anonymous(tenant));
        };
        let view = tx.session_view(tenant.id, &hash).await?;
        drop(tx);
        let Some(v) = view else {
            return Ok(Visit::Anonymous(tenant));
        };
        let state = SessionState::of(&v, unix_now());
        self.settle_session(tenant.id, &hash, state).await;
        if !matches!(state, SessionState::Live { .. }) {
            return Ok(Visit::Anonymous(tenant));
        }
        let account = match (v.user.account_id, v.account) {
            (Some(id), Some(account)) => Some(Box::new(CustomerAccount {
                id,
                account,
                standing: v.standing,
            })),
            (Some(_), None) => return Err(EngineError::NotFound("account")),
            (None, _) => None,
        };
        Ok(Visit::SignedIn {
            tenant,
            user: v.user,
            account,
            verified: v.session.verified,
        })
    }

    /// Deletes what sign-in leaves behind in `tenant`: ended sessions, links expired a day
    /// ago or more, failures older than the throttling window. Run by the worker, so the
    /// tables stay bounded whoever hammers the sign-in page.
    pub async fn purge_people_leftovers(&self, tenant: &Tenant) -> Result<u64> {
        let now = unix_now();
        let mut tx = self.store.begin().await?;
        let gone = tx
            .purge_people_leftovers(
                tenant.id,
                now,
                now.saturating_sub(secs(SESSION_IDLE)),
                now.saturating_sub(24 * 3600),
                now.saturating_sub(secs(THROTTLE_WINDOW)),
            )
            .await?;
        tx.commit().await?;
        Ok(gone)
    }

    pub async fn sign_out(&self, tenant: &Tenant, session_id: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.delete_session(tenant.id, &session_hash(session_id))
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A portal session for a vendor that signs its users in itself (Stripe's customer
    /// portal): a link valid for minutes, once, that opens a session for `user_id`.
    pub async fn create_portal_session(
        &self,
        tenant: &Tenant,
        user_id: i64,
        return_url: Option<&str>,
    ) -> Result<String> {
        if let Some(url) = return_url {
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && url.len() <= 2000
                && !url
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '"');
            if !ok {
                return Err(invalid("return_url", "expected an http(s) URL"));
            }
        }
        let mut tx = self.store.begin().await?;
        let user = tx
            .user(tenant.id, user_id)
            .await?
            .ok_or(EngineError::NotFound("user"))?;
        if user.status != UserStatus::Active || user.account_id.is_none() {
            return Err(invalid(
                "user_id",
                "the user must be an active customer user",
            ));
        }
        let (_, token) = self
            .new_token(
                &mut tx,
                tenant.id,
                user.id,
                TokenPurpose::PortalSession,
                PORTAL_SESSION_VALID,
                return_url,
            )
            .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Opens the session a portal-session link stands for; the link is spent. Returns the
    /// session and the vendor's return URL.
    pub async fn redeem_portal_session(
        &self,
        tenant: &Tenant,
        token: &str,
    ) -> Result<(SignedIn, Option<String>)> {
        let mut tx = self.store.begin().await?;
        let (user, return_url) = self
            .spend_token(&mut tx, tenant.id, token, &[TokenPurpose::PortalSession])
            .await?;
        self.may_sign_in(&mut tx, tenant.id, &user).await?;
        let session_id = self.open_session(&mut tx, tenant.id, &user).await?;
        tx.commit().await?;
        Ok((SignedIn { user, session_id }, return_url))
    }

    /// The users of an account, owner first.
    pub async fn account_users(&self, tenant: &Tenant, account_id: i64) -> Result<Vec<User>> {
        let mut tx = self.store.begin().await?;
        Ok(tx.users_of_account(tenant.id, account_id).await?)
    }

    pub async fn user(&self, tenant: &Tenant, id: i64) -> Result<User> {
        let mut tx = self.store.begin().await?;
        tx.user(tenant.id, id)
            .await?
            .ok_or(EngineError::NotFound("user"))
    }

    /// Removes a user from their account: disabled, sessions ended. The owner cannot be
    /// removed (ownership is transferred first).
    pub async fn remove_user(&self, tenant: &Tenant, account_id: i64, user_id: i64) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let user = tx
            .user(tenant.id, user_id)
            .await?
            .filter(|u| u.account_id == Some(account_id))
            .ok_or(EngineError::NotFound("user"))?;
        if user.role == Role::Owner {
            return Err(EngineError::Forbidden(
                "the owner cannot be removed: transfer the ownership first".into(),
            ));
        }
        tx.set_user_status(tenant.id, user.id, UserStatus::Disabled)
            .await?;
        tx.delete_sessions_of_user(tenant.id, user.id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes `to` (an active admin or agent of the account) its owner; the owner becomes an
    /// admin.
    pub async fn transfer_ownership(
        &self,
        tenant: &Tenant,
        account_id: i64,
        to: i64,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let new_owner = tx
            .user(tenant.id, to)
            .await?
            .filter(|u| u.account_id == Some(account_id) && u.status == UserStatus::Active)
            .ok_or(EngineError::NotFound("user"))?;
        if new_owner.role == Role::Owner {
            return Err(invalid("user", "this user is the owner already"));
        }
        if let Some(owner) = tx.account_owner(tenant.id, account_id).await? {
            tx.set_user_role(tenant.id, owner.id, Role::Admin).await?;
        }
        tx.set_user_role(tenant.id, new_owner.id, Role::Owner)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_user_language(&self, tenant: &Tenant, user_id: i64, lang: Lang) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.set_user_language(tenant.id, user_id, lang).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// What a session as read means for a request made now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionState {
    /// Its user is no longer active: no session, nothing to write.
    Gone,
    /// Past its idle or absolute expiry: to be ended.
    Expired,
    /// Live; `stale` when its idle time is due a refresh.
    Live { stale: bool },
}

impl SessionState {
    /// The one reading of the expiry rules, for every request.
    fn of(view: &prorata_store::SessionView, now: i64) -> SessionState {
        let s = &view.session;
        if now >= s.expires_at || now.saturating_sub(s.last_seen) >= secs(SESSION_IDLE) {
            SessionState::Expired
        } else if view.user.status != UserStatus::Active {
            SessionState::Gone
        } else {
            SessionState::Live {
                stale: now.saturating_sub(s.last_seen) >= TOUCH_EVERY,
            }
        }
    }
}

/// Who is visiting a tenant's portal.
#[derive(Debug, Clone)]
pub enum Visit {
    /// No portal at this address.
    NoTenant,
    Anonymous(Tenant),
    SignedIn {
        tenant: Tenant,
        user: User,
        /// A customer's account and its standing (`None` for staff).
        account: Option<Box<CustomerAccount>>,
        /// Every factor the user's role asks for was given (false while a staff member's
        /// session waits for the second factor).
        verified: bool,
    },
}

/// The account a customer user belongs to, as a request reads it.
#[derive(Debug, Clone)]
pub struct CustomerAccount {
    pub id: i64,
    pub account: prorata_core::account::Account,
    pub standing: prorata_core::dunning::Standing,
}

/// What the policy needs of a user.
pub trait AsPerson {
    fn person(&self) -> access::Person;
}

impl AsPerson for User {
    fn person(&self) -> access::Person {
        access::Person {
            role: self.role,
            account_id: self.account_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_tokens_depend_on_the_key() {
        let a = SecretKey::random().unwrap_or_else(|_| unreachable_key());
        let b = SecretKey::random().unwrap_or_else(|_| unreachable_key());
        assert_ne!(a.mac("x"), b.mac("x"));
        assert_eq!(a.mac("x"), a.mac("x"));
        let again = SecretKey::from_hex(&a.to_hex()).unwrap_or_else(|_| unreachable_key());
        assert_eq!(again.mac("x"), a.mac("x"));
        assert!(SecretKey::from_hex("abc").is_err());
    }

    fn unreachable_key() -> SecretKey {
        SecretKey(Arc::new([0; 32]))
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }

    #[tokio::test]
    async fn a_password_verifies_against_its_hash_only() {
        let h = hash_password("correct horse battery").await.ok();
        assert!(verify_password("correct horse battery", h.as_deref()).await);
        assert!(!verify_password("wrong horse battery", h.as_deref()).await);
        assert!(!verify_password("correct horse battery", None).await);
        assert!(check_password("short").is_err());
        assert!(check_password("twelve chars").is_ok());
    }
}
