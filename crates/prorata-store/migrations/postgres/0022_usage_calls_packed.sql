-- SQLite packs a call record's fields into one JSON value for its one writer's sake (issue
-- #18). PostgreSQL writes its calls by binary COPY, where a column costs little, and keeps
-- them as columns. Kept so both stores number their migrations alike.
SELECT 1;
