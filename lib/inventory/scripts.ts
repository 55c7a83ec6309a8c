import type { ChainableCommander, Redis } from 'ioredis';

/**
 * Lua run atomically by Redis: no other command runs between a script's first read and its last
 * write, whatever number of Lambda containers call it at once. Time comes from the Redis server
 * (TIME), so every container agrees on when a hold has expired.
 *
 * Per product: held:{p} is the sum of live holds and holds:{p} lists them with their expiry.
 * A hold that has expired is dropped from both the next time any script touches the product
 * (no sweeper needed: an expired hold never counts against the stock).
 */
const PRELUDE = `
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
`;

/**
 * Holds every item of an order or none. Its keys start after the first `k` KEYS and its arguments
 * after the first `a` ARGV, so a script can do something of its own first (CLAIM_AND_RESERVE).
 * KEYS: reservation, then per item: stock, held, holds.  ARGV: ttlSeconds, orderId, then per item:
 * productId, quantity.
 * Returns {'ok'} | {'held'} (this order already holds its stock) | {'short', productId} |
 * {'missing', productId...} (stock mirror not loaded: load it and call again).
 */
const HOLD = `
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
`;

/** The hold alone (see HOLD). */
export const RESERVE = `${PRELUDE}${HOLD}
return hold(0, 0)
`;

/**
 * A request's idempotency key taken and its order's stock held, in one round trip. KEYS: the
 * idempotency key, then HOLD's. ARGV: the in-progress record, its lifetime in seconds, then HOLD's.
 * Returns {'claimed', previous record} (the key was taken: nothing held), else what HOLD returns.
 */
export const CLAIM_AND_RESERVE = `${PRELUDE}${HOLD}
local previous = redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX', 'GET')
if previous then return {'claimed', previous} end
return hold(1, 2)
`;

/**
 * Drops an order's hold and moves the stock mirrors, in one atomic step: when an order is paid its
 * stock leaves the mirror at the same instant its hold leaves `held`, so `stock - held` (what can
 * be held) never jumps and `held <= stock` always holds.
 * KEYS: reservation, then per item: stock, held, holds.  ARGV: orderId, then per item: productId,
 * mirror delta (0 to only release, -n when the order took n, +n when n came back).
 */
export const SETTLE = `${PRELUDE}
local orderId = ARGV[1]
for i = 1, (#KEYS - 1) / 3 do
  local stockKey, heldKey, holdsKey = KEYS[3 * i - 1], KEYS[3 * i], KEYS[3 * i + 1]
  purge(heldKey, holdsKey)
  local quantity = redis.call('HGET', KEYS[1], ARGV[2 * i])
  if quantity and redis.call('ZREM', holdsKey, orderId .. '|' .. quantity) == 1 then unhold(heldKey, quantity) end
  local delta = tonumber(ARGV[2 * i + 1])
  if delta ~= 0 and redis.call('EXISTS', stockKey) == 1 then redis.call('INCRBY', stockKey, delta) end
end
return redis.call('DEL', KEYS[1])
`;

/** KEYS: per product: stock, held, holds.  Returns per product: stock on hand (or false), live holds. */
export const AVAILABLE = `${PRELUDE}
local out = {}
for i = 1, #KEYS / 3 do
  purge(KEYS[3 * i - 1], KEYS[3 * i])
  out[#out + 1] = redis.call('GET', KEYS[3 * i - 2]) or false
  out[#out + 1] = tonumber(redis.call('GET', KEYS[3 * i - 1]) or '0')
end
return out
`;

export interface InventoryCommands {
  reserveStock(...args: (string | number)[]): Promise<string[]>;
  claimAndReserveStock(...args: (string | number)[]): Promise<string[]>;
  settleStock(...args: (string | number)[]): Promise<number>;
  availableStock(...args: (string | number)[]): Promise<(string | number | null)[]>;
}

const registered = new WeakSet<Redis>();

/** A pipeline of this client that knows the scripts too. */
export function batchFor(redis: Redis): ChainableCommander {
  return commands(redis).pipeline();
}

/** The scripts as commands of this client (EVALSHA, falling back to EVAL after a Redis restart). */
export function commands(redis: Redis): Redis & InventoryCommands {
  if (!registered.has(redis)) {
    redis.defineCommand('reserveStock', { lua: RESERVE });
    redis.defineCommand('claimAndReserveStock', { lua: CLAIM_AND_RESERVE });
    redis.defineCommand('settleStock', { lua: SETTLE });
    redis.defineCommand('availableStock', { lua: AVAILABLE });
    registered.add(redis);
  }
  return redis as Redis & InventoryCommands;
}
