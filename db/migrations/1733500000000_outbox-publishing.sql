-- Up Migration

-- When an unpublished outbox row may next be sent (NULL: now). A publisher claims a batch in one short
-- statement (FOR UPDATE SKIP LOCKED) that pushes next_attempt_at ahead by its lease, and calls
-- EventBridge with no lock and no transaction open: another publisher skips the row until the lease
-- runs out. A failed send pushes it ahead by a backoff, so a row EventBridge refuses waits for a later
-- run instead of being resent in a loop.
ALTER TABLE outbox ADD COLUMN next_attempt_at timestamptz;

-- Down Migration
ALTER TABLE outbox DROP COLUMN next_attempt_at;
