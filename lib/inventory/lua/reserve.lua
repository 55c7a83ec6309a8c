-- reserveStock: the hold alone (after prelude.lua and hold.lua).
-- KEYS: reservation:{orderId}, then per item: stock:{p}, held:{p}, holds:{p}.
-- ARGV: ttlSeconds, orderId, then per item: productId, quantity.
-- Returns what hold() returns: {'ok'} | {'held'} | {'short', productId} | {'missing', productId...}.
return hold(0, 0)
