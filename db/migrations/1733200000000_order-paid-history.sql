-- Up Migration

-- order_paid records who paid the order: when the order enters 'paid' (from pending or failed), its
-- history row ('paid') and its event for other systems ('order.paid', outbox) are written in the
-- function's own transaction, so the webhook's success path keeps its one round trip. An order that
-- was already paid (a success applied again) gets neither. Outcomes are those of
-- 1732900000000_refused-for-stock-is-final.sql. The old three-argument version stays (a new
-- overload, not a replacement): containers still running the previous release keep calling it during
-- a deploy (README: migrations add; drop the old function in a later release).
CREATE FUNCTION order_paid(p_order uuid, p_payment_intent text, p_event_created bigint, p_source text,
                           p_stripe_event_id text)
RETURNS TABLE (outcome text, previous text, short_product text, lines json)
LANGUAGE plpgsql AS $$
DECLARE
  o orders%ROWTYPE;
  missing text;
  v_payload jsonb;
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
  IF o.status <> 'paid' THEN
    -- The same payload as the one-statement confirm's (payPending, order-payment-store.ts).
    v_payload := jsonb_build_object(
      'amountCents', o.amount_cents, 'currency', o.currency,
      'paymentIntentId', COALESCE(o.payment_intent_id, p_payment_intent), 'customerId', o.customer_id,
      'items', (SELECT jsonb_agg(jsonb_build_object('productId', i.product_id, 'quantity', i.quantity,
                                                    'unitPriceCents', i.unit_price_cents) ORDER BY i.product_id)
                  FROM order_items i WHERE i.order_id = p_order));
    INSERT INTO order_events (order_id, type, source, stripe_event_id, data)
    VALUES (p_order, 'paid', p_source, p_stripe_event_id, v_payload);
    INSERT INTO outbox (topic, order_id, payload) VALUES ('order.paid', p_order, v_payload);
  END IF;
  RETURN QUERY SELECT 'paid'::text, o.status, NULL::text, lines;
END;
$$;

-- Down Migration
DROP FUNCTION order_paid(uuid, text, bigint, text, text);
