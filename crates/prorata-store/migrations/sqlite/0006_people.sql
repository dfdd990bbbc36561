-- People: users of customer accounts and of the tenant's staff, their sessions, single-use
-- links (invitations, password resets, portal sessions), failed sign-ins, customers' change
-- requests waiting for the staff, and account logos.

-- The portal's address names the tenant by its slug. SQLite cannot add a NOT NULL column
-- without a default: the store always writes one (`t<id>` until the tenant chooses).
ALTER TABLE tenants ADD COLUMN slug TEXT;
UPDATE tenants SET slug = 't' || id;
CREATE UNIQUE INDEX tenants_slug ON tenants (slug);

-- A customer role (owner, admin, agent) belongs to one account; a staff role to none. The
-- e-mail is stored lower-cased. The password hash is NULL until the invitation is accepted.
CREATE TABLE users (
    id                   INTEGER PRIMARY KEY,
    tenant_id            INTEGER NOT NULL REFERENCES tenants (id),
    account_id           INTEGER REFERENCES accounts (id),
    role                 TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'agent', 'billing_team', 'account_manager', 'tenant_admin')),
    email                TEXT    NOT NULL,
    name                 TEXT    NOT NULL,
    language             TEXT    NOT NULL CHECK (language IN ('en', 'fr')),
    status               TEXT    NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
    password_hash        TEXT,
    created_at           TEXT    NOT NULL,
    password_changed_at  TEXT,
    UNIQUE (tenant_id, email),
    CHECK ((account_id IS NOT NULL) = (role IN ('owner', 'admin', 'agent')))
);
CREATE INDEX users_account ON users (tenant_id, account_id);
-- At most one owner per account that is not disabled.
CREATE UNIQUE INDEX users_account_owner ON users (tenant_id, account_id)
    WHERE role = 'owner' AND status <> 'disabled';

-- Signed-in sessions, by the SHA-256 (hex) of the session id: the id itself is never stored.
-- Times are unix seconds.
CREATE TABLE user_sessions (
    id_hash     TEXT    PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id),
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL       -- absolute expiry
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);

-- Single-use links. The link is derived from `nonce` with a server key, so this table alone
-- can neither reveal nor forge one. Times are unix seconds.
CREATE TABLE user_tokens (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id),
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT    NOT NULL CHECK (purpose IN ('invitation', 'password_reset', 'portal_session')),
    nonce       TEXT    NOT NULL,
    return_url  TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX user_tokens_user ON user_tokens (user_id);

-- Failed sign-ins, for throttling: `key` is what is throttled ("email:…", "ip:…").
CREATE TABLE sign_in_failures (
    id         INTEGER PRIMARY KEY,
    tenant_id  INTEGER NOT NULL REFERENCES tenants (id),
    key        TEXT    NOT NULL,
    at         INTEGER NOT NULL        -- unix seconds
);
CREATE INDEX sign_in_failures_key ON sign_in_failures (tenant_id, key, at);

-- A customer's downgrade or cancellation, waiting for the staff to apply or refuse it.
CREATE TABLE change_requests (
    id               INTEGER PRIMARY KEY,
    tenant_id        INTEGER NOT NULL REFERENCES tenants (id),
    account_id       INTEGER NOT NULL REFERENCES accounts (id),
    subscription_id  INTEGER NOT NULL REFERENCES subscriptions (id),
    user_id          INTEGER REFERENCES users (id) ON DELETE SET NULL,   -- who asked
    request          TEXT    NOT NULL,     -- prorata_core::change::Request as JSON
    reason           TEXT,                 -- a cancellation's reason
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'applied', 'refused')),
    submitted_on     TEXT    NOT NULL,     -- the tenant's business date
    note             TEXT,                 -- the staff's note when deciding
    created_at       TEXT    NOT NULL,
    decided_at       TEXT
);
CREATE INDEX change_requests_status ON change_requests (tenant_id, status, id);
CREATE INDEX change_requests_account ON change_requests (tenant_id, account_id, id);
CREATE INDEX change_requests_user ON change_requests (user_id);

-- Each account's logo, a PNG re-encoded by the engine.
CREATE TABLE account_logos (
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id),
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    png         BLOB    NOT NULL,
    sha256      TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, account_id)
);
