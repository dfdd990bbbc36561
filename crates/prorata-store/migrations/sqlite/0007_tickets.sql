-- Billing support tickets (seed 000): a customer's request under a contact reason, routed to
-- a queue (the billing team's, or account management's, assigned at once to the account's
-- own account manager), its thread of messages (staff may add internal notes) and the files
-- they carry; the account manager of each account; and the audit trail of staff's and
-- owners' actions.

-- The staff user (role account_manager) a subscription matter of the account goes to.
ALTER TABLE accounts ADD COLUMN manager_id INTEGER REFERENCES users (id);

CREATE TABLE tickets (
    id                 INTEGER PRIMARY KEY,
    tenant_id          INTEGER NOT NULL REFERENCES tenants (id),
    account_id         INTEGER NOT NULL REFERENCES accounts (id),
    requester_id       INTEGER REFERENCES users (id) ON DELETE SET NULL, -- NULL: filed by the API
    reason             TEXT    NOT NULL,          -- the contact reason's code when filed
    queue              TEXT    NOT NULL CHECK (queue IN ('billing_team', 'account_management')),
    assignee_id        INTEGER REFERENCES users (id) ON DELETE SET NULL,
    subject            TEXT    NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN ('new', 'open', 'pending_customer', 'solved', 'closed')),
    document_id        INTEGER REFERENCES documents (id),        -- the invoice or credit note concerned
    change_request_id  INTEGER REFERENCES change_requests (id),  -- the request it carries
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL,
    first_response_at  TEXT,                      -- the first staff reply the customer saw
    solved_on          DATE,                      -- the tenant's business date it was solved
    solved_at          TEXT
);
-- A queue's tickets, the oldest waiting first; an account's, newest first.
CREATE INDEX tickets_queue ON tickets (tenant_id, queue, status, id);
CREATE INDEX tickets_account ON tickets (tenant_id, account_id, id);
CREATE INDEX tickets_assignee ON tickets (tenant_id, assignee_id, status, id);

CREATE TABLE ticket_messages (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id),
    ticket_id   INTEGER NOT NULL REFERENCES tickets (id),
    author_id   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    author      TEXT    NOT NULL CHECK (author IN ('customer', 'staff')),
    internal    BOOLEAN NOT NULL,                 -- a staff note the customer never sees
    body        TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);
CREATE INDEX ticket_messages_ticket ON ticket_messages (tenant_id, ticket_id, id);

-- A message's files, as sent, with their SHA-256; the type was told from the content.
CREATE TABLE ticket_files (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id),
    ticket_id   INTEGER NOT NULL REFERENCES tickets (id),
    message_id  INTEGER NOT NULL REFERENCES ticket_messages (id),
    name        TEXT    NOT NULL,
    media_type  TEXT    NOT NULL CHECK (media_type IN ('application/pdf', 'image/png', 'image/jpeg')),
    size        INTEGER NOT NULL,
    sha256      TEXT    NOT NULL,
    body        BLOB    NOT NULL
);
CREATE INDEX ticket_files_ticket ON ticket_files (tenant_id, ticket_id, message_id);

-- Every action of staff and account owners: who, when, from where, what, before and after.
-- Append-only: the store has no statement that updates or deletes a row (the purge blanks the
-- personal values of a purged account's rows, as it does elsewhere).
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id),
    account_id  INTEGER REFERENCES accounts (id),
    actor_id    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    actor       TEXT    NOT NULL,                 -- the actor's role, or 'api'
    address     TEXT,                             -- the client's IP address
    action      TEXT    NOT NULL,                 -- e.g. ticket.created, account.tax_details
    subject     TEXT,                             -- what it acted on, e.g. ticket:12
    before      TEXT,                             -- JSON
    after       TEXT,                             -- JSON
    at          TEXT    NOT NULL
);
CREATE INDEX audit_log_account ON audit_log (tenant_id, account_id, id);
