-- Up Migration
CREATE TABLE products (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  price_cents integer NOT NULL CHECK (price_cents > 0),
  currency    char(3) NOT NULL CHECK (currency = lower(currency))
);

CREATE TABLE inventory (
  product_id text PRIMARY KEY REFERENCES products (id),
  quantity   integer NOT NULL CHECK (quantity >= 0)
);

CREATE TABLE orders (
  id                 uuid PRIMARY KEY,
  idempotency_key    text NOT NULL UNIQUE,
  -- sha256 of the canonical request: the same key with another body is refused (422)
  request_hash       text NOT NULL,
  customer_id        text NOT NULL,
  payment_method_id  text NOT NULL,
  -- stock is taken from inventory exactly when an order enters 'paid', given back when it leaves it
  status             text NOT NULL CHECK (status IN ('pending', 'paid', 'failed', 'refunded')),
  amount_cents       integer NOT NULL CHECK (amount_cents > 0),
  currency           char(3) NOT NULL,
  payment_intent_id  text UNIQUE,
  failure_code       text,
  decline_code       text,
  -- the product that lacked stock, for failure_code insufficient_inventory / out_of_stock_after_payment
  failure_product_id text,
  -- event.created of the last Stripe event applied: older events never move the order back
  last_event_created bigint,
  -- a request working on this order holds it until then; a crashed one lets go by itself
  locked_until       timestamptz,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE order_items (
  order_id          uuid NOT NULL REFERENCES orders (id),
  product_id        text NOT NULL REFERENCES products (id),
  quantity          integer NOT NULL CHECK (quantity > 0),
  unit_price_cents  integer NOT NULL CHECK (unit_price_cents > 0),
  refunded_quantity integer NOT NULL DEFAULT 0 CHECK (refunded_quantity >= 0 AND refunded_quantity <= quantity),
  PRIMARY KEY (order_id, product_id)
);

CREATE TABLE refunds (
  id               uuid PRIMARY KEY,
  order_id         uuid NOT NULL REFERENCES orders (id),
  amount_cents     integer NOT NULL CHECK (amount_cents > 0),
  reason           text,
  -- pending: recorded, Stripe not yet confirmed it; succeeded: Stripe refund id known, stock given back
  status           text NOT NULL CHECK (status IN ('pending', 'succeeded')),
  stripe_refund_id text UNIQUE,
  idempotency_key  text UNIQUE,
  request_hash     text,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_order_id_idx ON refunds (order_id);

CREATE TABLE refund_items (
  refund_id  uuid NOT NULL REFERENCES refunds (id),
  product_id text NOT NULL REFERENCES products (id),
  quantity   integer NOT NULL CHECK (quantity > 0),
  amount_cents integer NOT NULL CHECK (amount_cents > 0),
  PRIMARY KEY (refund_id, product_id)
);

-- Down Migration
DROP TABLE refund_items;
DROP TABLE refunds;
DROP TABLE order_items;
DROP TABLE orders;
DROP TABLE inventory;
DROP TABLE products;
