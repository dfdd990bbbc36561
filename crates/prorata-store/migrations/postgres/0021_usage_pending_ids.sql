-- SQLite gives its appended partial totals an id that only grows, for its fold in two steps
-- (the sort off the lock). PostgreSQL folds in one statement whose snapshot decides which rows
-- it moves, and needs none. Kept so both stores number their migrations alike.
SELECT 1;
