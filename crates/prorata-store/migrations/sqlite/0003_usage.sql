-- Call records (issue #4). Every accepted event is kept whole, keyed by the sender's event id,
-- so a resent event is a duplicate and never billed twice.
CREATE TABLE usage_events (
    tenant_id         INTEGER NOT NULL REFERENCES tenants (id),
    event_id          TEXT    NOT NULL,
    account_id        INTEGER NOT NULL,
    subscription_id   INTEGER NOT NULL,
    started_at        TEXT    NOT NULL,   -- RFC 3339, UTC
    usage_date        TEXT    NOT NULL,   -- the local day in the account's time zone
    direction         TEXT    NOT NULL CHECK (direction IN ('outbound', 'inbound')),
    toll_free         INTEGER NOT NULL,
    caller            TEXT    NOT NULL,
    callee            TEXT    NOT NULL,
    duration_seconds  INTEGER NOT NULL,
    metric            TEXT,               -- NULL: a free call (inbound to an ordinary number)
    billable_seconds  INTEGER NOT NULL,
    recorded_on       TEXT    NOT NULL,   -- the tenant's date when the event was accepted
    PRIMARY KEY (tenant_id, event_id)
) WITHOUT ROWID;

-- Daily totals per subscription, metric and day learnt: invoicing reads these, never the
-- events. `recorded_on` keeps what a run on an earlier day could know.
CREATE TABLE usage_daily (
    tenant_id        INTEGER NOT NULL REFERENCES tenants (id),
    subscription_id  INTEGER NOT NULL,
    metric           TEXT    NOT NULL,
    usage_date       TEXT    NOT NULL,
    recorded_on      TEXT    NOT NULL,
    events           INTEGER NOT NULL,
    quantity         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, subscription_id, metric, usage_date, recorded_on)
) WITHOUT ROWID;
