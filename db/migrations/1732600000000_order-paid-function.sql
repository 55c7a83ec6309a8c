-- Up Migration

-- Entering 'paid' in one round trip: lock the order, check that it may move (status, and an event
-- never older than the last one applied; a same-second tie goes to 'paid'), take the stock of every
-- unrefunded line with a guard (quantity >= n, all lines or none) and mark the order paid.
-- outcome: 'paid' | 'unchanged' (already paid, older event, or not a payment state) |
--          'out_of_stock' (nothing changed; short_product lacked stock) | 'not_found'.
-- p_event_created NULL means a synchronous answer from Stripe, recorded as an event of "now".
CREATE FUNCTION order_paid(p_order uuid, p_payment_intent text, p_event_created bigint)
RETURNS TABLE (outcome text, previous text, short_product text, lines json)
LANGUAGE plpgsql AS $$
DECLARE
  o orders%ROWTYPE;
  wanted integer;
  taken integer;
  missing text;
BEGIN
  SELECT * INTO o FROM orders WHERE id = p_order FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'not_found'::text, NULL::text, NULL::text, NULL::json;
    RETURN;
  END IF;
  lines := (SELECT json_agg(json_build_object('productId', i.product_id, 'quantity', i.quantity - i.refunded_quantity) ORDER BY i.product_id)
              FROM order_items i WHERE i.order_id = p_order AND i.quantity > i.refunded_quantity);
  IF o.status NOT IN ('pending', 'paid', 'failed')
     OR o.failure_code IS NOT DISTINCT FROM 'out_of_stock_after_payment'
     OR (p_event_created IS NOT NULL AND o.last_event_created IS NOT NULL AND o.last_event_created > p_event_created) THEN
    RETURN QUERY SELECT 'unchanged'::text, o.status, NULL::text, lines;
    RETURN;
  END IF;
  IF o.status <> 'paid' THEN
    -- A block with an exception handler is a subtransaction: raising inside it undoes the lines
    -- already taken, so the stock is taken for every line or for none.
    BEGIN
      -- Rows are locked in product order, so two orders never deadlock on each other's lines.
      WITH w AS (
        SELECT i.product_id, i.quantity - i.refunded_quantity AS q
          FROM order_items i WHERE i.order_id = p_order AND i.quantity > i.refunded_quantity
      ), locked AS (
        SELECT inv.product_id FROM inventory inv JOIN w USING (product_id) ORDER BY inv.product_id FOR UPDATE OF inv
      ), upd AS (
        UPDATE inventory inv SET quantity = inv.quantity - w.q
          FROM w
         WHERE inv.product_id = w.product_id AND inv.product_id IN (SELECT product_id FROM locked) AND inv.quantity >= w.q
        RETURNING inv.product_id
      )
      SELECT (SELECT count(*) FROM w), (SELECT count(*) FROM upd),
             (SELECT min(w.product_id) FROM w WHERE w.product_id NOT IN (SELECT product_id FROM upd))
        INTO wanted, taken, missing;
      IF taken <> wanted THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'out_of_stock';
      END IF;
    EXCEPTION WHEN SQLSTATE 'P0001' THEN
      RETURN QUERY SELECT 'out_of_stock'::text, o.status, missing, lines;
      RETURN;
    END;
  END IF;
  UPDATE orders
     SET status = 'paid', failure_code = NULL, decline_code = NULL, failure_product_id = NULL,
         payment_intent_id = COALESCE(payment_intent_id, p_payment_intent),
         last_event_created = GREATEST(last_event_created, COALESCE(p_event_created, extract(epoch FROM now())::bigint)),
         locked_until = NULL, updated_at = now()
   WHERE id = p_order;
  RETURN QUERY SELECT 'paid'::text, o.status, NULL::text, lines;
END;
$$;

-- Down Migration
DROP FUNCTION order_paid(uuid, text, bigint);
