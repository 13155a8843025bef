-- Minimal reference leave (benchmarks only), for the pool of the minimal join (join.lua):
-- take a user out of their lobby; an emptied lobby is deleted, a full lobby that loses a
-- user is open again at its original place in the fill order. Nothing else: no events,
-- no expiry, no counters.
-- KEYS[1] users (see join.lua). ARGV: 1 user id.
-- Reply: the lobby after the leave (lobby id, then its users), or {} if there is none.
local users = KEYS[1]
local prefix = string.sub(users, 1, -6)
local user = ARGV[1]
local lid = redis.call('HGET', users, user)
if not lid then return {} end
redis.call('HDEL', users, user)
local key = prefix .. 'l:' .. lid
local list = redis.call('LRANGE', key, '0', '-1')
local max, order = string.match(list[1], '^(%d+)|(%d+)$')
local open = prefix .. 'open:' .. max
if #list == 2 then
  redis.call('DEL', key)
  redis.call('ZREM', open, lid)
  return {}
end
redis.call('LREM', key, '1', user)
if #list - 1 == tonumber(max) then redis.call('ZADD', open, order, lid) end
local reply = {lid}
for i = 2, #list do
  if list[i] ~= user then reply[#reply + 1] = list[i] end
end
return reply
