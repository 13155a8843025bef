-- Minimal reference join (benchmarks only, never used by lobbycore): one user into the oldest
-- open lobby of their capacity, or a new one. Correct (capacity, one lobby per user, fill
-- order, a repeated join gets the same lobby) and nothing else: no events, no expiry, no
-- counters, no replay records, no session id or creation time.
-- KEYS[1] users: hash user id -> lobby id. The other keys share its prefix:
--   open:<max>  zset   open lobbies (0 < size < max) scored by fill order
--   l:<id>      list   "<max>|<order>", then the users in join order
--   seq         string fill-order sequence
-- ARGV: 1 max, 2 new lobby id, 3 user id. Reply: lobby id, then its users.
local users = KEYS[1]
local prefix = string.sub(users, 1, -6)
local max, user = ARGV[1], ARGV[3]
local lid = redis.call('HGET', users, user)
if not lid then
  local open = prefix .. 'open:' .. max
  lid = redis.call('ZRANGE', open, '0', '0')[1]
  if lid then
    local size = redis.call('RPUSH', prefix .. 'l:' .. lid, user) - 1
    if size >= tonumber(max) then redis.call('ZREM', open, lid) end
  else
    lid = ARGV[2]
    local order = redis.call('INCR', prefix .. 'seq')
    redis.call('RPUSH', prefix .. 'l:' .. lid, max .. '|' .. order, user)
    if tonumber(max) > 1 then redis.call('ZADD', open, order, lid) end
  end
  redis.call('HSET', users, user, lid)
end
local reply = redis.call('LRANGE', prefix .. 'l:' .. lid, '1', '-1')
table.insert(reply, 1, lid)
return reply
