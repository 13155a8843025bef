-- lobbycore: prelude shared by every script (concatenated in front of each one at load time).
--
-- KEYS[1] is the pool's counters hash, "lobbysim:{<pool>}:stats". Every other key of the
-- pool is named from the same prefix, so all of them carry the pool's hash tag and live in
-- one Redis Cluster slot; lobby keys can only be named inside the script anyway (a join
-- learns which lobby it enters when it runs). One declared key also keeps each call short.
--
--   meta         hash    layout: the key layout's version (LAYOUT); open refuses a pool of
--                        another layout ({'layout', ...}: absent is layout 1, before this
--                        field), never reading it as lost, new or this layout's.
--                        epoch: made when the pool is first used; every call names the
--                        epoch its store learned, and a missing or different meta means the
--                        pool's state was lost (restart without persistence, eviction,
--                        FLUSHDB): the call is refused. seats: seats left, or 'unlimited'
--                        (stored explicitly: the inventory is lost only with the epoch).
--                        wseq: the write sequence (absent = 0), +1 by every call that
--                        writes, in the same atomic step (see bump); every reply carries
--                        it, and a call refuses a pool older than its store has seen
--                        ({'rolled_back', ...}, before any write): a failover to a replica
--                        that missed acknowledged writes fails closed
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
--   bx:<bucket>  hash    lobby id -> booked at (ms), for every lobby ever booked, split into
--                        buckets like the user index: a join never makes a lobby under an
--                        id that was booked, whatever the replay records say (a retry
--                        later than its replay window, records lost in a failover, a clock
--                        step); kept as long as the bookings stream it indexes
--   jr:<ms>:<w>:<s>  hash  call id -> a join's answer, kept to answer a replay of that call:
--                        the joins of replay window number w = floor(now / ms) (ms = the
--                        replay window), split into REPLAY_BUCKETS hashes by the call id (s).
--                        The first join of window w + 2 UNLINKs the hash of window w (in the
--                        background), so an answer lives between one and two windows; a
--                        hash also expires at (w + 3) * ms, for a pool whose joins stopped.
--                        The window never goes backwards with the server's clock: meta's
--                        jw holds the start (ms) of the latest window used, and a clock
--                        behind it by at most REPLAY_HOLD_WINDOWS windows keeps using it
--   seq          string  fill-order sequence
--
-- No half-applied operation: Redis does not roll back a script that fails midway, so every
-- script first reads and checks every key it will write (a key of the wrong type, or a
-- value that is not what lobbycore writes, stops it with {'damaged', key, what} before any
-- write), then writes. Once checked, the writes cannot fail, except for the first one
-- (Redis refuses a script's first write when out of memory, and only its first). So the
-- first write may also check its own key: join, leave and book write their events first,
-- and that first XADD, under pcall, checks the change stream (first_write_is_an_event).
--
-- ARGV[1] of every call is the pool epoch the store learned (see meta), ARGV[2] the highest
-- write sequence the store has seen in this pool (a retry after a lost reply carries the
-- same or an older one: never above the pool's, unless the pool was rolled back); run()
-- takes both off ARGV, so each operation's own arguments start at ARGV[1]. Every reply is
-- {write sequence after the call (-1 if the call stopped before reading it), answer}.
--
-- This file and an operation's are loaded either as one script (EVAL: all of it runs on
-- every call) or, with every operation, as one Redis Function library (run once when
-- loaded: the helpers are made once). So the state of a call lives in the locals below,
-- set by run() at the start of each call, and nothing here calls string/math/table
-- outside a function (Redis 7.0 gives a library being loaded none of them).
local KEYS, ARGV, STATS, PREFIX, EVENTS, SEQ, META, EXPIRY, BOOKINGS, EPOCH, NOW, NOW_S
local SEEN, WSEQ, BUMPED
local STOPPED, ZSEEN, DOOMED, DOOMED_IDS, DOOMED_USERS, STALE_EXPIRY, FIRST_WRITE
-- The per-call tables above start as this shared empty table and are made on their first
-- write (most calls never write them; a table costs about as much as a redis.call's
-- hand-off). Never written itself.
local NONE = {}
-- The change stream is capped in entries, and each entry in bytes (EVENT_USERS ids of at
-- most 256 bytes), so the stream stays under EVENTS_MAXLEN * ~4.5 kB.
local EVENTS_MAXLEN = '10000'
local EVENT_USERS = 16
-- Expiry frees at most this many users inside a normal operation (a due lobby larger than
-- that is left to sweep_expired(), or to the call of one of its users, which expires it
-- whatever its size); sweep_expired() has its own budget.
local EXPIRE_USERS_PER_CALL = 64
local MAX_ID_BYTES = 256
-- The key layout's version, kept in meta (see the key table).
local LAYOUT = '2'
local COUNTERS = {'lobbies', 'full', 'bookings', 'booked_users', 'joins', 'leaves', 'expired',
                  'created', 'expired_users'}

-- Numbers go to Redis as strings: a Lua number passed to redis.call is formatted with
-- "%.17g", and string.format('%d') costs about as much, so small counts come from this
-- table, and values read from Redis or ARGV are kept as the strings they came as.
local SMALL = {'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12', '13', '14',
               '15', '16'}
-- Below 10,000 (user index buckets, sizes) the digits go to one string.char, cheaper than
-- string.format; no table is built for it (a script runs this file on every call).
local function int(n)
  local s = SMALL[n + 1]
  if s then return s end
  if n >= 0 and n < 10000 and n % 1 == 0 then
    local d0 = n % 10
    n = (n - d0) / 10
    local d1 = n % 10
    n = (n - d1) / 10
    if n == 0 then return string.char(48 + d1, 48 + d0) end
    local d2 = n % 10
    n = (n - d2) / 10
    if n == 0 then return string.char(48 + d2, 48 + d1, 48 + d0) end
    return string.char(48 + n, 48 + d2, 48 + d1, 48 + d0)
  end
  return string.format('%d', n)
end

-- NOW (ms, the server's clock) as a string, made when first needed.
local function now_s()
  if not NOW_S then NOW_S = int(NOW) end
  return NOW_S
end

-- Ending a script early with a reply, from any depth: stop(reply) unwinds to run().
local STOP = {}
local function stop(reply)
  STOPPED = reply
  error(STOP)
end

local function damaged(key, what)
  stop({'damaged', key, what})
end

-- A read that a key of the wrong type makes fail stops the script as damaged (nothing has
-- been written yet: every read comes before the first write); any other error (an ACL
-- denial) is the server's refusal, raised as it is. A sorted set read that succeeded
-- shows the key is a sorted set or absent (ZSEEN), so want() need not ask again.
local function rd(cmd, key, ...)
  local reply = redis.pcall(cmd, key, ...)
  if type(reply) == 'table' and reply.err then
    if string.find(tostring(reply.err), 'WRONGTYPE', 1, true) then
      damaged(key, 'wrong type for ' .. cmd)
    end
    error(reply)
  end
  if cmd == 'ZRANGE' or cmd == 'ZRANGEBYSCORE' then
    if ZSEEN == NONE then ZSEEN = {} end
    ZSEEN[key] = true
  end
  return reply
end

-- A key that is only written must be absent or of the type the write needs.
local function want(key, kind)
  if kind == 'zset' and ZSEEN[key] then return end
  local t = redis.call('TYPE', key)
  t = type(t) == 'table' and t.ok or t
  if t ~= 'none' and t ~= kind then damaged(key, 'holds a ' .. t .. ', expected a ' .. kind) end
end

local function is_int(value)
  return value == nil or value == false or string.match(value, '^%-?%d+$') ~= nil
end

-- The pool's write sequence (meta's wseq field, as read): never below the one the store has
-- seen (SEEN), else the pool was rolled back and the call refuses before any write.
local function check_seq(wseq)
  if not is_int(wseq) then damaged(META, 'bad wseq field') end
  WSEQ = tonumber(wseq) or 0
  if WSEQ < tonumber(SEEN) then stop({'rolled_back', META, SEEN, wseq or '0', EPOCH}) end
end

-- The pool's meta: the epoch must be the one the store learned, the write sequence not
-- older than the store has seen; its seats field parsed (unless ``any_seats``: set_seats
-- may replace whatever is there). Returns seats left, or nil for unlimited.
local function check_pool(any_seats)
  local m = rd('HMGET', META, 'epoch', 'seats', 'wseq')
  if not m[1] or m[1] ~= EPOCH then stop({'lost', META, m[1] or ''}) end
  check_seq(m[3])
  if m[2] == 'unlimited' or any_seats then return nil end
  if not m[2] or not string.match(m[2], '^%d+$') then damaged(META, 'bad seats field') end
  return tonumber(m[2])
end

-- The pool's epoch and write sequence, for an operation that needs no seats; ``field``:
-- one more meta field to read in the same call, returned.
local function check_epoch(field)
  local m
  if field then
    m = rd('HMGET', META, 'epoch', 'wseq', field)
  else
    m = rd('HMGET', META, 'epoch', 'wseq')
  end
  if not m[1] or m[1] ~= EPOCH then stop({'lost', META, m[1] or ''}) end
  check_seq(m[2])
  return m[3]
end

-- A call that writes adds one to the write sequence, once, after its first write (which
-- may be refused, or check its own key: see first_write_is_an_event); meta and its wseq
-- were checked by check_pool or check_epoch.
local function bump()
  if BUMPED then return end
  BUMPED = true
  redis.call('HINCRBY', META, 'wseq', '1')
  WSEQ = WSEQ + 1
end

-- The counters a call will increment must hold integers (HINCRBY fails on anything else).
local function check_counters(...)
  local n = select('#', ...)
  if n == 1 then
    if not is_int(rd('HGET', STATS, ...)) then
      damaged(STATS, 'counter ' .. ... .. ' is not an integer')
    end
    return
  end
  local values = rd('HMGET', STATS, ...)
  for i = 1, n do
    if not is_int(values[i]) then
      damaged(STATS, 'counter ' .. select(i, ...) .. ' is not an integer')
    end
  end
end

-- What every writing script checks first: the pool's epoch, the counters it may increment
-- (HINCRBY fails on a non-integer): its own (...) and those expiry writes, and the change
-- stream it appends to.
local function check_writable(...)
  local seats = check_pool()
  local fields = {'lobbies', 'full', 'expired', 'expired_users', ...}
  local values = rd('HMGET', STATS, unpack(fields))
  for i = 1, #fields do
    if not is_int(values[i]) then damaged(STATS, 'counter ' .. fields[i] .. ' is not an integer') end
  end
  want(EVENTS, 'stream')
  return seats
end

local function lobby_key(id) return PREFIX .. 'l:' .. id end
-- ``max`` is the capacity as a string (ARGV, or a lobby value's field).
local function open_key(max) return PREFIX .. 'open:' .. max end
local function room_key(max, free) return PREFIX .. 'room:' .. max .. ':' .. int(free) end
local function booking_key(id) return PREFIX .. 'b:' .. id end

-- The replay-record hash of a call id within its window (by its last 3 bytes; ids are random
-- there). Enough hashes that freeing one when it expires stays short.
local REPLAY_BUCKETS = 16
-- A server clock that steps back keeps the latest replay window for up to this many windows
-- (an NTP step, a failover to a node whose clock is behind); a larger step starts windows
-- anew rather than piling every answer into one window until the clock catches up.
local REPLAY_HOLD_WINDOWS = 8
local function replay_bucket(id)
  local byte, n = string.byte, #id
  local h = n
  for i = n - 2 > 1 and n - 2 or 1, n do h = (h * 31 + byte(id, i)) % REPLAY_BUCKETS end
  return int(h)
end

-- The user index bucket of a user id. Only a bounded part of the id is hashed (its length,
-- first 8 and last 8 bytes), so the cost does not grow with long ids; a skewed spread only
-- costs memory, never correctness.
local USER_BUCKETS = 4096
local function bucket_of(id)
  local byte, n = string.byte, #id
  local h = n
  if n >= 16 then
    -- Eight bytes a call, reduced every four (the same remainder as reducing at each step:
    -- the values stay far below 2^53, where Lua's numbers are exact).
    local a, b, c, d, e, f, g, k = byte(id, 1, 8)
    h = ((((h * 31 + a) * 31 + b) * 31 + c) * 31 + d) % USER_BUCKETS
    h = ((((h * 31 + e) * 31 + f) * 31 + g) * 31 + k) % USER_BUCKETS
    a, b, c, d, e, f, g, k = byte(id, n - 7, n)
    h = ((((h * 31 + a) * 31 + b) * 31 + c) * 31 + d) % USER_BUCKETS
    h = ((((h * 31 + e) * 31 + f) * 31 + g) * 31 + k) % USER_BUCKETS
    return int(h)
  end
  for i = 1, n < 8 and n or 8 do h = (h * 31 + byte(id, i)) % USER_BUCKETS end
  for i = 9, n do h = (h * 31 + byte(id, i)) % USER_BUCKETS end
  return int(h)
end
local function bucket_key(user) return PREFIX .. 'u:' .. bucket_of(user) end
-- The bucket of the booked-lobby index that holds ``id`` (same spread as the user index).
local function booked_key(id) return PREFIX .. 'bx:' .. bucket_of(id) end

-- A new lobby's value, its metadata only (fields as strings).
local function meta_string(m)
  return '\0' .. m.sid .. '|' .. m.max_s .. '|' .. m.created_s .. '|' .. m.order_s
    .. '|' .. m.deadline_s
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

-- A lobby, read in one GET (nil if there is no such lobby): its metadata, its users as one
-- NUL-joined string (blob) and their number (size). The users are split into a table only
-- when an operation needs each of them (users_of): a join or a leave works on the blob, so
-- its cost in a large lobby is a few copies of the value, not a Lua string per user.
-- A value lobbycore did not write stops the script as damaged.
local function load_lobby(id)
  local key = lobby_key(id)
  local raw = rd('GET', key)
  if not raw then return nil end
  if string.byte(raw, 1) ~= 0 then damaged(key, 'not a lobby value') end
  local nul = string.find(raw, '\0', 2, true)
  local sid, max, created, order, deadline = string.match(string.sub(raw, 2, (nul or 0) - 1),
    '^([^|]+)|([1-9]%d*)|(%-?%d+)|(%-?%d+)|(%-?%d+)$')
  if not sid then damaged(key, 'not a lobby value') end
  local blob, size = '', 0
  if nul then
    blob, size = string.sub(raw, nul + 1), 1
    local at = string.find(raw, '\0', nul + 1, true)
    while at do
      size = size + 1
      at = string.find(raw, '\0', at + 1, true)
    end
  end
  return {id = id, sid = sid, max = tonumber(max), max_s = max, created_s = created,
          order_s = order, deadline = tonumber(deadline), deadline_s = deadline,
          blob = blob, size = size, raw = raw}
end

local function users_of(meta)
  if not meta.users then meta.users = meta.size > 0 and split_nul(meta.blob, 1) or {} end
  return meta.users
end

-- Whether any of ``users`` is in the lobby: a substring search of the blob for a few users,
-- a set of the lobby's users for a party.
local function holds_any(meta, users)
  if meta.size == 0 then return false end
  if #users <= 4 then
    local padded = '\0' .. meta.blob .. '\0'
    for i = 1, #users do
      if string.find(padded, '\0' .. users[i] .. '\0', 1, true) then return true end
    end
    return false
  end
  local present = {}
  for _, u in ipairs(users_of(meta)) do present[u] = true end
  for i = 1, #users do
    if present[users[i]] then return true end
  end
  return false
end

local function lobby_value(meta)
  if meta.size == 0 then return meta_string(meta) end
  return meta_string(meta) .. '\0' .. meta.blob
end

-- Written whole with SET (APPEND over-allocates), so the value takes what it needs.
local function save_lobby(meta, value)
  meta.raw = value or lobby_value(meta)
  redis.call('SET', lobby_key(meta.id), meta.raw)
end



local function is_due(meta)
  return meta.deadline > 0 and meta.deadline <= NOW
end

-- {'lobby', id, session id, max, created, users joined by NUL}: one string for the users,
-- split by the client, so a large lobby's reply costs no Lua string per user.
local function lobby_reply(meta)
  return {'lobby', meta.id, meta.sid, meta.max_s, meta.created_s, meta.blob}
end

-- ``delta`` as a string.
local function count(field, delta)
  redis.call('HINCRBY', STATS, field, delta)
end

-- The room index of a lobby with ``free`` places, named once per lobby and count.
local function room_of(meta, free)
  local rooms = meta.rooms
  if not rooms then
    rooms = {}
    meta.rooms = rooms
  end
  local key = rooms[free]
  if not key then
    key = room_key(meta.max_s, free)
    rooms[free] = key
  end
  return key
end

-- Check the index keys resize(meta, from, to) will write.
local function check_resize(meta, from, to)
  local max = meta.max
  if from > 0 and from < max then want(room_of(meta, max - from), 'zset') end
  if to > 0 and to < max then want(room_of(meta, max - to), 'zset') end
  if (from > 0 and from < max) ~= (to > 0 and to < max) then want(open_key(meta.max_s), 'zset') end
end

-- Keep the open/room indexes and the full counter in step with a size change.
local function resize(meta, from, to)
  local max = meta.max
  local was_open, is_open = from > 0 and from < max, to > 0 and to < max
  if was_open then redis.call('ZREM', room_of(meta, max - from), meta.id) end
  if is_open then redis.call('ZADD', room_of(meta, max - to), meta.order_s, meta.id) end
  if was_open and not is_open then
    redis.call('ZREM', open_key(meta.max_s), meta.id)
  elseif is_open and not was_open then
    redis.call('ZADD', open_key(meta.max_s), meta.order_s, meta.id)
  end
  if from >= max and to < max then count('full', '-1') end
  if from < max and to >= max then count('full', '1') end
end

-- An event names at most EVENT_USERS of the users it is about, and how many there are.
-- ``joined``: the users already joined by NUL, when the caller has that string.
local function emit(kind, meta, size, users, joined)
  if #users > EVENT_USERS then
    joined = table.concat({unpack(users, 1, EVENT_USERS)}, '\0')
  elseif not joined then
    joined = table.concat(users, '\0')
  end
  if not FIRST_WRITE then
    redis.call('XADD', EVENTS, 'MAXLEN', '~', EVENTS_MAXLEN, '*',
               'type', kind, 'lobby', meta.id, 'max', meta.max_s, 'size', int(size),
               'users', joined, 'n', int(#users))
    bump()
    return
  end
  -- The call's first write (see first_write_is_an_event): a stream of the wrong type
  -- refuses it before anything is written. Any other refusal (out of memory) is raised.
  FIRST_WRITE = false
  local reply = redis.pcall('XADD', EVENTS, 'MAXLEN', '~', EVENTS_MAXLEN, '*',
                            'type', kind, 'lobby', meta.id, 'max', meta.max_s,
                            'size', int(size), 'users', joined, 'n', int(#users))
  if type(reply) == 'table' and reply.err then
    if string.find(tostring(reply.err), 'WRONGTYPE', 1, true) then
      damaged(EVENTS, 'wrong type for XADD')
    end
    error(reply)
  end
  bump()
end

-- For an operation whose first write is an event (an XADD): the change stream is then
-- checked by that write itself, not by a TYPE before it. Every event comes before the
-- operation's other writes (their order in the stream is unchanged; the rest of the
-- script's writes are invisible until it ends anyway).
local function first_write_is_an_event()
  FIRST_WRITE = true
end

-- Check what drop_lobby(meta) writes, and note which users the index still puts in it.
local function check_drop(meta)
  local owned, buckets, users = {}, {}, users_of(meta)
  for i = 1, #users do
    buckets[i] = bucket_key(users[i])
    owned[i] = rd('HGET', buckets[i], users[i]) == meta.id
  end
  meta.owned, meta.buckets = owned, buckets
  check_resize(meta, meta.size, 0)
  if meta.deadline > 0 then want(EXPIRY, 'zset') end
end

-- Delete a lobby and free its users (used by leave, booking and expiry); check_drop first.
local function drop_lobby(meta)
  local users = users_of(meta)
  for i = 1, #users do
    if meta.owned[i] then redis.call('HDEL', meta.buckets[i], users[i]) end
  end
  resize(meta, #users, 0)
  if meta.deadline > 0 then redis.call('ZREM', EXPIRY, meta.id) end
  redis.call('DEL', lobby_key(meta.id))
  count('lobbies', '-1')
end

-- Expiry is planned (read and checked) before the operation's own reads, and applied
-- (expire_planned) with its writes: DOOMED are lobbies to expire, STALE_EXPIRY entries of
-- the expiry index whose lobby is gone.

local function doom(meta)
  if DOOMED_IDS[meta.id] then return end
  check_drop(meta)
  if DOOMED == NONE then DOOMED, DOOMED_IDS = {}, {} end
  DOOMED_IDS[meta.id] = true
  DOOMED[#DOOMED + 1] = meta
  DOOMED_USERS = DOOMED_USERS + meta.size
end

-- Plan the expiry of due lobbies, oldest deadline first, freeing at most ``budget`` users
-- and at most ``lobbies`` lobbies. ``first_anyway``: a first lobby larger than the budget
-- is still taken (sweep_expired, so that every lobby can be swept); without it (inline
-- expiry) such a lobby is skipped, and only the next 16 due entries are looked at.
local function plan_expiry(budget, lobbies, first_anyway)
  local from, taken = 0, 0
  while taken < lobbies do
    -- (Its read checks the expiry index's type.)
    local ids = rd('ZRANGEBYSCORE', EXPIRY, '-inf', now_s(), 'LIMIT', int(from), '16')
    if #ids == 0 then return end
    for i = 1, #ids do
      -- Inline, a lobby whose value is too long to fit the budget's users is not read.
      local too_big = not first_anyway
        and rd('STRLEN', lobby_key(ids[i])) > (budget - DOOMED_USERS) * (MAX_ID_BYTES + 1) + 256
      if not DOOMED_IDS[ids[i]] and not too_big then
        local meta = load_lobby(ids[i])
        if not meta then
          if STALE_EXPIRY == NONE then STALE_EXPIRY = {} end
          STALE_EXPIRY[#STALE_EXPIRY + 1] = ids[i]
          if #STALE_EXPIRY >= 256 then return end
        elseif DOOMED_USERS + meta.size <= budget or (first_anyway and taken == 0) then
          doom(meta)
          taken = taken + 1
          if taken >= lobbies then return end
        elseif first_anyway then
          return
        end
      end
    end
    if not first_anyway then return end
    from = from + #ids
  end
end

-- Expiry's events, then its other writes: apart, for an operation whose first write is an
-- event (first_write_is_an_event); expire_planned() for the others.
local function emit_expired()
  for i = 1, #DOOMED do emit('expired', DOOMED[i], 0, users_of(DOOMED[i])) end
end

local function drop_expired()
  for i = 1, #STALE_EXPIRY do redis.call('ZREM', EXPIRY, STALE_EXPIRY[i]) end
  if #STALE_EXPIRY > 0 then bump() end
  for i = 1, #DOOMED do
    local meta = DOOMED[i]
    drop_lobby(meta)
    count('expired', '1')
    count('expired_users', int(meta.size))
  end
  return #DOOMED
end

local function expire_planned()
  emit_expired()
  return drop_expired()
end

-- A lobby for an operation: nil if absent; a lobby past its deadline is planned for
-- expiry (whatever the budget: the operation needs it gone) and reads as nil.
local function live_lobby(id)
  if DOOMED_IDS[id] then return nil end
  local meta = load_lobby(id)
  if meta and is_due(meta) then
    doom(meta)
    return nil
  end
  return meta
end

-- A pool's key names, made on its first call: in the library they outlive the call (a few
-- pools' worth: the table starts over after 64), as a script they are made on every call.
local NAMES, NAMED = {}, 0

-- Every operation is ``run(main, keys, args)``: {write sequence, main's reply or the reply
-- it stopped with}.
local function run(main, keys, args)
  KEYS, ARGV = keys, args
  STATS = keys[1]
  local names = NAMES[STATS]
  if not names then
    PREFIX = string.sub(STATS, 1, -6)
    names = {PREFIX, PREFIX .. 'events', PREFIX .. 'seq', PREFIX .. 'meta', PREFIX .. 'expiry',
             PREFIX .. 'bookings'}
    if NAMED >= 64 then NAMES, NAMED = {}, 0 end
    NAMES[STATS], NAMED = names, NAMED + 1
  end
  PREFIX, EVENTS, SEQ, META, EXPIRY, BOOKINGS = unpack(names)
  EPOCH = table.remove(ARGV, 1)
  SEEN = table.remove(ARGV, 1)
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  NOW_S, STOPPED, ZSEEN, FIRST_WRITE, WSEQ, BUMPED = nil, nil, NONE, false, -1, false
  DOOMED, DOOMED_IDS, DOOMED_USERS, STALE_EXPIRY = NONE, NONE, 0, NONE
  local ok, reply = pcall(main)
  if ok then return {WSEQ, reply} end
  if reply == STOP then return {WSEQ, STOPPED} end
  error(reply, 0)
end
