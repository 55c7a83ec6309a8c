-- claimAndReserveStock: a request's idempotency key taken and its order's stock held, in one round
-- trip (after prelude.lua and hold.lua).
-- KEYS: idempotency:{key}, then hold()'s: reservation:{orderId}, per item stock:{p}, held:{p}, holds:{p}.
-- ARGV: the in-progress record, its lifetime in seconds, then hold()'s: ttlSeconds, orderId, per
-- item productId, quantity.
-- Returns {'claimed', previous record} (the key was taken already: nothing held), else what hold()
-- returns.
local previous = redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX', 'GET')
if previous then return {'claimed', previous} end
return hold(1, 2)
