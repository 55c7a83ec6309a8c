-- Up Migration

-- Every order ends somewhere: 'canceled' (by an operator, by the scheduler for an abandoned payment,
-- or by Stripe's payment_intent.canceled).
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
  CHECK (status IN ('pending', 'paid', 'failed', 'refunded', 'canceled'));
-- Why an order was canceled (Stripe's cancellation reasons, or 'abandoned' for the scheduler), and,
-- for a paid order being canceled, that its last refund, once Stripe confirms it, cancels it.
ALTER TABLE orders ADD COLUMN cancel_reason text;
ALTER TABLE orders ADD COLUMN cancel_requested_at timestamptz;
-- The scheduler's scan: pending orders, oldest first.
CREATE INDEX orders_pending_created_at_idx ON orders (created_at) WHERE status = 'pending';

-- Stock given back so far per line. A refund Stripe later reports failed or canceled owes the money
-- again (refunded_quantity goes down, the items can be refunded again), but the stock it gave back
-- stays given back: a later refund of those items gives back only what was never given back.
ALTER TABLE order_items ADD COLUMN restocked_quantity integer NOT NULL DEFAULT 0
  CHECK (restocked_quantity >= 0 AND restocked_quantity <= quantity);
UPDATE order_items i SET restocked_quantity = i.refunded_quantity
 WHERE EXISTS (SELECT 1 FROM orders o WHERE o.id = i.order_id AND o.status IN ('paid', 'refunded'));

-- A refund made outside the service (the Stripe dashboard) is recorded as a money-only refund: no
-- refund_items. 'source' says who asked for each refund.
ALTER TABLE refunds ADD COLUMN source text NOT NULL DEFAULT 'operator'
  CHECK (source IN ('api', 'operator', 'webhook', 'scheduler', 'stripe_dashboard'));
ALTER TABLE refunds ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- The order's dispute (chargeback), as Stripe reports it. The order's status does not change.
CREATE TABLE disputes (
  id                uuid PRIMARY KEY,
  order_id          uuid NOT NULL REFERENCES orders (id),
  stripe_dispute_id text NOT NULL UNIQUE,
  amount_cents      integer NOT NULL CHECK (amount_cents >= 0),
  currency          char(3),
  reason            text,
  status            text NOT NULL,
  evidence_due_by   timestamptz,
  -- event.created of the last Stripe event applied: an older event never moves it back
  last_event_created bigint,
  created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX disputes_order_id_idx ON disputes (order_id);

-- The order's history: one row per change of its money, stock or status, written in the same
-- transaction (usually the same statement) as the change. Append-only.
CREATE TABLE order_events (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id        uuid NOT NULL REFERENCES orders (id),
  type            text NOT NULL CHECK (type IN ('created', 'payment_pending', 'paid', 'payment_failed',
                    'out_of_stock_after_payment', 'canceled', 'refund_requested', 'refund_succeeded',
                    'refund_failed', 'dispute_opened', 'dispute_updated', 'dispute_closed')),
  source          text NOT NULL CHECK (source IN ('api', 'webhook', 'operator', 'scheduler')),
  stripe_event_id text,
  data            jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX order_events_order_id_idx ON order_events (order_id, id);
CREATE FUNCTION order_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'order_events is append-only';
END;
$$;
CREATE TRIGGER order_events_append_only BEFORE UPDATE OR DELETE ON order_events
  FOR EACH ROW EXECUTE FUNCTION order_events_append_only();

-- Events for other systems, written in the same transaction as the change and published to
-- EventBridge from here, at least once; the id is the event id consumers drop repeats by.
CREATE TABLE outbox (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  topic        text NOT NULL CHECK (topic IN ('order.paid', 'order.payment_failed', 'order.canceled',
                 'order.refunded', 'refund.failed', 'dispute.opened', 'dispute.closed')),
  order_id     uuid NOT NULL REFERENCES orders (id),
  payload      jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  published_at timestamptz,
  attempts     integer NOT NULL DEFAULT 0,
  last_error   text
);
CREATE INDEX outbox_unpublished_idx ON outbox (created_at) WHERE published_at IS NULL;

-- Down Migration
DROP TABLE outbox;
DROP TRIGGER order_events_append_only ON order_events;
DROP TABLE order_events;
DROP FUNCTION order_events_append_only();
DROP TABLE disputes;
ALTER TABLE refunds DROP COLUMN updated_at;
ALTER TABLE refunds DROP COLUMN source;
ALTER TABLE order_items DROP COLUMN restocked_quantity;
DROP INDEX orders_pending_created_at_idx;
ALTER TABLE orders DROP COLUMN cancel_requested_at;
ALTER TABLE orders DROP COLUMN cancel_reason;
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN ('pending', 'paid', 'failed', 'refunded'));
