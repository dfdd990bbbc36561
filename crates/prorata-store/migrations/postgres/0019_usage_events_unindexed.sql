-- Nothing reads call records by account: invoicing and the usage summary read daily totals
-- (usage_daily and usage_daily_pending), and a resent event is found through
-- usage_event_ids. The index on (tenant, account, day) only cost ingestion: one insert per
-- event at a random place of an index as large as the table (9 million events in the
-- benchmark), and the WAL of the pages it touched (issue #18). A reader of an account's
-- calls would bring back the index it needs.
DROP INDEX IF EXISTS usage_events_account;
