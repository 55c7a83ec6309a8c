-- availableStock: what each product has on hand and held now (after prelude.lua).
-- KEYS: per product: stock:{p}, held:{p}, holds:{p}.
-- ARGV: none.
-- Returns per product: stock on hand (its mirror, or false when not loaded), live holds.
local out = {}
for i = 1, #KEYS / 3 do
  purge(KEYS[3 * i - 1], KEYS[3 * i])
  out[#out + 1] = redis.call('GET', KEYS[3 * i - 2]) or false
  out[#out + 1] = tonumber(redis.call('GET', KEYS[3 * i - 1]) or '0')
end
return out
