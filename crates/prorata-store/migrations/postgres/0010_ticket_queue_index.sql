-- The back office's queues on a large help desk (issue #14's benchmark, 100,000 tickets).
-- `Tx::tickets` reads a page of several statuses one status at a time, each in id order:
-- across both queues that needs the statuses without the queue in front.
CREATE INDEX tickets_status ON tickets (tenant_id, status, id);
-- Every ticket of the tenant in id order (`?queue=all&status=all`, page after page): without
-- it the planner walked an index led by the tenant and sorted all its tickets for each page.
CREATE INDEX tickets_tenant ON tickets (tenant_id, id);
