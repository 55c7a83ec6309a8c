-- Up Migration

-- GET /orders (lib/orders/list-orders.ts): newest first by (created_at DESC, id DESC), paged by keyset
-- (the next page is the rows after the last one returned, in that order). One index per filter, each
-- ending in the listing's order, so every page is a Limit over an index range: no sort, and a deep
-- page costs what the first does. createdFrom / createdTo narrow the created_at part of the same range.
CREATE INDEX orders_created_at_id_idx ON orders (created_at DESC, id DESC);
CREATE INDEX orders_status_created_at_id_idx ON orders (status, created_at DESC, id DESC);
CREATE INDEX orders_customer_created_at_id_idx ON orders (customer_id, created_at DESC, id DESC);

-- The productId filter: the order's created_at is copied onto each of its lines, so one index on the
-- lines gives a product's orders already in the listing's order (an index on (product_id, order_id)
-- would give them in id order: every order of the product read and sorted for each page). The copy
-- comes from the order row itself, whoever inserts the line; orders.created_at never changes.
ALTER TABLE order_items ADD COLUMN order_created_at timestamptz;
UPDATE order_items i SET order_created_at = o.created_at FROM orders o WHERE o.id = i.order_id;
ALTER TABLE order_items ALTER COLUMN order_created_at SET NOT NULL;

CREATE FUNCTION order_items_order_created_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Sees an order inserted earlier in the same statement (priceAndInsertOrder inserts both in one).
  SELECT o.created_at INTO NEW.order_created_at FROM orders o WHERE o.id = NEW.order_id;
  RETURN NEW;
END;
$$;
CREATE TRIGGER order_items_order_created_at BEFORE INSERT ON order_items
  FOR EACH ROW EXECUTE FUNCTION order_items_order_created_at();

CREATE INDEX order_items_product_created_at_idx ON order_items (product_id, order_created_at DESC, order_id DESC);

-- Down Migration
DROP INDEX order_items_product_created_at_idx;
DROP TRIGGER order_items_order_created_at ON order_items;
DROP FUNCTION order_items_order_created_at();
ALTER TABLE order_items DROP COLUMN order_created_at;
DROP INDEX orders_customer_created_at_id_idx;
DROP INDEX orders_status_created_at_id_idx;
DROP INDEX orders_created_at_id_idx;
