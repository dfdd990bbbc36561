//! People: users of customer accounts and of the tenant's staff, their sessions and
//! single-use links, failed sign-ins, customers' change requests, and account logos. Every
//! query names its tenant.
//!
//! Uniqueness that a caller may run into (an e-mail taken, an account's owner) is checked with
//! a `SELECT` before writing and reported as [`StoreError::Conflict`]: a unique violation
//! would abort a PostgreSQL transaction. The unique indexes stay as the last word for two
//! transactions racing (the second then fails on the index).

use chrono::NaiveDate;
use prorata_core::access::{Role, UserStatus};
use prorata_core::Lang;
use sqlx::{QueryBuilder, Row};

use super::{from_json, json, Inner, Tx};
use crate::model::*;
use crate::{now_text, Result, StoreError};

const USER_COLUMNS: &str =
    "id, tenant_id, account_id, role, email, name, language, status, password_hash, created_at";

/// id, tenant, account, role, email, name, language, status, password hash, created at.
type UserTuple = (
    i64,
    i64,
    Option<i64>,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
);

fn user_from(r: UserTuple) -> Result<User> {
    let (id, tenant_id, account_id, role, email, name, language, status, password_hash, created_at) =
        r;
    Ok(User {
        id,
        tenant_id,
        account_id,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
        email,
        name,
        language: parse_lang(&language)?,
        status: UserStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("user status {status:?}")))?,
        password_hash,
        created_at,
    })
}

fn parse_lang(s: &str) -> Result<Lang> {
    Lang::parse(s).ok_or_else(|| StoreError::Corrupt(format!("language {s:?}")))
}

const TOKEN_COLUMNS: &str =
    "id, tenant_id, user_id, purpose, nonce, return_url, created_at, expires_at, used_at";

type TokenTuple = (
    i64,
    i64,
    i64,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<i64>,
);

fn token_from(r: TokenTuple) -> Result<UserToken> {
    let (id, tenant_id, user_id, purpose, nonce, return_url, created_at, expires_at, used_at) = r;
    Ok(UserToken {
        id,
        tenant_id,
        user_id,
        purpose: TokenPurpose::parse(&purpose)
            .ok_or_else(|| StoreError::Corrupt(format!("token purpose {purpose:?}")))?,
        nonce,
        return_url,
        created_at,
        expires_at,
        used_at,
    })
}

const CHANGE_REQUEST_COLUMNS: &str = "id, account_id, subscription_id, user_id, request, reason, \
     status, submitted_on, note, created_at, decided_at";

type ChangeRequestTuple = (
    i64,
    i64,
    i64,
    Option<i64>,
    String,
    Option<String>,
    String,
    NaiveDate,
    Option<String>,
    String,
    Option<String>,
);

fn change_request_from(r: ChangeRequestTuple) -> Result<ChangeRequestRow> {
    let (
        id,
        account_id,
        subscription_id,
        user_id,
        request,
        reason,
        status,
        submitted_on,
        note,
        created_at,
        decided_at,
    ) = r;
    Ok(ChangeRequestRow {
        id,
        account_id,
        subscription_id,
        user_id,
        request: from_json(&request)?,
        reason,
        status: ChangeRequestStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("change request status {status:?}")))?,
        submitted_on,
        note,
        created_at,
        decided_at,
    })
}

/// The most change requests one list returns.
const CHANGE_REQUESTS_LIMIT: i64 = 500;

/// A customer role needs an account, a staff role must not have one.
fn check_role_account(role: Role, account_id: Option<i64>) -> Result<()> {
    match (role.is_customer(), account_id) {
        (true, None) => Err(StoreError::Conflict(format!(
            "the role {} needs an account",
            role.as_str()
        ))),
        (false, Some(_)) => Err(StoreError::Conflict(format!(
            "the role {} belongs to the staff, not to an account",
            role.as_str()
        ))),
        _ => Ok(()),
    }
}

impl Tx {
    // ------------------------------------------------------------ users

