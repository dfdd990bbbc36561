-- Prepaid credit (issue #15, item 10; prorata_core::wallet). A wallet is its entries: top-ups
-- (paid or granted) add, invoices' draws subtract; its balance is their sum. Kept apart from
-- the ledger, whose balance is what the customer owes.
CREATE TABLE wallet_entries (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   BIGINT  NOT NULL REFERENCES tenants (id),
    account_id  BIGINT  NOT NULL REFERENCES accounts (id),
    entry_date  DATE    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('paid', 'granted', 'applied')),
    amount      BIGINT  NOT NULL,           -- minor units; positive = credit on the wallet
    currency    TEXT    NOT NULL,
    reference   TEXT    NOT NULL
);
CREATE INDEX wallet_account ON wallet_entries (tenant_id, account_id, id);

-- An invoice's draw on the wallet lowers what the customer owes, like a payment.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('invoice', 'credit_note', 'payment', 'payment_failed', 'refund', 'write_off', 'prepaid_credit'));
