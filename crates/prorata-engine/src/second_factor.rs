//! The staff's second factor: time-based one-time codes (TOTP, RFC 6238: HMAC-SHA1, 30-second
//! steps, 6 digits — what every authenticator app reads) and one-time recovery codes.
//!
//! A staff member's password opens a session that reaches nothing but this step
//! ([`prorata_store::SessionRow::verified`] is false). On the first sign-in the person
//! enrols: a secret is made, shown once as a key and an `otpauth://` link, and confirmed by a
//! first code, which also makes ten recovery codes shown once. From then on a code — or one
//! recovery code — replaces the waiting session by a new, verified one (a new id, as at every
//! change of privilege).
//!
//! Secrets are sealed under the server's key: the database alone can neither read a secret
//! nor forge a code. Each 30-second step is taken once (a code seen over a shoulder cannot be
//! replayed), and wrong codes count as failed sign-ins, throttled like passwords.

use hmac::{Hmac, Mac};
use prorata_store::Tenant;
use sha1::Sha1;

use crate::people::{session_hash, unix_now, MAX_FAILURES_PER_EMAIL, THROTTLE_WINDOW};
use crate::{hex, random_hex, sha256_hex, unhex, Engine, EngineError, Result};

/// Seconds per code.
pub const STEP: i64 = 30;
/// A code of the step before or after is accepted too (clocks drift).
pub const WINDOW: i64 = 1;
/// Secret length: 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
/// Recovery codes made at enrolment.
pub const RECOVERY_CODES: usize = 10;

/// The code of `step` for `secret` (RFC 4226's HOTP with the step as counter, 6 digits).
pub fn totp(secret: &[u8], step: i64) -> u32 {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return 0;
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let bin = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    bin % 1_000_000
}

