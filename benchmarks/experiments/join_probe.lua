-- COST PROBE (benchmarks only; not a complete join, not used by lobbycore): the common path
-- of a join that writes everything today's guarantees need, written as leanly as the
-- minimal join (benchmarks/minimal/join.lua), to price the features on top of the minimal
-- reference: the server clock and lobby deadlines, fill order with the party index
-- (room:<max>:<free>), one event per join, a join counter, an O(1) replay record read and
-- written in the current window, the expiry probe and the replay hash's expiry only when
-- a lobby is made. Rare paths are left out (a due lobby at the head, a replay whose answer
-- is found returns it raw, ids already taken): this prices the design, it does not run a
-- pool.
-- KEYS[1] users: hash user id -> lobby id; other keys share its prefix (as minimal/join.lua,
-- plus room:<max>:<free>, expiry, events, stats, jr:<window>).
-- ARGV: 1 max, 2 new lobby id (the call id), 3 user id, 4 session id, 5 ttl ms, 6 replay ms,
--       7 'checked' to add the reads today's join makes for its guarantees on this path (the
--       pool's epoch, the previous window's replay record and whether this window's hash
--       is new, the TYPE of the two party index keys a lobby moves between, the join
--       counter's value), each as the same command today's join sends; else ''.
-- Lobby list: "<max>|<order>|<deadline>|<session>|<created>", then the users.
local users = KEYS[1]
local prefix = string.sub(users, 1, -6)
local max, call_id, user = ARGV[1], ARGV[2], ARGV[3]
local checked = ARGV[7] == 'checked'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

if checked and redis.call('HGET', prefix .. 'meta', 'epoch') then return {'lost'} end
local lid = redis.call('HGET', users, user)
if lid then
  local list = redis.call('LRANGE', prefix .. 'l:' .. lid, '0', '-1')
  list[1] = lid
  return list
end

local replay_ms = tonumber(ARGV[6])
-- Records split by the call id's last character (ULIDs end in random characters), so no
-- window hash grows into a long listpack (searched entry by entry; one hash for all of a
-- window's joins made HGET and HSET cost about 17,000 instructions each at 550 records).
local window = prefix .. 'jr:' .. string.format('%d', math.floor(now / replay_ms)) .. ':'
  .. string.sub(call_id, -1)
local earlier = redis.call('HGET', window, call_id)
if checked then
  earlier = earlier or redis.call('HGET', prefix .. 'jr:'
    .. string.format('%d', math.floor(now / replay_ms) - 1) .. ':' .. string.sub(call_id, -1), call_id)
  redis.call('EXISTS', window)
end
if earlier then return {earlier} end

local nmax = tonumber(max)
local open = prefix .. 'open:' .. max
local room = prefix .. 'room:' .. max .. ':'
local head = redis.call('ZRANGE', open, '0', '0', 'WITHSCORES')
local list, order, size
if head[1] then
  lid, order = head[1], head[2]
  list = redis.call('LRANGE', prefix .. 'l:' .. lid, '0', '-1')
  local deadline = tonumber(string.match(list[1], '^[^|]*|[^|]*|([^|]*)'))
  if deadline > 0 and deadline <= now then return {'due'} end -- rare path: left out
  if checked then
    local listed = #list - 1
    redis.call('TYPE', room .. (nmax - listed))
    if nmax - listed > 1 then redis.call('TYPE', room .. (nmax - listed - 1)) end
    local joins = redis.call('HGET', prefix .. 'stats', 'joins')
    if joins and not string.match(joins, '^%-?%d+$') then return {'damaged'} end
  end
  size = redis.call('RPUSH', prefix .. 'l:' .. lid, user) - 1
  local free = nmax - size
  redis.call('ZREM', room .. (free + 1), lid)
  if free > 0 then
    redis.call('ZADD', room .. free, order, lid)
  else
    redis.call('ZREM', open, lid)
  end
else
  lid = call_id
  redis.call('ZRANGEBYSCORE', prefix .. 'expiry', '-inf', string.format('%d', now), 'LIMIT', '0', '4')
  order = redis.call('INCR', prefix .. 'seq')
  local ttl = tonumber(ARGV[5])
  local deadline = ttl > 0 and string.format('%d', now + ttl) or '0'
  list = {max .. '|' .. order .. '|' .. deadline .. '|' .. ARGV[4] .. '|' .. string.format('%d', now)}
  redis.call('RPUSH', prefix .. 'l:' .. lid, list[1], user)
  size = 1
  if ttl > 0 then redis.call('ZADD', prefix .. 'expiry', deadline, lid) end
  redis.call('ZADD', open, order, lid)
  redis.call('ZADD', room .. (nmax - 1), order, lid)
  redis.call('HINCRBY', prefix .. 'stats', 'created', '1')
  redis.call('PEXPIREAT', window, string.format('%d', (math.floor(now / replay_ms) + 3) * replay_ms), 'NX')
end
redis.call('HSET', users, user, lid)
redis.call('HINCRBY', prefix .. 'stats', 'joins', '1')
redis.call('XADD', prefix .. 'events', 'MAXLEN', '~', '10000', '*', 'type', 'joined',
           'lobby', lid, 'size', size + 1, 'user', user)
redis.call('HSET', window, call_id, lid)
list[1] = lid
list[#list + 1] = user
return list
