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
    tenant_id   BIGINT NOT NULL,
    account_id  BIGINT NOT NULL,
    balance     BIGINT NOT NULL,           -- minor units; the sum of the account's ledger entries
    PRIMARY KEY (tenant_id, account_id)
);
INSERT INTO ledger_balances (tenant_id, account_id, balance)
    SELECT tenant_id, account_id, SUM(amount) FROM ledger_entries
    GROUP BY tenant_id, account_id;

CREATE TABLE wallet_balances (
    tenant_id   BIGINT NOT NULL,
    account_id  BIGINT NOT NULL,
    balance     BIGINT NOT NULL,           -- minor units; the sum of the account's wallet entries
    PRIMARY KEY (tenant_id, account_id)
);
INSERT INTO wallet_balances (tenant_id, account_id, balance)
    SELECT tenant_id, account_id, SUM(amount) FROM wallet_entries
    GROUP BY tenant_id, account_id;

-- Once per statement, from the statement's rows (a transition table): a chunk of a billing run
-- moves its 2,000 balances in one upsert. Accounts in order, so two transactions moving the
-- same balances wait for each other rather than deadlock.
CREATE FUNCTION ledger_balances_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_balances (tenant_id, account_id, balance)
        SELECT tenant_id, account_id, SUM(amount) FROM added
        GROUP BY tenant_id, account_id ORDER BY tenant_id, account_id
        ON CONFLICT (tenant_id, account_id)
        DO UPDATE SET balance = ledger_balances.balance + excluded.balance;
    RETURN NULL;
END $$;
CREATE TRIGGER ledger_balances_add AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ledger_balances_add();

CREATE FUNCTION wallet_balances_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wallet_balances (tenant_id, account_id, balance)
        SELECT tenant_id, account_id, SUM(amount) FROM added
        GROUP BY tenant_id, account_id ORDER BY tenant_id, account_id
        ON CONFLICT (tenant_id, account_id)
        DO UPDATE SET balance = wallet_balances.balance + excluded.balance;
    RETURN NULL;
END $$;
CREATE TRIGGER wallet_balances_add AFTER INSERT ON wallet_entries
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION wallet_balances_add();

CREATE FUNCTION entries_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% are immutable: correct with a new entry', TG_TABLE_NAME;
END $$;
CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION entries_are_immutable();
CREATE TRIGGER wallet_entries_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON wallet_entries
    FOR EACH STATEMENT EXECUTE FUNCTION entries_are_immutable();
