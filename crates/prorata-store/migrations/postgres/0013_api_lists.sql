-- Lists of the API (issue #16, item 3).
--
-- A subscription's status on a day (not started, trial, active, ended) turns on three days,
-- kept beside its timeline by every write (prorata_core::entitlements::Milestones), so
-- `GET /v1/subscriptions?status=` filters in SQL. Rows written before this migration get them
-- from `Store::migrate`, which reads their timelines (the rule is Rust, not SQL).
ALTER TABLE subscriptions ADD COLUMN starts_on DATE;
ALTER TABLE subscriptions ADD COLUMN paid_from DATE;
ALTER TABLE subscriptions ADD COLUMN ends_on DATE;
-- `?account_id=` pages in id order within the account.
CREATE INDEX subscriptions_account_id ON subscriptions (tenant_id, account_id, id);

-- An invoice's due date beside its body: the invoice list derives statuses from columns
-- (id, account, total, due date) and reads the bodies of the rows it returns only.
ALTER TABLE documents ADD COLUMN due_on DATE;
UPDATE documents SET due_on = (body::jsonb ->> 'due_on')::date WHERE kind = 'invoice';
-- `GET /v1/invoices` pages by kind in id order.
CREATE INDEX documents_kind ON documents (tenant_id, kind, id);
