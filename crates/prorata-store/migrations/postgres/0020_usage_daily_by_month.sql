-- Daily totals keyed by month first (issue #18). Keyed by subscription first, an old
-- subscription's totals filled many pages of their own, and a fold of one day's usage for
-- 2,000 subscriptions dirtied 2,000 pages of the key where a young tenant's shared a few
-- dozen: the billing run's fold cost grew with the subscriptions' age. With the month
-- leading, a fold writes into its month's part of the index only, as large for a
-- five-year-old tenant as for a new one. Readers name the months they want (from a
-- subscription's horizon to the last month held), one range of the key per month.
-- `usage_month` is the date's year × 12 + month − 1 (January 2025: 24,300), written by the
-- fold from `usage_date`.
ALTER TABLE usage_daily ADD COLUMN usage_month INTEGER;
UPDATE usage_daily
    SET usage_month = (EXTRACT(YEAR FROM usage_date) * 12 + EXTRACT(MONTH FROM usage_date) - 1)::INTEGER;
ALTER TABLE usage_daily ALTER COLUMN usage_month SET NOT NULL;
ALTER TABLE usage_daily DROP CONSTRAINT usage_daily_pkey;
ALTER TABLE usage_daily
    ADD PRIMARY KEY (tenant_id, usage_month, subscription_id, usage_date, metric, recorded_on);
