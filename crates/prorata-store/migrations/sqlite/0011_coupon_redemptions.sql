-- Coupons redeemed through the API (issue #15, item 10). A coupon's `max_redemptions` is
-- counted per tenant and code: one row per subscription that redeemed it (removing and
-- applying the code again on the same subscription is the same redemption).
CREATE TABLE coupon_redemptions (
    tenant_id        INTEGER NOT NULL REFERENCES tenants (id),
    code             TEXT    NOT NULL,
    subscription_id  INTEGER NOT NULL REFERENCES subscriptions (id),
    redeemed_on      TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, code, subscription_id)
);
-- One row per (tenant, code) that redemptions lock before counting: two subscriptions
-- redeeming the last use of a code at once are served one after the other, so the second
-- counts the first (PostgreSQL's row lock; SQLite has one writer).
CREATE TABLE coupon_counters (
    tenant_id  INTEGER NOT NULL REFERENCES tenants (id),
    code       TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, code)
);
