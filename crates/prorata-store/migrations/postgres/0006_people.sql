-- People: users of customer accounts and of the tenant's staff, their sessions, single-use
-- links, failed sign-ins, customers' change requests and account logos. Same shape as the
-- SQLite migration; comments there.

ALTER TABLE tenants ADD COLUMN slug TEXT;
UPDATE tenants SET slug = 't' || id;
ALTER TABLE tenants ALTER COLUMN slug SET NOT NULL;
CREATE UNIQUE INDEX tenants_slug ON tenants (slug);

CREATE TABLE users (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id            BIGINT  NOT NULL REFERENCES tenants (id),
    account_id           BIGINT  REFERENCES accounts (id),
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
CREATE UNIQUE INDEX users_account_owner ON users (tenant_id, account_id)
    WHERE role = 'owner' AND status <> 'disabled';

CREATE TABLE user_sessions (
    id_hash     TEXT    PRIMARY KEY,
    tenant_id   BIGINT  NOT NULL REFERENCES tenants (id),
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT  NOT NULL,
    last_seen   BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);

CREATE TABLE user_tokens (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   BIGINT  NOT NULL REFERENCES tenants (id),
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT    NOT NULL CHECK (purpose IN ('invitation', 'password_reset', 'portal_session')),
    nonce       TEXT    NOT NULL,
    return_url  TEXT,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    used_at     BIGINT
);
CREATE INDEX user_tokens_user ON user_tokens (user_id);

CREATE TABLE sign_in_failures (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  BIGINT  NOT NULL REFERENCES tenants (id),
    key        TEXT    NOT NULL,
    at         BIGINT  NOT NULL
);
CREATE INDEX sign_in_failures_key ON sign_in_failures (tenant_id, key, at);

CREATE TABLE change_requests (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        BIGINT  NOT NULL REFERENCES tenants (id),
    account_id       BIGINT  NOT NULL REFERENCES accounts (id),
    subscription_id  BIGINT  NOT NULL REFERENCES subscriptions (id),
    user_id          BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    request          TEXT    NOT NULL,
    reason           TEXT,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'applied', 'refused')),
    submitted_on     DATE    NOT NULL,
    note             TEXT,
    created_at       TEXT    NOT NULL,
    decided_at       TEXT
);
CREATE INDEX change_requests_status ON change_requests (tenant_id, status, id);
CREATE INDEX change_requests_account ON change_requests (tenant_id, account_id, id);
CREATE INDEX change_requests_user ON change_requests (user_id);

CREATE TABLE account_logos (
    tenant_id   BIGINT  NOT NULL REFERENCES tenants (id),
    account_id  BIGINT  NOT NULL REFERENCES accounts (id),
    png         BYTEA   NOT NULL,
    sha256      TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, account_id)
);