    /// Stores a user; its id. [`StoreError::Conflict`] when the tenant has a user with this
    /// e-mail, when a not-disabled owner is added to an account that has one, when the account
    /// is not the tenant's, or when the role does not fit (customer roles need an account,
    /// staff roles have none).
    pub async fn insert_user(&mut self, tenant: i64, u: &NewUser<'_>) -> Result<i64> {
        check_role_account(u.role, u.account_id)?;
        if let Some(account) = u.account_id {
            let found: Option<(i64,)> = on_tx!(self, conn => {
                sqlx::query_as("SELECT id FROM accounts WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant)
                    .bind(account)
                    .fetch_optional(&mut *conn)
                    .await?
            });
            if found.is_none() {
                return Err(StoreError::Conflict("no such account".into()));
            }
        }
        if self.user_by_email(tenant, u.email).await?.is_some() {
            return Err(StoreError::Conflict(
                "a user with this e-mail exists".into(),
            ));
        }
        if let (Role::Owner, Some(account)) = (u.role, u.account_id) {
            if u.status != UserStatus::Disabled
                && self.account_owner(tenant, account).await?.is_some()
            {
                return Err(StoreError::Conflict("the account has an owner".into()));
            }
        }
        let now = now_text();
        let password_changed_at = u.password_hash.map(|_| now.clone());
        on_tx!(self, conn => {
            let row = sqlx::query(
                "INSERT INTO users (tenant_id, account_id, role, email, name, language, status, \
                 password_hash, created_at, password_changed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            )
            .bind(tenant)
            .bind(u.account_id)
            .bind(u.role.as_str())
            .bind(u.email)
            .bind(u.name)
            .bind(u.language.as_str())
            .bind(u.status.as_str())
            .bind(u.password_hash)
            .bind(&now)
            .bind(&password_changed_at)
            .fetch_one(&mut *conn)
            .await?;
            Ok(row.try_get(0)?)
        })
    }

    pub async fn user(&mut self, tenant: i64, id: i64) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2");
        let row: Option<UserTuple> = on_tx!(self, conn => {
            sqlx::query_as(&sql).bind(tenant).bind(id).fetch_optional(&mut *conn).await?
        });
        row.map(user_from).transpose()
    }

    /// The user with this e-mail (compared as stored: the caller lower-cases it).
    pub async fn user_by_email(&mut self, tenant: i64, email: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND email = $2");
        let row: Option<UserTuple> = on_tx!(self, conn => {
            sqlx::query_as(&sql).bind(tenant).bind(email).fetch_optional(&mut *conn).await?
        });
        row.map(user_from).transpose()
    }

    /// The users of a customer account, disabled ones included: the owner first, then
    /// admins, then agents, each in creation order.
    pub async fn users_of_account(&mut self, tenant: i64, account_id: i64) -> Result<Vec<User>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND account_id = $2 \
             ORDER BY CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, id"
        );
        let rows: Vec<UserTuple> = on_tx!(self, conn => {
            sqlx::query_as(&sql).bind(tenant).bind(account_id).fetch_all(&mut *conn).await?
        });
        rows.into_iter().map(user_from).collect()
    }

    /// The tenant's staff users (those of no account), disabled ones included, by id.
    pub async fn staff_users(&mut self, tenant: i64) -> Result<Vec<User>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND account_id IS NULL ORDER BY id"
        );
        let rows: Vec<UserTuple> = on_tx!(self, conn => {
            sqlx::query_as(&sql).bind(tenant).fetch_all(&mut *conn).await?
        });
        rows.into_iter().map(user_from).collect()
    }

    /// The account's owner that is not disabled, if any.
    pub async fn account_owner(&mut self, tenant: i64, account_id: i64) -> Result<Option<User>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND account_id = $2 \
             AND role = 'owner' AND status <> 'disabled'"
        );
        let row: Option<UserTuple> = on_tx!(self, conn => {
            sqlx::query_as(&sql).bind(tenant).bind(account_id).fetch_optional(&mut *conn).await?
        });
        row.map(user_from).transpose()
    }

    /// Sets the user's password hash; an invited user becomes active (a disabled one stays
    /// disabled).
    pub async fn set_password(&mut self, tenant: i64, user_id: i64, hash: &str) -> Result<()> {
        let now = now_text();
        on_tx!(self, conn => {
            sqlx::query(
                "UPDATE users SET password_hash = $1, password_changed_at = $2, \
                 status = CASE WHEN status = 'disabled' THEN 'disabled' ELSE 'active' END \
                 WHERE tenant_id = $3 AND id = $4",
            )
            .bind(hash)
            .bind(&now)
            .bind(tenant)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

    /// False when the tenant has no such user. [`StoreError::Conflict`] when it would make
    /// a second not-disabled owner of the account.
    pub async fn set_user_status(
        &mut self,
        tenant: i64,
        user_id: i64,
        status: UserStatus,
    ) -> Result<bool> {
        let Some(user) = self.user(tenant, user_id).await? else {
            return Ok(false);
        };
        if user.role == Role::Owner && status != UserStatus::Disabled {
            self.check_no_other_owner(tenant, &user).await?;
        }
        on_tx!(self, conn => {
            let done = sqlx::query("UPDATE users SET status = $1 WHERE tenant_id = $2 AND id = $3")
                .bind(status.as_str())
                .bind(tenant)
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// False when the tenant has no such user. [`StoreError::Conflict`] when the role does
    /// not fit the user (a customer role for staff, or the reverse), or when it would make a
    /// second not-disabled owner of the account (demote the owner first).
    pub async fn set_user_role(&mut self, tenant: i64, user_id: i64, role: Role) -> Result<bool> {
        let Some(user) = self.user(tenant, user_id).await? else {
            return Ok(false);
        };
        check_role_account(role, user.account_id)?;
        if role == Role::Owner && user.status != UserStatus::Disabled {
            self.check_no_other_owner(tenant, &user).await?;
        }
        on_tx!(self, conn => {
            let done = sqlx::query("UPDATE users SET role = $1 WHERE tenant_id = $2 AND id = $3")
                .bind(role.as_str())
                .bind(tenant)
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    async fn check_no_other_owner(&mut self, tenant: i64, user: &User) -> Result<()> {
        if let Some(account) = user.account_id {
            if let Some(owner) = self.account_owner(tenant, account).await? {
                if owner.id != user.id {
                    return Err(StoreError::Conflict("the account has an owner".into()));
                }
            }
        }
        Ok(())
    }

    pub async fn set_user_language(&mut self, tenant: i64, user_id: i64, lang: Lang) -> Result<()> {
        on_tx!(self, conn => {
            sqlx::query("UPDATE users SET language = $1 WHERE tenant_id = $2 AND id = $3")
                .bind(lang.as_str())
                .bind(tenant)
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
        });
        Ok(())
    }

    // ------------------------------------------------------------ sessions

    /// Opens a session for a user of the tenant, stored by the SHA-256 of its id. Times are
    /// unix seconds. [`StoreError::Conflict`] when the tenant has no such user.
    pub async fn insert_session(
        &mut self,
        tenant: i64,
        user_id: i64,
        id_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        self.insert_session_with(tenant, user_id, id_hash, now, expires_at, true)
            .await
    }

    /// [`Tx::insert_session`], saying whether the user has given every factor their role
    /// asks for (`verified`); a staff session waiting for its code is not.
    pub async fn insert_session_with(
        &mut self,
        tenant: i64,
        user_id: i64,
        id_hash: &str,
        now: i64,
        expires_at: i64,
        verified: bool,
    ) -> Result<()> {
        let done = on_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO user_sessions (id_hash, tenant_id, user_id, created_at, last_seen, expires_at, verified) \
                 SELECT $1, tenant_id, id, $2, $2, $3, $6 FROM users WHERE tenant_id = $4 AND id = $5",
            )
            .bind(id_hash)
            .bind(now)
            .bind(expires_at)
            .bind(tenant)
            .bind(user_id)
            .bind(i32::from(verified))
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::Conflict("no such user".into()));
        }
        Ok(())
    }

    /// The session stored under `id_hash`, expired or not (the caller compares `expires_at`
    /// and `last_seen` with its clock).
    pub async fn session(&mut self, tenant: i64, id_hash: &str) -> Result<Option<SessionRow>> {
        let row: Option<(i64, i64, i64, i64, i64, i32)> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT tenant_id, user_id, created_at, last_seen, expires_at, verified FROM user_sessions \
                 WHERE tenant_id = $1 AND id_hash = $2",
            )
            .bind(tenant)
            .bind(id_hash)
            .fetch_optional(&mut *conn)
            .await?
        });
        Ok(row.map(
            |(tenant_id, user_id, created_at, last_seen, expires_at, verified)| SessionRow {
                tenant_id,
                user_id,
                created_at,
                last_seen,
                expires_at,
                verified: verified != 0,
            },
        ))
    }

    /// A session with its user, and the user's account and dunning standing, in one
    /// statement: what every signed-in page reads first.
    pub async fn session_view(
        &mut self,
        tenant: i64,
        id_hash: &str,
    ) -> Result<Option<SessionView>> {
        type Row = (
            i64,
            i64,
            i64,
            i32,
            i64,
            Option<i64>,
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
        );
        let row: Option<Row> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT s.created_at, s.last_seen, s.expires_at, s.verified, \
                 u.id, u.account_id, u.role, u.email, u.name, u.language, u.status, \
                 u.password_hash, u.created_at, a.body, st.body \
                 FROM user_sessions s \
                 JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id \
                 LEFT JOIN accounts a ON a.tenant_id = u.tenant_id AND a.id = u.account_id \
                 LEFT JOIN standings st ON st.tenant_id = u.tenant_id AND st.account_id = u.account_id \
                 WHERE s.tenant_id = $1 AND s.id_hash = $2",
            )
            .bind(tenant)
            .bind(id_hash)
            .fetch_optional(&mut *conn)
            .await?
        });
        let Some((
            created_at,
            last_seen,
            expires_at,
            verified,
            id,
            account_id,
            role,
            email,
            name,
            language,
            status,
            password_hash,
            user_created_at,
            account,
            standing,
        )) = row
        else {
            return Ok(None);
        };
        let user = user_from((
            id,
            tenant,
            account_id,
            role,
            email,
            name,
            language,
            status,
            password_hash,
            user_created_at,
        ))?;
        Ok(Some(SessionView {
            session: SessionRow {
                tenant_id: tenant,
                user_id: id,
                created_at,
                last_seen,
                expires_at,
                verified: verified != 0,
            },
            user,
            account: account.map(|b| from_json(&b)).transpose()?,
            standing: standing
                .map(|b| from_json(&b))
                .transpose()?
                .unwrap_or_default(),
        }))
    }

    /// Records activity on a session (`last_seen = now`).
    pub async fn touch_session(&mut self, tenant: i64, id_hash: &str, now: i64) -> Result<()> {
        on_tx!(self, conn => {
            sqlx::query("UPDATE user_sessions SET last_seen = $1 WHERE tenant_id = $2 AND id_hash = $3")
                .bind(now)
                .bind(tenant)
                .bind(id_hash)
                .execute(&mut *conn)
                .await?;
        });
        Ok(())
    }

    pub async fn delete_session(&mut self, tenant: i64, id_hash: &str) -> Result<()> {
        on_tx!(self, conn => {
            sqlx::query("DELETE FROM user_sessions WHERE tenant_id = $1 AND id_hash = $2")
                .bind(tenant)
                .bind(id_hash)
                .execute(&mut *conn)
                .await?;
        });
        Ok(())
    }

    /// Ends every session of the user; how many there were.
    pub async fn delete_sessions_of_user(&mut self, tenant: i64, user_id: i64) -> Result<u64> {
        on_tx!(self, conn => {
            let done = sqlx::query("DELETE FROM user_sessions WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant)
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// Housekeeping of one tenant's sign-in tables (unix seconds): sessions past their
    /// absolute expiry or idle since `idle_before`, links expired before `links_before`,
    /// sign-in failures older than `failures_before`. How many rows went, in all.
    pub async fn purge_people_leftovers(
        &mut self,
        tenant: i64,
        now: i64,
        idle_before: i64,
        links_before: i64,
        failures_before: i64,
    ) -> Result<u64> {
        on_tx!(self, conn => {
            let sessions = sqlx::query(
                "DELETE FROM user_sessions WHERE tenant_id = $1 AND (expires_at <= $2 OR last_seen < $3)",
            )
            .bind(tenant)
            .bind(now)
            .bind(idle_before)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            let links = sqlx::query("DELETE FROM user_tokens WHERE tenant_id = $1 AND expires_at < $2")
                .bind(tenant)
                .bind(links_before)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            let failures = sqlx::query("DELETE FROM sign_in_failures WHERE tenant_id = $1 AND at < $2")
                .bind(tenant)
                .bind(failures_before)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            Ok(sessions + links + failures)
        })
    }

    // ------------------------------------------------------------ single-use links

    /// Stores a single-use link for a user of the tenant; its id. Times are unix seconds.
    /// [`StoreError::Conflict`] when the tenant has no such user.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_token(
        &mut self,
        tenant: i64,
        user_id: i64,
        purpose: TokenPurpose,
        nonce: &str,
        return_url: Option<&str>,
        now: i64,
        expires_at: i64,
    ) -> Result<i64> {
        let row: Option<(i64,)> = on_tx!(self, conn => {
            sqlx::query_as(
                "INSERT INTO user_tokens (tenant_id, user_id, purpose, nonce, return_url, created_at, expires_at) \
                 SELECT tenant_id, id, $1, $2, $3, $4, $5 FROM users WHERE tenant_id = $6 AND id = $7 \
                 RETURNING id",
            )
            .bind(purpose.as_str())
            .bind(nonce)
            .bind(return_url)
            .bind(now)
            .bind(expires_at)
            .bind(tenant)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?
        });
        row.map(|r| r.0)
            .ok_or_else(|| StoreError::Conflict("no such user".into()))
    }

    /// The link's row, used, expired or not.
    pub async fn token(&mut self, tenant: i64, id: i64) -> Result<Option<UserToken>> {
        let sql =
            format!("SELECT {TOKEN_COLUMNS} FROM user_tokens WHERE tenant_id = $1 AND id = $2");
        let row: Option<TokenTuple> = on_tx!(self, conn => {
            sqlx::query_as(&sql).bind(tenant).bind(id).fetch_optional(&mut *conn).await?
        });
        row.map(token_from).transpose()
    }

    /// Spends the link: true only for its first use before it expires.
    pub async fn use_token(&mut self, tenant: i64, id: i64, now: i64) -> Result<bool> {
        on_tx!(self, conn => {
            let done = sqlx::query(
                "UPDATE user_tokens SET used_at = $1 \
                 WHERE tenant_id = $2 AND id = $3 AND used_at IS NULL AND expires_at > $1",
            )
            .bind(now)
            .bind(tenant)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    // ------------------------------------------------------------ sign-in throttling

    /// Records a failed sign-in under `key` ("email:…", "ip:…") at unix second `at`.
    pub async fn record_sign_in_failure(&mut self, tenant: i64, key: &str, at: i64) -> Result<()> {
        on_tx!(self, conn => {
            sqlx::query("INSERT INTO sign_in_failures (tenant_id, key, at) VALUES ($1, $2, $3)")
                .bind(tenant)
                .bind(key)
                .bind(at)
                .execute(&mut *conn)
                .await?;
        });
        Ok(())
    }

    /// Failed sign-ins under `key` at or after `since`.
    pub async fn count_sign_in_failures(
        &mut self,
        tenant: i64,
        key: &str,
        since: i64,
    ) -> Result<i64> {
        let row: (i64,) = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT COUNT(*) FROM sign_in_failures WHERE tenant_id = $1 AND key = $2 AND at >= $3",
            )
            .bind(tenant)
            .bind(key)
            .bind(since)
            .fetch_one(&mut *conn)
            .await?
        });
        Ok(row.0)
    }

    pub async fn clear_sign_in_failures(&mut self, tenant: i64, key: &str) -> Result<()> {
        on_tx!(self, conn => {
            sqlx::query("DELETE FROM sign_in_failures WHERE tenant_id = $1 AND key = $2")
                .bind(tenant)
                .bind(key)
                .execute(&mut *conn)
                .await?;
        });
        Ok(())
    }

    // ------------------------------------------------------------ change requests

    // ---------------------------------------------------------------- second factor

    /// A user's TOTP state: the sealed secret, when it was confirmed, the last step used.
    pub async fn totp(&mut self, tenant: i64, user_id: i64) -> Result<Option<TotpRow>> {
        let row: Option<(Option<String>, Option<i64>, Option<i64>)> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT totp_secret, totp_confirmed_at, totp_last_step FROM users \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?
        });
        Ok(row.map(|(sealed, confirmed_at, last_step)| TotpRow {
            sealed,
            confirmed_at,
            last_step,
        }))
    }

    /// Starts an enrolment: stores a sealed secret for a user who has none confirmed. False
    /// when the user already has a confirmed one (it is never replaced this way).
    pub async fn set_totp_secret(
        &mut self,
        tenant: i64,
        user_id: i64,
        sealed: &str,
    ) -> Result<bool> {
        let done = on_tx!(self, conn => {
            sqlx::query(
                "UPDATE users SET totp_secret = $1, totp_last_step = NULL \
                 WHERE tenant_id = $2 AND id = $3 AND totp_confirmed_at IS NULL",
            )
            .bind(sealed)
            .bind(tenant)
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Takes time step `step` for the user: true only when it is later than every step taken
    /// before (so each code is accepted once, whoever races), confirming the enrolment.
    pub async fn take_totp_step(
        &mut self,
        tenant: i64,
        user_id: i64,
        step: i64,
        now: i64,
    ) -> Result<bool> {
        let done = on_tx!(self, conn => {
            sqlx::query(
                "UPDATE users SET totp_last_step = $1, \
                 totp_confirmed_at = COALESCE(totp_confirmed_at, $2) \
                 WHERE tenant_id = $3 AND id = $4 AND totp_secret IS NOT NULL \
                 AND (totp_last_step IS NULL OR totp_last_step < $1)",
            )
            .bind(step)
            .bind(now)
            .bind(tenant)
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Forgets the user's second factor (secret, confirmation, steps, recovery codes): their
    /// next sign-in enrols a new one. False when the tenant has no such user.
    pub async fn reset_totp(&mut self, tenant: i64, user_id: i64) -> Result<bool> {
        let done = on_tx!(self, conn => {
            sqlx::query(
                "UPDATE users SET totp_secret = NULL, totp_confirmed_at = NULL, \
                 totp_last_step = NULL WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant)
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        self.set_recovery_codes(tenant, user_id, &[]).await?;
        Ok(done == 1)
    }

    /// Replaces the user's recovery codes by these (SHA-256 hashes).
    pub async fn set_recovery_codes(
        &mut self,
        tenant: i64,
        user_id: i64,
        hashes: &[String],
    ) -> Result<()> {
        on_tx!(self, conn => {
            sqlx::query("DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant)
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
        });
        if hashes.is_empty() {
            return Ok(());
        }
        on_tx!(self, conn => {
            let mut q = QueryBuilder::new(
                "INSERT INTO recovery_codes (tenant_id, user_id, code_hash) ",
            );
            q.push_values(hashes, |mut b, h| {
                b.push_bind(tenant).push_bind(user_id).push_bind(h);
            });
            q.build().execute(&mut *conn).await?;
        });
        Ok(())
    }

    /// Uses a recovery code: true when it was the user's and unused (now it is used).
    pub async fn use_recovery_code(
        &mut self,
        tenant: i64,
        user_id: i64,
        hash: &str,
        now: i64,
    ) -> Result<bool> {
        let done = on_tx!(self, conn => {
            sqlx::query(
                "UPDATE recovery_codes SET used_at = $1 \
                 WHERE tenant_id = $2 AND user_id = $3 AND code_hash = $4 AND used_at IS NULL",
            )
            .bind(now)
            .bind(tenant)
            .bind(user_id)
            .bind(hash)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// How many of the user's recovery codes are still unused.
    pub async fn recovery_codes_left(&mut self, tenant: i64, user_id: i64) -> Result<i64> {
        let (n,): (i64,) = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT COUNT(*) FROM recovery_codes \
                 WHERE tenant_id = $1 AND user_id = $2 AND used_at IS NULL",
            )
            .bind(tenant)
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await?
        });
        Ok(n)
    }

    /// Stores a pending change request; its id. [`StoreError::Conflict`] when the tenant has
    /// no such subscription of that account.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_change_request(
        &mut self,
        tenant: i64,
        account_id: i64,
        subscription_id: i64,
        user_id: Option<i64>,
        request: &serde_json::Value,
        reason: Option<&str>,
        submitted_on: NaiveDate,
    ) -> Result<i64> {
        let body = json(request)?;
        let now = now_text();
        // The subscription (of the account, in the tenant) is the row selected from.
        let row: Option<(i64,)> = on_tx!(self, conn => {
            sqlx::query_as(
                "INSERT INTO change_requests (tenant_id, account_id, subscription_id, user_id, request, \
                 reason, status, submitted_on, created_at) \
                 SELECT tenant_id, account_id, id, $1, $2, $3, 'pending', $4, $5 FROM subscriptions \
                 WHERE tenant_id = $6 AND account_id = $7 AND id = $8 \
                 RETURNING id",
            )
            .bind(user_id)
            .bind(&body)
            .bind(reason)
            .bind(submitted_on)
            .bind(&now)
            .bind(tenant)
            .bind(account_id)
            .bind(subscription_id)
            .fetch_optional(&mut *conn)
            .await?
        });
        row.map(|r| r.0)
            .ok_or_else(|| StoreError::Conflict("no such subscription".into()))
    }

    /// Change requests, newest first (at most 500), optionally of one status and one account.
    pub async fn change_requests(
        &mut self,
        tenant: i64,
        status: Option<ChangeRequestStatus>,
        account_id: Option<i64>,
    ) -> Result<Vec<ChangeRequestRow>> {
        let rows: Vec<ChangeRequestTuple> = on_tx!(self, conn => {
            let mut q = QueryBuilder::new(format!(
                "SELECT {CHANGE_REQUEST_COLUMNS} FROM change_requests WHERE tenant_id = "
            ));
            q.push_bind(tenant);
            if let Some(s) = status {
                q.push(" AND status = ").push_bind(s.as_str());
            }
            if let Some(a) = account_id {
                q.push(" AND account_id = ").push_bind(a);
            }
            q.push(" ORDER BY id DESC LIMIT ").push_bind(CHANGE_REQUESTS_LIMIT);
            q.build_query_as().fetch_all(&mut *conn).await?
        });
        rows.into_iter().map(change_request_from).collect()
    }

    pub async fn change_request(
        &mut self,
        tenant: i64,
        id: i64,
    ) -> Result<Option<ChangeRequestRow>> {
        let sql = format!(
            "SELECT {CHANGE_REQUEST_COLUMNS} FROM change_requests WHERE tenant_id = $1 AND id = $2"
        );
        let row: Option<ChangeRequestTuple> = on_tx!(self, conn => {
            sqlx::query_as(&sql).bind(tenant).bind(id).fetch_optional(&mut *conn).await?
        });
        row.map(change_request_from).transpose()
    }

    /// The ticket that carries the change request `id` of `account_id` to the account
    /// manager, if one does (the account's tickets are an index's range).
    pub async fn change_request_ticket(
        &mut self,
        tenant: i64,
        account_id: i64,
        id: i64,
    ) -> Result<Option<i64>> {
        let row: Option<(i64,)> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id FROM tickets WHERE tenant_id = $1 AND account_id = $2 \
                 AND change_request_id = $3 ORDER BY id LIMIT 1",
            )
            .bind(tenant)
            .bind(account_id)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
        });
        Ok(row.map(|r| r.0))
    }

    /// Applies or refuses a pending request: true only when it was pending (a request is
    /// decided once).
    pub async fn decide_change_request(
        &mut self,
        tenant: i64,
        id: i64,
        status: ChangeRequestStatus,
        note: Option<&str>,
    ) -> Result<bool> {
        let now = now_text();
        on_tx!(self, conn => {
            let done = sqlx::query(
                "UPDATE change_requests SET status = $1, note = $2, decided_at = $3 \
                 WHERE tenant_id = $4 AND id = $5 AND status = 'pending'",
            )
            .bind(status.as_str())
            .bind(note)
            .bind(&now)
            .bind(tenant)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    // ------------------------------------------------------------ logos

    /// Stores (or replaces) the account's logo.
    pub async fn set_logo(
        &mut self,
        tenant: i64,
        account_id: i64,
        png: &[u8],
        sha256: &str,
    ) -> Result<()> {
        let now = now_text();
        on_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO account_logos (tenant_id, account_id, png, sha256, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (tenant_id, account_id) DO UPDATE SET \
                 png = excluded.png, sha256 = excluded.sha256, updated_at = excluded.updated_at",
            )
            .bind(tenant)
            .bind(account_id)
            .bind(png)
            .bind(sha256)
            .bind(&now)
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

    /// The account's logo (PNG) and its SHA-256.
    pub async fn logo(
        &mut self,
        tenant: i64,
        account_id: i64,
    ) -> Result<Option<(Vec<u8>, String)>> {
        on_tx!(self, conn => {
            Ok(sqlx::query_as(
                "SELECT png, sha256 FROM account_logos WHERE tenant_id = $1 AND account_id = $2",
            )
            .bind(tenant)
            .bind(account_id)
            .fetch_optional(&mut *conn)
            .await?)
        })
    }
}
