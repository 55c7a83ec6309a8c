-- settleStock: drops an order's hold and moves the stock mirrors, in one atomic step (after
-- prelude.lua). When an order is paid its stock leaves the mirror at the same instant its hold
-- leaves held:{p}, so stock - held (what can be held) never jumps and held <= stock always holds.
-- A missing mirror is left missing (it is reloaded from PostgreSQL when next needed).
-- KEYS: reservation:{orderId}, then per item: stock:{p}, held:{p}, holds:{p}.
-- ARGV: orderId, then per item: productId, mirror delta (0 to only release, -n when the order took
-- n, +n when n came back under the inventory row's lock, before its commit), or 'reload': stock came
-- back in a transaction already committed, so the mirror is dropped and reloaded from PostgreSQL when
-- next needed. (Adding +n after the commit could count it twice: a reload that slipped in between
-- already read it. Taking -n after the commit can only leave the mirror low: safe, healed by its TTL.)
-- Returns 1 if the order had a hold (reservation deleted), else 0.
local orderId = ARGV[1]
for i = 1, (#KEYS - 1) / 3 do
  local stockKey, heldKey, holdsKey = KEYS[3 * i - 1], KEYS[3 * i], KEYS[3 * i + 1]
  purge(heldKey, holdsKey)
  local quantity = redis.call('HGET', KEYS[1], ARGV[2 * i])
  if quantity and redis.call('ZREM', holdsKey, orderId .. '|' .. quantity) == 1 then unhold(heldKey, quantity) end
  local delta = ARGV[2 * i + 1]
  if delta == 'reload' then
    redis.call('DEL', stockKey)
  elseif tonumber(delta) ~= 0 and redis.call('EXISTS', stockKey) == 1 then
    redis.call('INCRBY', stockKey, tonumber(delta))
  end
end
return redis.call('DEL', KEYS[1])
