-- Call records (issue #4). The events table is partitioned by month of the local day; a
-- primary key on a partitioned table must include the partition key, so the event ids that
-- make a resent event a duplicate live in their own table.
-- No foreign key to tenants on these high-volume tables: PostgreSQL checks one with a trigger
-- per row (it doubled the cost of a batch); the engine writes only for the caller's tenant.
CREATE TABLE usage_event_ids (
    tenant_id  BIGINT NOT NULL,
    event_id   TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);

CREATE TABLE usage_events (
    tenant_id         BIGINT      NOT NULL,
    event_id          TEXT        NOT NULL,
    account_id        BIGINT      NOT NULL,
    subscription_id   BIGINT      NOT NULL,
    started_at        TIMESTAMPTZ NOT NULL,
    usage_date        DATE        NOT NULL,   -- the local day in the account's time zone
    direction         TEXT        NOT NULL CHECK (direction IN ('outbound', 'inbound')),
    toll_free         BOOLEAN     NOT NULL,
    caller            TEXT        NOT NULL,
    callee            TEXT        NOT NULL,
    duration_seconds  BIGINT      NOT NULL,
    metric            TEXT,                   -- NULL: a free call
    billable_seconds  BIGINT      NOT NULL,
    recorded_on       DATE        NOT NULL
) PARTITION BY RANGE (usage_date);
-- Monthly partitions are created by the store before the first event of a month is written;
-- the default partition only catches what arrives if that creation failed.
CREATE TABLE usage_events_default PARTITION OF usage_events DEFAULT;
CREATE INDEX usage_events_account ON usage_events (tenant_id, account_id, usage_date);

CREATE TABLE usage_daily (
    tenant_id        BIGINT NOT NULL,
    subscription_id  BIGINT NOT NULL,
    metric           TEXT   NOT NULL,
    usage_date       DATE   NOT NULL,
    recorded_on      DATE   NOT NULL,
    events           BIGINT NOT NULL,
    quantity         BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, subscription_id, metric, usage_date, recorded_on)
);
