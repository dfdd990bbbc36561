-- Daily totals keyed by month first (issue #18). Keyed by subscription first, an old
-- subscription's totals filled hundreds of pages of their own, and a fold of one day's usage
-- for 2,000 subscriptions wrote 2,000 pages (each to the WAL, each checkpointed) where a young
-- tenant's shared a few dozen: the billing run's fold cost grew with the subscriptions' age.
-- With the month leading, a fold writes into its month's part of the table only, as large for
-- a five-year-old tenant as for a new one. Readers name the months they want (from a
-- subscription's horizon to the last month held), one range of the key per month.
-- `usage_month` is the date's year × 12 + month − 1 (January 2025: 24,300), written by the
-- fold from `usage_date`. A generated column cannot be part of a WITHOUT ROWID table's key.
CREATE TABLE usage_daily_by_month (
    tenant_id        INTEGER NOT NULL REFERENCES tenants (id),
    usage_month      INTEGER NOT NULL,
    subscription_id  INTEGER NOT NULL,
    metric           TEXT    NOT NULL,
    usage_date       TEXT    NOT NULL,
    recorded_on      TEXT    NOT NULL,
    events           INTEGER NOT NULL,
    quantity         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, usage_month, subscription_id, usage_date, metric, recorded_on)
) WITHOUT ROWID;
INSERT INTO usage_daily_by_month (tenant_id, usage_month, subscription_id, metric, usage_date,
                                  recorded_on, events, quantity)
    SELECT tenant_id,
           CAST(substr(usage_date, 1, 4) AS INTEGER) * 12
               + CAST(substr(usage_date, 6, 2) AS INTEGER) - 1,
           subscription_id, metric, usage_date, recorded_on, events, quantity
    FROM usage_daily;
DROP TABLE usage_daily;
ALTER TABLE usage_daily_by_month RENAME TO usage_daily;
