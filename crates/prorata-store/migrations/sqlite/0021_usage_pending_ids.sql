-- Appended partial totals get an id that only grows (AUTOINCREMENT: never reused, even once
-- every row below it is folded and deleted), so that a fold can stage the rows up to one id
-- off the lock and later delete exactly those: a row appended meanwhile always has a higher
-- id (`Store::fold_usage`, issue #18). Rebuilt with the rows it holds, in their order.
CREATE TABLE usage_daily_pending_ids (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id        INTEGER NOT NULL,
    subscription_id  INTEGER NOT NULL,
    metric           TEXT    NOT NULL,
    usage_date       TEXT    NOT NULL,
    recorded_on      TEXT    NOT NULL,
    events           INTEGER NOT NULL,
    quantity         INTEGER NOT NULL
);
INSERT INTO usage_daily_pending_ids (tenant_id, subscription_id, metric, usage_date, recorded_on,
                                     events, quantity)
    SELECT tenant_id, subscription_id, metric, usage_date, recorded_on, events, quantity
    FROM usage_daily_pending ORDER BY rowid;
DROP TABLE usage_daily_pending;
ALTER TABLE usage_daily_pending_ids RENAME TO usage_daily_pending;
