-- Collection: payment methods, payments, dunning standings, the jobs that leave the system
-- (charges, e-mails, webhooks), webhook endpoints and their delivery log.

-- How a tenant collects: its dunning schedule and the bank details printed for transfers
-- (prorata_core::payment::CollectionSettings as JSON; '{}' is seed 004's defaults).
ALTER TABLE tenants ADD COLUMN collection TEXT NOT NULL DEFAULT '{}';

-- A failed collection is a ledger entry too (of zero amount), so an account's statement tells
-- the whole story. SQLite cannot change a CHECK in place: the table is rebuilt.
CREATE TABLE ledger_entries_new (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id),
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    entry_date  TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('invoice', 'credit_note', 'payment', 'payment_failed', 'refund', 'write_off')),
    amount      INTEGER NOT NULL,           -- minor units; positive = owed by the customer
    currency    TEXT    NOT NULL,
    reference   TEXT    NOT NULL
);
INSERT INTO ledger_entries_new SELECT * FROM ledger_entries;
DROP TABLE ledger_entries;
ALTER TABLE ledger_entries_new RENAME TO ledger_entries;
CREATE INDEX ledger_account ON ledger_entries (tenant_id, account_id, id);

-- The account's current payment method is its latest one not detached. `body` is
-- prorata_core::payment::PaymentMethod: a gateway token and masked details, never a card
-- number, a full IBAN or a full account number.
CREATE TABLE payment_methods (
    id           INTEGER PRIMARY KEY,
    tenant_id    INTEGER NOT NULL REFERENCES tenants (id),
    account_id   INTEGER NOT NULL REFERENCES accounts (id),
    kind         TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    detached_at  TEXT
);
CREATE INDEX payment_methods_account ON payment_methods (tenant_id, account_id, id);

-- Every collection tried (card, SEPA, ACH through the gateway) and every transfer recorded.
CREATE TABLE payments (
    id               INTEGER PRIMARY KEY,
    tenant_id        INTEGER NOT NULL REFERENCES tenants (id),
    account_id       INTEGER NOT NULL REFERENCES accounts (id),
    method           TEXT    NOT NULL,     -- how it was paid, as shown to people
    amount           INTEGER NOT NULL,     -- minor units, positive
    refunded         INTEGER NOT NULL DEFAULT 0,
    currency         TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('succeeded', 'failed')),
    failure          TEXT,                 -- the gateway's reason
    reference        TEXT    NOT NULL,     -- gateway charge id, or the transfer's reference
    idempotency_key  TEXT    NOT NULL,
    paid_on          TEXT    NOT NULL,     -- the tenant's business date
    created_at       TEXT    NOT NULL,
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX payments_account ON payments (tenant_id, account_id, id);

-- Where each account stands with its payments (prorata_core::dunning::Standing), and the
-- next day its dunning schedule has something to do.
CREATE TABLE standings (
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id),
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    status      TEXT    NOT NULL,
    next_due    TEXT,
    body        TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, account_id)
);
CREATE INDEX standings_due ON standings (tenant_id, next_due);

-- Effects that leave the system, made from outbox events and dunning steps, each done once:
-- a charge keeps its gateway idempotency key, an e-mail its Message-ID, a webhook its event
-- id. `run_after` is a UTC timestamp (retry backoff, delivery leases).
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id),
    account_id  INTEGER,
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
    id           INTEGER PRIMARY KEY,
    tenant_id    INTEGER NOT NULL REFERENCES tenants (id),
    url          TEXT    NOT NULL,
    -- The signing secret must be read to sign, so it cannot be stored hashed like an API key;
    -- it is shown once, at creation, and never returned again.
    secret       TEXT    NOT NULL,
    events       TEXT    NOT NULL,     -- JSON array of topics; empty = every topic
    created_at   TEXT    NOT NULL,
    disabled_at  TEXT
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, id);

-- One row per delivery attempt.
CREATE TABLE webhook_deliveries (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL REFERENCES tenants (id),
    endpoint_id   INTEGER NOT NULL REFERENCES webhook_endpoints (id),
    event_id      INTEGER NOT NULL,
    topic         TEXT    NOT NULL,
    attempt       INTEGER NOT NULL,
    status_code   INTEGER,
    error         TEXT,
    attempted_at  TEXT    NOT NULL
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (tenant_id, endpoint_id, id);

-- The built-in sandbox gateway's own memory: what a real gateway keeps on its side. It is
-- here only because the sandbox runs in-process; it replays a call made again with the same
-- idempotency key (keys start with the tenant id), as real gateways do.
CREATE TABLE sandbox_gateway (
    idempotency_key  TEXT PRIMARY KEY,
    operation        TEXT    NOT NULL,
    token            TEXT    NOT NULL,
    amount           INTEGER NOT NULL,
    outcome          TEXT    NOT NULL,
    created_at       TEXT    NOT NULL
);
CREATE INDEX sandbox_gateway_token ON sandbox_gateway (token);
