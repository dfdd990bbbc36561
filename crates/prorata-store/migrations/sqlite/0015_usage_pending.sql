-- Usage ingestion appends (issue #18). Adding each batch to `usage_daily` in place updated
-- thousands of random pages of its index per batch, all of them written to the WAL at commit:
-- the cost grew with the table. A batch now appends one row per (subscription, metric, day)
-- it touched here, with no index (a rowid table is written at its end), and the store folds
-- these rows into `usage_daily` later in one sorted pass, in a transaction of its own
-- (`Tx::fold_usage`: the billing run before it reads, and ingestion in the background once
-- enough rows wait). Readers add what is still here to the folded totals, so they are exact
-- whether or not a fold has run.
-- No foreign key to tenants: a check per appended row, and the engine writes only for the
-- authenticated tenant (every statement filters on tenant_id).
CREATE TABLE usage_daily_pending (
    tenant_id        INTEGER NOT NULL,
    subscription_id  INTEGER NOT NULL,
    metric           TEXT    NOT NULL,
    usage_date       TEXT    NOT NULL,
    recorded_on      TEXT    NOT NULL,
    events           INTEGER NOT NULL,
    quantity         INTEGER NOT NULL
);
