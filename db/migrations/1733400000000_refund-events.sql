-- Up Migration

-- Stripe's later word on a refund (refund.*, charge.refunded, charge.refund.updated webhooks):
-- `created` of the last Stripe event applied to the row, kept with the row for the record. What an
-- event may change is decided by the status alone (lib/orders/refund-events.ts): pending moves to
-- anything, succeeded only to failed or canceled (Stripe reports a succeeded refund failing later),
-- failed and canceled are final.
ALTER TABLE refunds ADD COLUMN last_event_created bigint;

-- Down Migration
ALTER TABLE refunds DROP COLUMN last_event_created;
