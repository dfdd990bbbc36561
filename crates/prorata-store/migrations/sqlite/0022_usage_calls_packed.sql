-- Call records keep the call in one value (issue #18): a JSON array, where its twelve fields
-- were twelve columns. Nothing reads a call back but an operator (the billing run reads daily
-- totals, deduplication reads the key), and SQLite's one usage writer bound, encoded and
-- stepped fourteen values per event; now it binds two (the tenant is bound once per
-- statement). The view `usage_calls` gives the columns back, for reading.
CREATE TABLE usage_events_packed (
    tenant_id  INTEGER NOT NULL REFERENCES tenants (id),
    event_id   TEXT    NOT NULL,
    -- [account_id, subscription_id, started_at (RFC 3339, UTC), usage_date (the local day in
    --  the account's time zone), direction ('outbound' | 'inbound'), toll_free (0 | 1),
    --  caller, callee, duration_seconds, metric (null: a free call), billable_seconds,
    --  recorded_on (the tenant's date when the event was accepted)]
    call       TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
) WITHOUT ROWID;
INSERT INTO usage_events_packed (tenant_id, event_id, call)
    SELECT tenant_id, event_id,
           json_array(account_id, subscription_id, started_at, usage_date, direction, toll_free,
                      caller, callee, duration_seconds, metric, billable_seconds, recorded_on)
    FROM usage_events ORDER BY tenant_id, event_id;
DROP TABLE usage_events;
ALTER TABLE usage_events_packed RENAME TO usage_events;

CREATE VIEW usage_calls AS
    SELECT tenant_id, event_id,
           call ->> 0 AS account_id,
           call ->> 1 AS subscription_id,
           call ->> 2 AS started_at,
           call ->> 3 AS usage_date,
           call ->> 4 AS direction,
           call ->> 5 AS toll_free,
           call ->> 6 AS caller,
           call ->> 7 AS callee,
           call ->> 8 AS duration_seconds,
           call ->> 9 AS metric,
           call ->> 10 AS billable_seconds,
           call ->> 11 AS recorded_on
    FROM usage_events;
