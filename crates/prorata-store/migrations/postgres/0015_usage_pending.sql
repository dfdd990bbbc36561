-- Usage ingestion appends (issue #18). Adding each batch to `usage_daily` with an upsert
-- updated rows all over its primary key's index; a batch now appends one row per
-- (subscription, metric, day) it touched here, a heap with no index, and the store folds
-- these rows into `usage_daily` later (`Tx::fold_usage`: the billing run before it reads,
-- and ingestion in the background once enough rows wait) with one DELETE … RETURNING feeding
-- the upsert, so a fold is atomic and never takes rows a concurrent batch has not committed.
-- Readers add what is still here to the folded totals, so they are exact whether or not a
-- fold has run.
-- No foreign key to tenants, as on the other usage tables (0003): a trigger call per row,
-- and the engine writes only for the authenticated tenant.
CREATE TABLE usage_daily_pending (
    tenant_id        BIGINT NOT NULL,
    subscription_id  BIGINT NOT NULL,
    metric           TEXT   NOT NULL,
    usage_date       DATE   NOT NULL,
    recorded_on      DATE   NOT NULL,
    events           BIGINT NOT NULL,
    quantity         BIGINT NOT NULL
);
