-- Up Migration

-- order_paid, cheaper: the stock rows are locked and checked first, then taken, so nothing ever has
-- to be undone and the function needs no exception block (each of which is a subtransaction).
-- Same contract as before (1732600000000_order-paid-function.sql).
CREATE OR REPLACE FUNCTION order_paid(p_order uuid, p_payment_intent text, p_event_created bigint)
RETURNS TABLE (outcome text, previous text, short_product text, lines json)
LANGUAGE plpgsql AS $$
DECLARE
  o orders%ROWTYPE;
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
    -- Lock the stock rows in product order (two orders never deadlock), then check every line.
    PERFORM 1 FROM inventory inv
      WHERE inv.product_id IN (SELECT i.product_id FROM order_items i WHERE i.order_id = p_order)
      ORDER BY inv.product_id FOR UPDATE;
    SELECT min(i.product_id) INTO missing
      FROM order_items i LEFT JOIN inventory inv ON inv.product_id = i.product_id
     WHERE i.order_id = p_order AND i.quantity > i.refunded_quantity
       AND (inv.quantity IS NULL OR inv.quantity < i.quantity - i.refunded_quantity);
    IF missing IS NOT NULL THEN
      RETURN QUERY SELECT 'out_of_stock'::text, o.status, missing, lines;
      RETURN;
    END IF;
    UPDATE inventory inv SET quantity = inv.quantity - (i.quantity - i.refunded_quantity)
      FROM order_items i
     WHERE i.order_id = p_order AND inv.product_id = i.product_id AND i.quantity > i.refunded_quantity;
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
-- (1732600000000's version comes back by running its Up section again.)