/// The step of unix time `at`.
pub fn step_of(at: i64) -> i64 {
    at.div_euclid(STEP)
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding: how authenticator apps take a key.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for b in bytes {
        buffer = (buffer << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The bytes of a base32 key (any case, spaces and padding ignored); `None` when it is not
/// base32.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let v = BASE32
            .iter()
            .position(|b| char::from(*b) == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | v as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// Where a staff member stands with the second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enrolment {
    /// Enrolled: a code is asked. `recovery_left` codes remain unused.
    Enrolled { recovery_left: i64 },
    /// Enrolling: the key to add to an authenticator app, and the same as a link.
    Enrolling { key: String, uri: String },
}

/// What became of a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Accepted: the new session's id; at enrolment, the recovery codes, shown once.
    Accepted {
        session_id: String,
        recovery_codes: Vec<String>,
    },
    /// Not a code of this person's, of this moment, or a recovery code left.
    Wrong,
    /// Too many wrong codes lately: wait, as after wrong passwords.
    Throttled,
}

impl Engine {
    fn seal(&self, tenant: i64, user: i64, secret: &[u8]) -> Result<String> {
        let nonce = random_hex(16)?;
        let pad = self.pad(tenant, user, &nonce);
        let sealed: Vec<u8> = secret.iter().zip(pad).map(|(s, p)| s ^ p).collect();
        Ok(format!("{nonce}:{}", hex(&sealed)))
    }

    fn unseal(&self, tenant: i64, user: i64, sealed: &str) -> Option<Vec<u8>> {
        let (nonce, body) = sealed.split_once(':')?;
        let body = unhex(body)?;
        let pad = self.pad(tenant, user, nonce);
        (body.len() <= pad.len()).then(|| body.iter().zip(pad).map(|(s, p)| s ^ p).collect())
    }

    /// A one-time pad for one user's secret: HMAC-SHA256 of a fresh nonce under the server key.
    fn pad(&self, tenant: i64, user: i64, nonce: &str) -> Vec<u8> {
        unhex(
            &self
                .secret
                .mac(&format!("totp-seal:{tenant}:{user}:{nonce}")),
        )
        .unwrap_or_default()
    }

    /// Where the session's staff member stands: enrolled, or enrolling with the key to add
    /// (made now, on the first visit of this step, and kept until a code confirms it).
    pub async fn second_factor(
        &self,
        tenant: &Tenant,
        session_id: &str,
    ) -> Result<(prorata_store::User, Enrolment)> {
        let user = self.waiting_user(tenant, session_id).await?;
        let mut tx = self.store.begin().await?;
        let row = tx
            .totp(tenant.id, user.id)
            .await?
            .ok_or(EngineError::NotFound("user"))?;
        if row.confirmed_at.is_some() {
            let recovery_left = tx.recovery_codes_left(tenant.id, user.id).await?;
            tx.rollback().await?;
            return Ok((user, Enrolment::Enrolled { recovery_left }));
        }
        let secret = match row
            .sealed
            .as_deref()
            .and_then(|s| self.unseal(tenant.id, user.id, s))
        {
            Some(secret) => secret,
            None => {
                let secret = unhex(&random_hex(SECRET_BYTES)?).unwrap_or_default();
                let sealed = self.seal(tenant.id, user.id, &secret)?;
                tx.set_totp_secret(tenant.id, user.id, &sealed).await?;
                secret
            }
        };
        tx.commit().await?;
        let key = base32(&secret);
        let issuer = uri_text(&tenant.name);
        let uri = format!(
            "otpauth://totp/{issuer}:{}?secret={key}&issuer={issuer}&algorithm=SHA1&digits=6&period={STEP}",
            uri_text(&user.email)
        );
        Ok((user, Enrolment::Enrolling { key, uri }))
    }

    /// Checks a code (6 digits) or a recovery code given by the session's staff member at
    /// unix time `now`; when right, ends the waiting session and opens a verified one.
    pub async fn verify_second_factor(
        &self,
        tenant: &Tenant,
        session_id: &str,
        code: &str,
        now: i64,
    ) -> Result<Verified> {
        let user = self.waiting_user(tenant, session_id).await?;
        let key = format!("totp:{}", user.id);
        let window = i64::try_from(THROTTLE_WINDOW.as_secs()).unwrap_or(i64::MAX);
        let since = now.saturating_sub(window);
        let mut tx = self.store.begin().await?;
        if tx.count_sign_in_failures(tenant.id, &key, since).await? >= MAX_FAILURES_PER_EMAIL {
            tx.rollback().await?;
            return Ok(Verified::Throttled);
        }
        let row = tx
            .totp(tenant.id, user.id)
            .await?
            .ok_or(EngineError::NotFound("user"))?;
        let secret = row
            .sealed
            .as_deref()
            .and_then(|s| self.unseal(tenant.id, user.id, s));
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let mut accepted = false;
        if let (Some(secret), true) = (&secret, code.len() == 6) {
            let now_step = step_of(now);
            for step in now_step - WINDOW..=now_step + WINDOW {
                if crate::constant_time_eq(&format!("{:06}", totp(secret, step)), &code) {
                    // Taken once: a replay, or a race with another sign-in, is refused.
                    accepted = tx.take_totp_step(tenant.id, user.id, step, now).await?;
                    break;
                }
            }
        } else if row.confirmed_at.is_some() && code.len() == 11 {
            let hash = sha256_hex(code.to_ascii_lowercase().as_bytes());
            accepted = tx.use_recovery_code(tenant.id, user.id, &hash, now).await?;
        }
        if !accepted {
            tx.record_sign_in_failure(tenant.id, &key, now).await?;
            tx.commit().await?;
            return Ok(Verified::Wrong);
        }
        tx.clear_sign_in_failures(tenant.id, &key).await?;
        // At enrolment (the first code), the recovery codes are made and shown once.
        let mut recovery_codes = Vec::new();
        if row.confirmed_at.is_none() {
            for _ in 0..RECOVERY_CODES {
                let raw = random_hex(5)?;
                recovery_codes.push(format!("{}-{}", &raw[..5], &raw[5..]));
            }
            let hashes: Vec<String> = recovery_codes
                .iter()
                .map(|c| sha256_hex(c.as_bytes()))
                .collect();
            tx.set_recovery_codes(tenant.id, user.id, &hashes).await?;
        }
        tx.delete_session(tenant.id, &session_hash(session_id))
            .await?;
        let session_id = self
            .open_session_with(&mut tx, tenant.id, user.id, true)
            .await?;
        tx.commit().await?;
        Ok(Verified::Accepted {
            session_id,
            recovery_codes,
        })
    }

    /// The staff member whose session waits for the second factor; `Forbidden` for any
    /// other session (a customer's, a verified one, an ended one).
    async fn waiting_user(&self, tenant: &Tenant, session_id: &str) -> Result<prorata_store::User> {
        let refused = || EngineError::Forbidden("no sign-in is waiting for a second factor".into());
        if session_id.len() != 64 {
            return Err(refused());
        }
        let mut tx = self.store.read().await?;
        let view = tx
            .session_view(tenant.id, &session_hash(session_id))
            .await?
            .ok_or_else(refused)?;
        let now = unix_now();
        let live = now < view.session.expires_at
            && view.user.status == prorata_core::access::UserStatus::Active;
        if !live || view.session.verified || view.user.role.is_customer() {
            return Err(refused());
        }
        Ok(view.user)
    }
}

/// Text for an `otpauth://` label or parameter: unreserved characters kept, the rest
/// percent-encoded.
fn uri_text(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_rfc_6238s() {
        // RFC 6238, appendix B (SHA-1): the 8-digit values, of which a code is the last 6.
        let secret = b"12345678901234567890";
        for (time, eight) in [
            (59, 94_287_082_u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(totp(secret, step_of(time)), eight % 1_000_000, "t = {time}");
        }
    }

    #[test]
    fn keys_read_back_in_base32() {
        // RFC 4648's test vectors, without padding.
        for (raw, text) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(raw.as_bytes()), text);
            assert_eq!(base32_decode(text).as_deref(), Some(raw.as_bytes()));
        }
        assert_eq!(
            base32_decode("mzxw 6ytb oi=="),
            Some(b"foobar".to_vec()),
            "as a person types it"
        );
        assert_eq!(base32_decode("MZ1"), None);
    }
}
