-- The settled-through horizon (prorata_core::horizon): the day up to which a subscription's
-- billing is final, and the rest of the horizon as JSON (what its run knew, the last document
-- it covers, the open lines of older documents). The billing run reads only what came after
-- it; folding usage dated before `settled_through` voids it. NULL: read the whole history.
ALTER TABLE subscriptions ADD COLUMN settled_through DATE;
ALTER TABLE subscriptions ADD COLUMN horizon TEXT;

-- The run reads a subscription's daily totals from its horizon's day on: the key leads with
-- the day after the subscription (the metric after it), so that read is one range of the
-- index rather than every total the subscription ever had, filtered.
ALTER TABLE usage_daily DROP CONSTRAINT usage_daily_pkey;
ALTER TABLE usage_daily ADD PRIMARY KEY (tenant_id, subscription_id, usage_date, metric, recorded_on);
