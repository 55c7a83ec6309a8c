-- Up Migration

-- Every change an operator (or `npm run db:seed`) makes to stock on hand, kept: what, why, and the
-- quantity it left (lib/inventory/stock-adjustments.ts). Written in the transaction that changes
-- inventory.quantity, under that row's lock, so quantity_after follows the row's own history.
CREATE TABLE stock_adjustments (
  id              uuid PRIMARY KEY,
  product_id      text NOT NULL REFERENCES products (id),
  delta           integer NOT NULL CHECK (delta <> 0),
  reason          text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 200),
  -- '<productId>:<Idempotency-Key>' when the request had one: the durable guard, as refunds'.
  idempotency_key text UNIQUE,
  request_hash    text,
  quantity_after  integer NOT NULL CHECK (quantity_after >= 0),
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX stock_adjustments_product_id_idx ON stock_adjustments (product_id, created_at);

-- Down Migration
DROP TABLE stock_adjustments;
