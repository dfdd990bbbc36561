-- Prorata schema, PostgreSQL (same tables as the SQLite tree; dates are DATE). Every row carries its tenant, and every index leads with it.
-- Documents, accounts and subscriptions keep their domain value as JSON (`body`), with the
-- columns queries filter on beside it.

CREATE TABLE tenants (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT    NOT NULL,
    mode        TEXT    NOT NULL CHECK (mode IN ('live', 'sandbox')),
    clock       DATE,                -- sandbox test clock (a date); NULL for live tenants
    settings    TEXT    NOT NULL,    -- prorata_core::reconcile::Settings as JSON
    created_at  TEXT    NOT NULL
);

CREATE TABLE api_keys (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    BIGINT  NOT NULL REFERENCES tenants (id),
    prefix       TEXT    NOT NULL,       -- shown to people to tell keys apart
    secret_hash  TEXT    NOT NULL UNIQUE, -- SHA-256 of the secret; the secret is never stored
    created_at   TEXT    NOT NULL,
    revoked_at   TEXT
);

CREATE TABLE catalog_versions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   BIGINT  NOT NULL REFERENCES tenants (id),
    version     BIGINT  NOT NULL,
    source      TEXT    NOT NULL,      -- the TOML as imported
    created_at  TEXT    NOT NULL,
    UNIQUE (tenant_id, version)
);

CREATE TABLE accounts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   BIGINT  NOT NULL REFERENCES tenants (id),
    body        TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);
CREATE INDEX accounts_tenant ON accounts (tenant_id, id);

CREATE TABLE subscriptions (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id           BIGINT  NOT NULL REFERENCES tenants (id),
    account_id          BIGINT  NOT NULL REFERENCES accounts (id),
    catalog_version_id  BIGINT  NOT NULL REFERENCES catalog_versions (id),
    body                TEXT    NOT NULL,   -- prorata_core::timeline::Subscription
    next_due            DATE,               -- next day something falls due; NULL when none
    revision            BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX subscriptions_due ON subscriptions (tenant_id, next_due, id);
CREATE INDEX subscriptions_account ON subscriptions (tenant_id, account_id);

CREATE TABLE documents (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        BIGINT  NOT NULL REFERENCES tenants (id),
    account_id       BIGINT  NOT NULL REFERENCES accounts (id),
    subscription_id  BIGINT  NOT NULL REFERENCES subscriptions (id),
    kind             TEXT    NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
    number           TEXT    NOT NULL,
    issued_on        DATE    NOT NULL,
    currency         TEXT    NOT NULL,
    total            BIGINT  NOT NULL,      -- minor units, signed
    body             TEXT    NOT NULL,      -- prorata_core::document::Document
    UNIQUE (tenant_id, number)
);
CREATE INDEX documents_subscription ON documents (tenant_id, subscription_id, id);
CREATE INDEX documents_account ON documents (tenant_id, account_id, id);

-- Gap-free numbering: the next number of each series is taken in the transaction that issues.
CREATE TABLE number_series (
    tenant_id  BIGINT  NOT NULL REFERENCES tenants (id),
    series     TEXT    NOT NULL,
    next       BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, series)
);

-- A balance is the sum of its entries; nothing stores a balance.
CREATE TABLE ledger_entries (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   BIGINT  NOT NULL REFERENCES tenants (id),
    account_id  BIGINT  NOT NULL REFERENCES accounts (id),
    entry_date  DATE    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('invoice', 'credit_note', 'payment', 'refund', 'write_off')),
    amount      BIGINT  NOT NULL,           -- minor units; positive = owed by the customer
    currency    TEXT    NOT NULL,
    reference   TEXT    NOT NULL
);
CREATE INDEX ledger_account ON ledger_entries (tenant_id, account_id, id);

-- What must leave the system, written with the change that caused it.
CREATE TABLE outbox (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     BIGINT  NOT NULL REFERENCES tenants (id),
    topic         TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    processed_at  TEXT
);
CREATE INDEX outbox_pending ON outbox (processed_at, id);

CREATE TABLE idempotency_keys (
    tenant_id     BIGINT  NOT NULL REFERENCES tenants (id),
    key           TEXT    NOT NULL,
    request_hash  TEXT    NOT NULL,
    status        BIGINT  NOT NULL,
    response      TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
