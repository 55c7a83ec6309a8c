-- hold(k, a): holds every item of an order, or none. Defines a function (after prelude.lua) that a
-- script calls; its KEYS start after the script's first k and its ARGV after the first a, so a
-- script can do something of its own first (claim-and-reserve.lua).
-- KEYS: reservation:{orderId}, then per item: stock:{p}, held:{p}, holds:{p}.
-- ARGV: ttlSeconds, orderId, then per item: productId, quantity.
-- Returns {'ok'} | {'held'} (this order already holds its stock: nothing changes) |
--   {'short', productId} (not enough available: nothing held) |
--   {'missing', productId...} (stock mirror not loaded: load it and call again; nothing held).
local function hold(k, a)
  if redis.call('EXISTS', KEYS[k + 1]) == 1 then return {'held'} end
  local ttl = tonumber(ARGV[a + 1])
  local orderId = ARGV[a + 2]
  local n = (#KEYS - k - 1) / 3
  local missing = {}
  for i = 1, n do
    local stockKey, heldKey, holdsKey = KEYS[k + 3 * i - 1], KEYS[k + 3 * i], KEYS[k + 3 * i + 1]
    purge(heldKey, holdsKey)
    local stock = redis.call('GET', stockKey)
    if not stock then
      missing[#missing + 1] = ARGV[a + 2 * i + 1]
    elseif tonumber(stock) - tonumber(redis.call('GET', heldKey) or '0') < tonumber(ARGV[a + 2 * i + 2]) then
      return {'short', ARGV[a + 2 * i + 1]}
    end
  end
  if #missing > 0 then
    table.insert(missing, 1, 'missing')
    return missing
  end
  local expiresAt = now + ttl * 1000
  for i = 1, n do
    local heldKey, holdsKey = KEYS[k + 3 * i], KEYS[k + 3 * i + 1]
    local productId, quantity = ARGV[a + 2 * i + 1], ARGV[a + 2 * i + 2]
    redis.call('ZADD', holdsKey, expiresAt, orderId .. '|' .. quantity)
    redis.call('INCRBY', heldKey, quantity)
    -- Both live at least as long as the newest hold in them; when they expire, every hold has.
    if redis.call('PTTL', holdsKey) < ttl * 1000 then
      redis.call('PEXPIRE', holdsKey, ttl * 1000)
      redis.call('PEXPIRE', heldKey, ttl * 1000)
    end
    redis.call('HSET', KEYS[k + 1], productId, quantity)
  end
  redis.call('EXPIRE', KEYS[k + 1], ttl)
  return {'ok'}
end
