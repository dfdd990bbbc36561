-- Each account's running balance per book (issue #18, item 4): the sum of its ledger's and of
-- its wallet's entries. The billing run reads a chunk's balances by key, where summing every
-- entry an account ever had made the run slower with each month of a customer's age.
--
-- The entries stay the record, and the database keeps the balance from them: a trigger adds
-- every inserted entry to its account's balance in the same statement, whoever inserts it, and
-- entries can be neither updated nor deleted. So a balance cannot drift from its entries: it
-- is their sum, and an account without entries has no row. No foreign keys: a balance row
-- comes only from entries, whose own keys were checked (a check per new row of a chunk).
CREATE TABLE ledger_balances (
    tenant_id   INTEGER NOT NULL,
    account_id  INTEGER NOT NULL,
    balance     INTEGER NOT NULL,           -- minor units; the sum of the account's ledger entries
    PRIMARY KEY (tenant_id, account_id)
) WITHOUT ROWID;
INSERT INTO ledger_balances (tenant_id, account_id, balance)
    SELECT tenant_id, account_id, SUM(amount) FROM ledger_entries
    GROUP BY tenant_id, account_id;

CREATE TABLE wallet_balances (
    tenant_id   INTEGER NOT NULL,
    account_id  INTEGER NOT NULL,
    balance     INTEGER NOT NULL,           -- minor units; the sum of the account's wallet entries
    PRIMARY KEY (tenant_id, account_id)
) WITHOUT ROWID;
INSERT INTO wallet_balances (tenant_id, account_id, balance)
    SELECT tenant_id, account_id, SUM(amount) FROM wallet_entries
    GROUP BY tenant_id, account_id;

-- SQLite's triggers run per row.
CREATE TRIGGER ledger_balances_add AFTER INSERT ON ledger_entries BEGIN
    INSERT INTO ledger_balances (tenant_id, account_id, balance)
        VALUES (NEW.tenant_id, NEW.account_id, NEW.amount)
        ON CONFLICT (tenant_id, account_id) DO UPDATE SET balance = balance + excluded.balance;
END;
CREATE TRIGGER wallet_balances_add AFTER INSERT ON wallet_entries BEGIN
    INSERT INTO wallet_balances (tenant_id, account_id, balance)
        VALUES (NEW.tenant_id, NEW.account_id, NEW.amount)
        ON CONFLICT (tenant_id, account_id) DO UPDATE SET balance = balance + excluded.balance;
END;

CREATE TRIGGER ledger_entries_update BEFORE UPDATE ON ledger_entries BEGIN
    SELECT RAISE(ABORT, 'ledger entries are immutable: correct with a new entry');
END;
CREATE TRIGGER ledger_entries_delete BEFORE DELETE ON ledger_entries BEGIN
    SELECT RAISE(ABORT, 'ledger entries are immutable: correct with a new entry');
END;
CREATE TRIGGER wallet_entries_update BEFORE UPDATE ON wallet_entries BEGIN
    SELECT RAISE(ABORT, 'wallet entries are immutable: correct with a new entry');
END;
CREATE TRIGGER wallet_entries_delete BEFORE DELETE ON wallet_entries BEGIN
    SELECT RAISE(ABORT, 'wallet entries are immutable: correct with a new entry');
END;
