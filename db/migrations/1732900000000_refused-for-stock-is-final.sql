-- Up Migration

-- order_paid, three changes (same signature and outcomes as 1732700000000's):
-- 1. An order we refused for stock (failed, insufficient_inventory) whose PaymentIntent did succeed
--    after all (an earlier attempt's charge that Stripe's search had not shown yet, its webhook
--    late) answers 'out_of_stock' whatever the event's age: the customer was told the stock was
--    not there, so the order is never paid later; the caller fails it out_of_stock_after_payment
--    and refunds the money in full. Before, an event older than our refusal was ignored and the
--    money was kept with no goods.
-- 2. "Now" is whole seconds rounded down, as Stripe's `created` is (a cast rounded it up).
-- 3. outcome 'paid' with previous 'paid': the order was already paid and the event is not older
--    than the last one applied (it is recorded; no stock moves). 'unchanged': an older event, an
--    order past the payment states (refunded), or out_of_stock_after_payment (final).
CREATE OR REPLACE FUNCTION order_paid(p_order uuid, p_payment_intent text, p_event_created bigint)
RETURNS TABLE (outcome text, previous text, short_product text, lines json)
LANGUAGE plpgsql AS $$
DECLARE
  o orders%ROWTYPE;
  missing text;
BEGIN
  -- The locking rule: the order's lock in a statement of its own, then every read after it.
  SELECT * INTO o FROM orders WHERE id = p_order FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'not_found'::text, NULL::text, NULL::text, NULL::json;
    RETURN;
  END IF;
  lines := (SELECT json_agg(json_build_object('productId', i.product_id, 'quantity', i.quantity - i.refunded_quantity) ORDER BY i.product_id)
              FROM order_items i WHERE i.order_id = p_order AND i.quantity > i.refunded_quantity);
  IF o.status = 'failed' AND o.failure_code = 'insufficient_inventory' THEN
    RETURN QUERY SELECT 'out_of_stock'::text, o.status, o.failure_product_id, lines;
    RETURN;
  END IF;
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
         last_event_created = GREATEST(last_event_created, COALESCE(p_event_created, floor(extract(epoch FROM now()))::bigint)),
         locked_until = NULL, updated_at = now()
   WHERE id = p_order;
  RETURN QUERY SELECT 'paid'::text, o.status, NULL::text, lines;
END;
$$;

-- Down Migration
-- (1732700000000's version comes back by running its Up section again.)
