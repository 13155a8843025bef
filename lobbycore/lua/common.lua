-- lobbycore: prelude shared by every script (concatenated in front of each one at load time).
--
-- KEYS are the pool's fixed keys, in this order; all carry the pool's hash tag, so on
-- Redis Cluster every key of a pool lives in one slot:
--   1 users    hash    user id -> lobby id (the one-lobby-per-user index)
--   2 stats    hash    counters (lobbies, full, bookings, booked_users, joins, ...)
--   3 events   stream  capped change stream (created/joined/full/left/booked/expired)
--   4 seq      string  fill-order sequence
--   5 expiry   zset    lobby id -> deadline (ms)
--   6 seats    string  seats left (absent = unlimited)
--   7 bookings stream  durable record of every booking
-- ARGV[1] is the pool's key prefix ("lobbysim:{pool}:"). Per-lobby keys are built from it
-- inside the script (a join only learns which lobby it enters once it runs), and share
-- the hash tag with the keys above.
--
-- A lobby is one list: element 0 is its immutable metadata, then its users in join order.
-- The metadata starts with a NUL byte, which no user id may contain, so LREM of a user can
-- never hit it. A lobby with n users, 0 < n < max, is "open": it is listed by fill order
-- in open:<max> (for single joins) and in room:<max>:<max - n> (for party joins).

local PREFIX = ARGV[1]
local USERS, STATS, EVENTS, SEQ = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local EXPIRY, SEATS, BOOKINGS = KEYS[5], KEYS[6], KEYS[7]
local EVENTS_MAXLEN = 10000
-- Expiry is done a few lobbies at a time inside normal operations, so no call does
-- unbounded work; sweep_expired() takes larger (still bounded) batches.
local EXPIRE_PER_CALL = 4

local function int(n)
  return string.format('%d', n)
end

local NOW
do
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function lobby_key(id) return PREFIX .. 'l:' .. id end
local function open_key(max) return PREFIX .. 'open:' .. int(max) end
local function room_key(max, free) return PREFIX .. 'room:' .. int(max) .. ':' .. int(free) end
local function booking_key(id) return PREFIX .. 'b:' .. id end

local function meta_string(m)
  return '\0' .. m.sid .. '|' .. int(m.max) .. '|' .. int(m.created) .. '|' .. int(m.order) .. '|' .. int(m.deadline)
end

local function load_lobby(id)
  local raw = redis.call('LINDEX', lobby_key(id), 0)
  if not raw or string.byte(raw, 1) ~= 0 then return nil end
  local f = {}
  for part in string.gmatch(string.sub(raw, 2), '[^|]+') do f[#f + 1] = part end
  return {id = id, sid = f[1], max = tonumber(f[2]), created = tonumber(f[3]),
          order = tonumber(f[4]), deadline = tonumber(f[5])}
end

local function is_due(meta)
  return meta.deadline > 0 and meta.deadline <= NOW
end

local function members(meta)
  return redis.call('LRANGE', lobby_key(meta.id), 1, -1)
end

local function lobby_reply(meta)
  local reply = {'lobby', meta.id, meta.sid, meta.max, meta.created}
  local users = members(meta)
  for i = 1, #users do reply[#reply + 1] = users[i] end
  return reply
end

local function unlist(meta, size)
  if size > 0 and size < meta.max then
    redis.call('ZREM', open_key(meta.max), meta.id)
    redis.call('ZREM', room_key(meta.max, meta.max - size), meta.id)
  end
end

local function list(meta, size)
  if size > 0 and size < meta.max then
    redis.call('ZADD', open_key(meta.max), meta.order, meta.id)
    redis.call('ZADD', room_key(meta.max, meta.max - size), meta.order, meta.id)
  end
end

local function count(field, delta)
  redis.call('HINCRBY', STATS, field, delta)
end

local function emit(kind, meta, size, users)
  redis.call('XADD', EVENTS, 'MAXLEN', '~', EVENTS_MAXLEN, '*',
             'type', kind, 'lobby', meta.id, 'max', meta.max, 'size', size,
             'users', table.concat(users, '\0'))
end

-- Delete a lobby and free its users (used by leave, booking and expiry).
local function drop_lobby(meta, users)
  for i = 1, #users do
    if redis.call('HGET', USERS, users[i]) == meta.id then
      redis.call('HDEL', USERS, users[i])
    end
  end
  unlist(meta, #users)
  if #users >= meta.max then count('full', -1) end
  redis.call('ZREM', EXPIRY, meta.id)
  redis.call('DEL', lobby_key(meta.id))
  count('lobbies', -1)
end

local function expire_lobby(meta)
  local users = members(meta)
  drop_lobby(meta, users)
  count('expired', 1)
  emit('expired', meta, 0, users)
end

local function expire_due(limit)
  local ids = redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', int(NOW), 'LIMIT', 0, limit)
  for i = 1, #ids do
    local meta = load_lobby(ids[i])
    if meta then expire_lobby(meta) else redis.call('ZREM', EXPIRY, ids[i]) end
  end
  return #ids
end

-- Load a lobby for a write: a lobby past its deadline is expired on the spot and reads as nil.
local function live_lobby(id)
  local meta = load_lobby(id)
  if meta and is_due(meta) then
    expire_lobby(meta)
    return nil
  end
  return meta
end
