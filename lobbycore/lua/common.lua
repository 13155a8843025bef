-- lobbycore: prelude shared by every script (concatenated in front of each one at load time).
--
-- KEYS[1] is the pool's counters hash, "lobbysim:{<pool>}:stats". Every other key of the
-- pool is named from the same prefix, so all of them carry the pool's hash tag and live in
-- one Redis Cluster slot; lobby keys can only be named inside the script anyway (a join
-- learns which lobby it enters when it runs). One declared key also keeps each call short.
--
--   stats        hash    counters (lobbies, full, joins, leaves, bookings, booked_users, ...)
--   u:<bucket>   hash    user id -> lobby id, the one-lobby-per-user index, split into
--                        4,096 buckets by a hash of the user id: small hashes stay in Redis's
--                        compact listpack encoding, about half the memory of one big hash
--   l:<id>       string  a lobby: NUL, its immutable metadata "sid|max|created|order|deadline",
--                        then NUL + user id for each user, in join order (user ids never
--                        contain NUL, so the split is unambiguous)
--   open:<max>   zset    open lobbies (0 < size < max) of a capacity, scored by fill order
--   room:<max>:<free>  zset  the same lobbies, bucketed by free places (for party joins)
--   expiry       zset    lobby id -> deadline (ms)
--   events       stream  capped change stream (created/joined/full/left/booked/expired)
--   bookings     stream  durable record of every booking
--   b:<id>       list    a booked lobby's booking, kept for a while to answer retries
--   jr:<ms>:<w>:<s>  hash  call id -> a join's answer, kept to answer a replay of that call:
--                        the joins of replay window number w = floor(now / ms) (ms = the
--                        replay window), split into REPLAY_BUCKETS hashes by the call id (s).
--                        The first join of window w + 2 UNLINKs the hash of window w (in the
--                        background), so an answer lives between one and two windows; a
--                        hash also expires at (w + 3) * ms, for a pool whose joins stopped
--   seq          string  fill-order sequence
--   seats        string  seats left (absent = unlimited)

local STATS = KEYS[1]
local PREFIX = string.sub(STATS, 1, -6)
local EVENTS, SEQ = PREFIX .. 'events', PREFIX .. 'seq'
local EXPIRY, SEATS, BOOKINGS = PREFIX .. 'expiry', PREFIX .. 'seats', PREFIX .. 'bookings'
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

-- The replay-record hash of a call id within its window (by its last 3 bytes; ids are random
-- there). Enough hashes that freeing one when it expires stays short.
local REPLAY_BUCKETS = 16
local function replay_bucket(id)
  local h = #id
  for i = math.max(1, #id - 2), #id do h = (h * 31 + string.byte(id, i)) % REPLAY_BUCKETS end
  return int(h)
end

-- The user index bucket of a user id. Only a bounded part of the id is hashed (its length,
-- first 8 and last 8 bytes), so the cost does not grow with long ids; a skewed spread only
-- costs memory, never correctness.
local USER_BUCKETS = 4096
local function bucket_key(user)
  local n = #user
  local h = n
  for i = 1, math.min(n, 8) do h = (h * 31 + string.byte(user, i)) % USER_BUCKETS end
  for i = math.max(9, n - 7), n do h = (h * 31 + string.byte(user, i)) % USER_BUCKETS end
  return PREFIX .. 'u:' .. int(h)
end

local function meta_string(m)
  return '\0' .. m.sid .. '|' .. int(m.max) .. '|' .. int(m.created) .. '|' .. int(m.order)
    .. '|' .. int(m.deadline)
end

-- Fields of a NUL-separated string, from byte ``from`` on (user ids never contain NUL).
local function split_nul(raw, from)
  local parts, pos = {}, from
  while true do
    local nul = string.find(raw, '\0', pos, true)
    if not nul then
      parts[#parts + 1] = string.sub(raw, pos)
      return parts
    end
    parts[#parts + 1] = string.sub(raw, pos, nul - 1)
    pos = nul + 1
  end
end

-- A lobby, read in one GET: its metadata and its users (nil if there is no such lobby).
local function load_lobby(id)
  local raw = redis.call('GET', lobby_key(id))
  if not raw or string.byte(raw, 1) ~= 0 then return nil end
  local parts = split_nul(raw, 2)
  local f = {}
  for field in string.gmatch(parts[1], '[^|]+') do f[#f + 1] = field end
  local users = {}
  for i = 2, #parts do users[i - 1] = parts[i] end
  return {id = id, sid = f[1], max = tonumber(f[2]), created = tonumber(f[3]),
          order = tonumber(f[4]), deadline = tonumber(f[5]), users = users}
end

-- Written whole with SET (APPEND would over-allocate), so the value takes what it needs.
local function save_lobby(meta)
  local value = meta_string(meta)
  if #meta.users > 0 then value = value .. '\0' .. table.concat(meta.users, '\0') end
  redis.call('SET', lobby_key(meta.id), value)
end

local function is_due(meta)
  return meta.deadline > 0 and meta.deadline <= NOW
end

local function lobby_reply(meta)
  local reply = {'lobby', meta.id, meta.sid, meta.max, meta.created}
  for i = 1, #meta.users do reply[#reply + 1] = meta.users[i] end
  return reply
end

local function count(field, delta)
  redis.call('HINCRBY', STATS, field, delta)
end

-- Keep the open/room indexes and the full counter in step with a size change.
local function resize(meta, from, to)
  local max = meta.max
  local was_open, is_open = from > 0 and from < max, to > 0 and to < max
  if was_open then redis.call('ZREM', room_key(max, max - from), meta.id) end
  if is_open then redis.call('ZADD', room_key(max, max - to), meta.order, meta.id) end
  if was_open and not is_open then
    redis.call('ZREM', open_key(max), meta.id)
  elseif is_open and not was_open then
    redis.call('ZADD', open_key(max), meta.order, meta.id)
  end
  if from >= max and to < max then count('full', -1) end
  if from < max and to >= max then count('full', 1) end
end

local function emit(kind, meta, size, users)
  redis.call('XADD', EVENTS, 'MAXLEN', '~', EVENTS_MAXLEN, '*',
             'type', kind, 'lobby', meta.id, 'max', meta.max, 'size', size,
             'users', table.concat(users, '\0'))
end

-- Delete a lobby and free its users (used by leave, booking and expiry).
local function drop_lobby(meta)
  local users = meta.users
  for i = 1, #users do
    local bucket = bucket_key(users[i])
    if redis.call('HGET', bucket, users[i]) == meta.id then redis.call('HDEL', bucket, users[i]) end
  end
  resize(meta, #users, 0)
  if meta.deadline > 0 then redis.call('ZREM', EXPIRY, meta.id) end
  redis.call('DEL', lobby_key(meta.id))
  count('lobbies', -1)
end

local function expire_lobby(meta)
  drop_lobby(meta)
  count('expired', 1)
  count('expired_users', #meta.users)
  emit('expired', meta, 0, meta.users)
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
