-- Prepaid credit (issue #15, item 10; prorata_core::wallet). A wallet is its entries: top-ups
-- (paid or granted) add, invoices' draws subtract; its balance is their sum. Kept apart from
-- the ledger, whose balance is what the customer owes.
CREATE TABLE wallet_entries (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id),
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    entry_date  TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('paid', 'granted', 'applied')),
    amount      INTEGER NOT NULL,           -- minor units; positive = credit on the wallet
    currency    TEXT    NOT NULL,
    reference   TEXT    NOT NULL
);
CREATE INDEX wallet_account ON wallet_entries (tenant_id, account_id, id);

-- An invoice's draw on the wallet lowers what the customer owes, like a payment: a ledger
-- entry of its own kind. SQLite cannot change a CHECK in place: the table is rebuilt.
CREATE TABLE ledger_entries_new (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants (id),
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    entry_date  TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('invoice', 'credit_note', 'payment', 'payment_failed', 'refund', 'write_off', 'prepaid_credit')),
    amount      INTEGER NOT NULL,           -- minor units; positive = owed by the customer
    currency    TEXT    NOT NULL,
    reference   TEXT    NOT NULL
);
INSERT INTO ledger_entries_new SELECT * FROM ledger_entries;
DROP TABLE ledger_entries;
ALTER TABLE ledger_entries_new RENAME TO ledger_entries;
CREATE INDEX ledger_account ON ledger_entries (tenant_id, account_id, id);
