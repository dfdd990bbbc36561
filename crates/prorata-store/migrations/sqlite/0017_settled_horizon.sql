-- The settled-through horizon (prorata_core::horizon): the day up to which a subscription's
-- billing is final, and the rest of the horizon as JSON (what its run knew, the last document
-- it covers, the open lines of older documents). The billing run reads only what came after
-- it; folding usage dated before `settled_through` voids it. NULL: read the whole history.
ALTER TABLE subscriptions ADD COLUMN settled_through TEXT;
ALTER TABLE subscriptions ADD COLUMN horizon TEXT;

-- The run reads a subscription's daily totals from its horizon's day on: the key leads with
-- the day after the subscription (the metric after it), so that read is one range of the
-- index rather than every total the subscription ever had, filtered. SQLite changes a key by
-- rebuilding the table.
CREATE TABLE usage_daily_by_day (
    tenant_id        INTEGER NOT NULL REFERENCES tenants (id),
    subscription_id  INTEGER NOT NULL,
    metric           TEXT    NOT NULL,
    usage_date       TEXT    NOT NULL,
    recorded_on      TEXT    NOT NULL,
    events           INTEGER NOT NULL,
    quantity         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, subscription_id, usage_date, metric, recorded_on)
) WITHOUT ROWID;
INSERT INTO usage_daily_by_day (tenant_id, subscription_id, metric, usage_date, recorded_on,
                                events, quantity)
    SELECT tenant_id, subscription_id, metric, usage_date, recorded_on, events, quantity
    FROM usage_daily;
DROP TABLE usage_daily;
ALTER TABLE usage_daily_by_day RENAME TO usage_daily;
