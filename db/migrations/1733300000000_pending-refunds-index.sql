-- Up Migration

-- The scheduler's scan for refunds whose call to Stripe failed (expire-store.ts stalePendingRefunds):
-- only the few pending ones, oldest first.
CREATE INDEX refunds_pending_created_at_idx ON refunds (created_at) WHERE status = 'pending';

-- Down Migration
DROP INDEX refunds_pending_created_at_idx;
