-- PostgreSQL drops its index of call records by account here (no reader). SQLite never had
-- one: its events table is keyed by (tenant, event id) alone. Kept so both stores number
-- their migrations alike.
SELECT 1;
