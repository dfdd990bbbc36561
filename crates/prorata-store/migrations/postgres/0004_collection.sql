-- Collection: payment methods, payments, dunning standings, the jobs that leave the system
-- (charges, e-mails, webhooks), webhook endpoints and their delivery log. Same shape as the
-- SQLite migration; comments there.

ALTER TABLE tenants ADD COLUMN collection TEXT NOT NULL DEFAULT '{}';

ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('invoice', 'credit_note', 'payment', 'payment_failed', 'refund', 'write_off'));

CREATE TABLE payment_methods (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    BIGINT  NOT NULL REFERENCES tenants (id),
    account_id   BIGINT  NOT NULL REFERENCES accounts (id),
    kind         TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    detached_at  TEXT
);
CREATE INDEX payment_methods_account ON payment_methods (tenant_id, account_id, id);

CREATE TABLE payments (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        BIGINT  NOT NULL REFERENCES tenants (id),
    account_id       BIGINT  NOT NULL REFERENCES accounts (id),
    method           TEXT    NOT NULL,
    amount           BIGINT  NOT NULL,
    refunded         BIGINT  NOT NULL DEFAULT 0,
    currency         TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('succeeded', 'failed')),
    failure          TEXT,
    reference        TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL,
    paid_on          DATE    NOT NULL,
    created_at       TEXT    NOT NULL,
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX payments_account ON payments (tenant_id, account_id, id);

CREATE TABLE standings (
    tenant_id   BIGINT  NOT NULL REFERENCES tenants (id),
    account_id  BIGINT  NOT NULL REFERENCES accounts (id),
    status      TEXT    NOT NULL,
    next_due    DATE,
    body        TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, account_id)
);
CREATE INDEX standings_due ON standings (tenant_id, next_due);

CREATE TABLE jobs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   BIGINT  NOT NULL REFERENCES tenants (id),
    account_id  BIGINT,
    kind        TEXT    NOT NULL CHECK (kind IN ('charge', 'email', 'webhook')),
    payload     TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    run_after   TEXT    NOT NULL,
    done_at     TEXT,
    outcome     TEXT,
    created_at  TEXT    NOT NULL
);
CREATE INDEX jobs_pending ON jobs (kind, run_after, id) WHERE done_at IS NULL;
-- A tenant's pending jobs in id order (its collection pass) without sorting them all.
CREATE INDEX jobs_tenant_pending ON jobs (tenant_id, kind, id) WHERE done_at IS NULL;
CREATE INDEX jobs_account ON jobs (tenant_id, account_id);

CREATE TABLE webhook_endpoints (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    BIGINT  NOT NULL REFERENCES tenants (id),
    url          TEXT    NOT NULL,
    secret       TEXT    NOT NULL,
    events       TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    disabled_at  TEXT
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, id);

CREATE TABLE webhook_deliveries (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     BIGINT  NOT NULL REFERENCES tenants (id),
    endpoint_id   BIGINT  NOT NULL REFERENCES webhook_endpoints (id),
    event_id      BIGINT  NOT NULL,
    topic         TEXT    NOT NULL,
    attempt       INTEGER NOT NULL,
    status_code   INTEGER,
    error         TEXT,
    attempted_at  TEXT    NOT NULL
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (tenant_id, endpoint_id, id);

CREATE TABLE sandbox_gateway (
    idempotency_key  TEXT PRIMARY KEY,
    operation        TEXT    NOT NULL,
    token            TEXT    NOT NULL,
    amount           BIGINT  NOT NULL,
    outcome          TEXT    NOT NULL,
    created_at       TEXT    NOT NULL
);
CREATE INDEX sandbox_gateway_token ON sandbox_gateway (token);
