-- `Store::migrate` looks for subscriptions still without their status days (written before
-- 0013) at every start. Without an index that probe read the whole table on each start
-- (110,000 rows in prorata-engine's tests/plans.rs); this one holds only such rows, so it is
-- empty once they are filled and the probe costs nothing.
CREATE INDEX subscriptions_without_days ON subscriptions (id) WHERE starts_on IS NULL;
