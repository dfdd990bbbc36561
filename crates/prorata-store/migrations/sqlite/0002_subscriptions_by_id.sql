-- The billing run pages through due subscriptions in id order (keyset pagination): an index
-- leading with the tenant and the id lets each page start where the last ended instead of
-- sorting every due row again (which made a run quadratic in the number of subscriptions).
CREATE INDEX subscriptions_tenant_id ON subscriptions (tenant_id, id);
