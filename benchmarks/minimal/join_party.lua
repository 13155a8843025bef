-- Minimal reference party join (benchmarks only): all of a party into the oldest open lobby
-- of their capacity with room for all of them, or a new one; or none of them. Correct
-- (capacity, one lobby per user, fill order, all or nothing) and nothing else: no events,
-- no expiry, no counters, no replay records, no session id or creation time.
-- A party needs the open lobbies by free places, so this pool keeps only that index:
-- KEYS[1] users: hash user id -> lobby id. The other keys share its prefix:
--   room:<max>:<free>  zset  open lobbies with <free> places left, scored by fill order
--   l:<id>             list  "<max>|<order>", then the users in join order
--   seq                string fill-order sequence
-- ARGV: 1 max, 2 new lobby id, 3.. user ids (distinct, 1..max of them).
-- Reply: lobby id, then its users; or {'in_lobby', user id} if some are placed elsewhere.
local users = KEYS[1]
local prefix = string.sub(users, 1, -6)
local max = tonumber(ARGV[1])
local party = {unpack(ARGV, 3)}
local k = #party
local placed = redis.call('HMGET', users, unpack(party))
local lid = placed[1]
for i = 2, k do
  -- All placed in one lobby: that lobby. Some placed, or in different lobbies: refuse.
  if placed[i] ~= lid then return {'in_lobby', party[i]} end
end
if not lid then
  local room = prefix .. 'room:' .. ARGV[1] .. ':'
  local best
  for free = k, max - 1 do
    local head = redis.call('ZRANGE', room .. free, '0', '0', 'WITHSCORES')
    if head[1] and (best == nil or tonumber(head[2]) < best) then
      best, lid = tonumber(head[2]), head[1]
    end
  end
  local size
  if lid then
    size = redis.call('RPUSH', prefix .. 'l:' .. lid, unpack(party)) - 1
    redis.call('ZREM', room .. (max - size + k), lid)
  else
    lid = ARGV[2]
    best = redis.call('INCR', prefix .. 'seq')
    size = redis.call('RPUSH', prefix .. 'l:' .. lid, ARGV[1] .. '|' .. best, unpack(party)) - 1
  end
  if size < max then redis.call('ZADD', room .. (max - size), best, lid) end
  local fields = {}
  for i = 1, k do fields[2 * i - 1], fields[2 * i] = party[i], lid end
  redis.call('HSET', users, unpack(fields))
end
local reply = redis.call('LRANGE', prefix .. 'l:' .. lid, '1', '-1')
table.insert(reply, 1, lid)
return reply
