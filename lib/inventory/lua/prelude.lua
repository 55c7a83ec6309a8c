-- Shared by every inventory script (prepended by lib/inventory/scripts.ts); defines no KEYS/ARGV.
-- Redis runs a script atomically: no other command runs between its first read and its last write,
-- whatever number of Lambda containers call it at once. Time comes from the Redis server (TIME),
-- so every container agrees on when a hold has expired.
-- Per product: held:{p} is the sum of live holds and holds:{p} lists them (member orderId|quantity,
-- score = expiry in ms). An expired hold is dropped from both the next time any script touches the
-- product: no sweeper is needed, and an expired hold never counts against the stock.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Takes n off a product's live holds; at nothing held no key is left (a refused request leaves
-- Redis as it found it).
local function unhold(heldKey, n)
  if redis.call('DECRBY', heldKey, n) <= 0 then redis.call('DEL', heldKey) end
end
local function purge(heldKey, holdsKey)
  local expired = redis.call('ZRANGEBYSCORE', holdsKey, '-inf', now)
  if #expired == 0 then return end
  local total = 0
  for _, member in ipairs(expired) do
    total = total + tonumber(string.match(member, '|(%d+)$'))
  end
  redis.call('ZREMRANGEBYSCORE', holdsKey, '-inf', now)
  unhold(heldKey, total)
end
