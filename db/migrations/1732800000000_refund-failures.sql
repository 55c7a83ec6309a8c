-- Up Migration

-- A refund Stripe refuses for good (a 4xx: the charge was already refunded elsewhere, the amount is
-- more than is left) is recorded as failed, with Stripe's error code, and stops blocking later
-- refunds; its quantities are no longer counted as refunded. 'canceled' is Stripe's other final
-- state for a refund that did not return the money.
ALTER TABLE refunds DROP CONSTRAINT refunds_status_check;
ALTER TABLE refunds ADD CONSTRAINT refunds_status_check CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled'));
ALTER TABLE refunds ADD COLUMN failure_reason text;
-- The time the row was written, not its transaction's start: refunds made in one transaction (a
-- test's, or a future batch) still list in the order they were made.
ALTER TABLE refunds ALTER COLUMN created_at SET DEFAULT clock_timestamp();

-- Down Migration
ALTER TABLE refunds ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE refunds DROP COLUMN failure_reason;
ALTER TABLE refunds DROP CONSTRAINT refunds_status_check;
ALTER TABLE refunds ADD CONSTRAINT refunds_status_check CHECK (status IN ('pending', 'succeeded'));
