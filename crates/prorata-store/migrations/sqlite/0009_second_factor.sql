-- Staff sign-in takes a second factor (TOTP, RFC 6238) after the password.

-- The TOTP secret, sealed under the server's key (the database alone cannot reveal it); NULL
-- until enrolment starts. `totp_confirmed_at` is set by the first code accepted;
-- `totp_last_step` is the last 30-second step accepted, so a code is used once.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_confirmed_at INTEGER;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER;

-- 1 once the session's user has given every factor their role asks for. A staff session is
-- opened at 0 by the password and replaced by a new one at 1 by the code.
ALTER TABLE user_sessions ADD COLUMN verified INTEGER NOT NULL DEFAULT 1;
-- Staff sessions opened before this migration give their second factor too.
UPDATE user_sessions SET verified = 0
 WHERE user_id IN (SELECT id FROM users WHERE account_id IS NULL);

-- One-time recovery codes, stored by their SHA-256 (they are random: a hash cannot be
-- guessed back).
CREATE TABLE recovery_codes (
    id         INTEGER PRIMARY KEY,
    tenant_id  INTEGER NOT NULL REFERENCES tenants (id),
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT    NOT NULL,
    used_at    INTEGER
);
CREATE INDEX recovery_codes_user ON recovery_codes (tenant_id, user_id);
