#!lua name=lobbysim_experiment
-- EXPERIMENT (benchmarks only, not used by lobbycore): today's join (lobbycore/lua/common.lua
-- + join.lua as of commit 3a25089) as a Redis Function, with the same keys, the same
-- values written and the same replies, changed only in how the work is done:
--   * helpers and constant tables are made once, when the library is loaded, instead of
--     about 20 closures on every call;
--   * no string.format('%d') on the common path: small numbers come from a table of their
--     decimal strings made at load time, and ARGV strings and reply strings are passed to
--     redis.call as they came (a Lua number argument costs Redis an snprintf('%.17g'));
--   * the lobby value is parsed with one string.match for its metadata and one gmatch for
--     its users, and extended by concatenation instead of being split and rebuilt.
-- FUNCTION LOAD needs no flags here: without 'allow-oom' Redis refuses the call up front
-- when it is over maxmemory (never half-way through), and without 'allow-cross-slot-keys'
-- every key must share the slot of KEYS[1], which the pool's hash tag already ensures.

-- Redis 7.0 gives a library no string or math table while it loads, so the library-wide
-- locals below are filled by init() on the first call.
local byte, sub, find, match, gmatch, concat, floor, format

local EVENTS_MAXLEN = '10000'
local EXPIRE_PER_CALL = '4'
local REPLAY_BUCKETS = 16
local USER_BUCKETS = 4096

-- Decimal strings of 0 .. USER_BUCKETS, made once: bucket numbers, sizes, free places.
local DEC

local function init()
  byte, sub, find, match, gmatch = string.byte, string.sub, string.find, string.match,
    string.gmatch
  concat, floor, format = table.concat, math.floor, string.format
  DEC = {}
  for i = 0, USER_BUCKETS do DEC[i] = format('%d', i) end
end

local function dec(n)
  return DEC[n] or format('%d', n)
end

-- Per-call state, set at the start of every call (Redis runs one call at a time).
local PREFIX, STATS, EVENTS, EXPIRY, SEQ, NOW

local function bucket_key(user)
  local n = #user
  local h = n
  for i = 1, (n < 8 and n or 8) do h = (h * 31 + byte(user, i)) % USER_BUCKETS end
  for i = (n - 7 > 9 and n - 7 or 9), n do h = (h * 31 + byte(user, i)) % USER_BUCKETS end
  return PREFIX .. 'u:' .. DEC[h]
end

local function replay_bucket(id)
  local h = #id
  for i = (#id > 3 and #id - 2 or 1), #id do h = (h * 31 + byte(id, i)) % REPLAY_BUCKETS end
  return DEC[h]
end

-- A lobby: '\0' .. 'sid|max|created|order|deadline', then '\0' .. user for each user.
local function load_lobby(id)
  local raw = redis.call('GET', PREFIX .. 'l:' .. id)
  if not raw or byte(raw, 1) ~= 0 then return nil end
  local stop = find(raw, '\0', 2, true) or (#raw + 1)
  local sid, max, created, order, deadline = match(sub(raw, 2, stop - 1),
    '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  local users = {}
  for u in gmatch(sub(raw, stop), '%z([^%z]+)') do users[#users + 1] = u end
  return {id = id, raw = raw, sid = sid, max = max, created = created, order = order,
          deadline = tonumber(deadline), users = users}
end

local function is_due(meta)
  return meta.deadline > 0 and meta.deadline <= NOW
end

local function lobby_reply(meta)
  local reply = {'lobby', meta.id, meta.sid, tonumber(meta.max), tonumber(meta.created)}
  local users = meta.users
  for i = 1, #users do reply[i + 5] = users[i] end
  return reply
end

local function count(field, delta)
  redis.call('HINCRBY', STATS, field, delta)
end

local function open_key(max) return PREFIX .. 'open:' .. max end
local function room_key(max, free) return PREFIX .. 'room:' .. max .. ':' .. dec(free) end

-- Keep the open/room indexes and the full counter in step with a size change.
local function resize(meta, from, to)
  local max, nmax = meta.max, tonumber(meta.max)
  local was_open, is_open = from > 0 and from < nmax, to > 0 and to < nmax
  if was_open then redis.call('ZREM', room_key(max, nmax - from), meta.id) end
  if is_open then redis.call('ZADD', room_key(max, nmax - to), meta.order, meta.id) end
  if was_open and not is_open then
    redis.call('ZREM', open_key(max), meta.id)
  elseif is_open and not was_open then
    redis.call('ZADD', open_key(max), meta.order, meta.id)
  end
  if from >= nmax and to < nmax then count('full', '-1') end
  if from < nmax and to >= nmax then count('full', '1') end
end

local function emit(kind, meta, size, users, ...)
  redis.call('XADD', EVENTS, 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'type', kind, 'lobby', meta.id,
       'max', meta.max, 'size', dec(size), 'users', concat(users, '\0'), ...)
end

local function drop_lobby(meta)
  local users = meta.users
  for i = 1, #users do
    local bucket = bucket_key(users[i])
    if redis.call('HGET', bucket, users[i]) == meta.id then redis.call('HDEL', bucket, users[i]) end
  end
  resize(meta, #users, 0)
  if meta.deadline > 0 then redis.call('ZREM', EXPIRY, meta.id) end
  redis.call('DEL', PREFIX .. 'l:' .. meta.id)
  count('lobbies', '-1')
end

local function expire_lobby(meta)
  drop_lobby(meta)
  count('expired', '1')
  count('expired_users', dec(#meta.users))
  emit('expired', meta, 0, meta.users)
end

local function expire_due(limit)
  local ids = redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', format('%d', NOW), 'LIMIT', '0',
                   limit)
  for i = 1, #ids do
    local meta = load_lobby(ids[i])
    if meta then expire_lobby(meta) else redis.call('ZREM', EXPIRY, ids[i]) end
  end
end

local function live_lobby(id)
  local meta = load_lobby(id)
  if meta and is_due(meta) then
    expire_lobby(meta)
    return nil
  end
  return meta
end

-- ARGV: 1 max_users, 2 new lobby id (also the call's id), 3 new session id,
--       4 ttl ms (0 = never), 5 replay window ms (0 = none), 6.. user ids (distinct).
-- structural: false = today's state exactly; true = variant B (changes what is written):
-- the expiry probe and the replay hashes' expiry/UNLINK only in joins that create a lobby,
-- and one event per join ('joined', with 'created' and 'full' flags when they apply).
local function join(keys, args, structural)
  if not DEC then init() end
  STATS = keys[1]
  PREFIX = sub(STATS, 1, -6)
  EVENTS, EXPIRY, SEQ = PREFIX .. 'events', PREFIX .. 'expiry', PREFIX .. 'seq'
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)

  local max, nmax = args[1], tonumber(args[1])
  local users, buckets = {}, {}
  for i = 6, #args do
    users[#users + 1] = args[i]
    buckets[#buckets + 1] = bucket_key(args[i])
  end
  local k = #users

  if not structural then expire_due(EXPIRE_PER_CALL) end

  local current, placed_user, placed = nil, nil, 0
  for i = 1, k do
    local lid = redis.call('HGET', buckets[i], users[i])
    if lid then
      local meta = live_lobby(lid)
      if meta then
        if current and current.id ~= meta.id then return {'in_lobby', users[i], meta.id} end
        current, placed_user, placed = meta, users[i], placed + 1
      else
        redis.call('HDEL', buckets[i], users[i])
      end
    end
  end
  if placed == k then return lobby_reply(current) end
  if placed > 0 then return {'in_lobby', placed_user, current.id} end

  local replay_ms, replay_w, replay_sub = tonumber(args[5]), 0, ''
  local function replay_key(w)
    return PREFIX .. 'jr:' .. args[5] .. ':' .. format('%d', w) .. ':' .. replay_sub
  end
  if replay_ms > 0 then
    replay_w, replay_sub = floor(NOW / replay_ms), replay_bucket(args[2])
    local earlier = redis.call('HGET', replay_key(replay_w), args[2])
      or redis.call('HGET', replay_key(replay_w - 1), args[2])
    if earlier then
      local f = {}
      for field in gmatch(earlier, '[^%z]+') do f[#f + 1] = field end
      local reply = {'lobby', f[1], f[2], tonumber(f[3]), tonumber(f[4])}
      for i = 5, #f do reply[#reply + 1] = f[i] end
      return reply
    end
  end

  local target
  for _ = 1, 8 do
    local id
    if k == 1 then
      id = redis.call('ZRANGE', open_key(max), '0', '0')[1]
    else
      local best
      for free = k, nmax - 1 do
        local head = redis.call('ZRANGE', room_key(max, free), '0', '0', 'WITHSCORES')
        if head[1] and (best == nil or tonumber(head[2]) < best) then
          best, id = tonumber(head[2]), head[1]
        end
      end
    end
    if not id then break end
    local meta = load_lobby(id)
    if not meta then
      redis.call('ZREM', open_key(max), id)
      for free = 1, nmax - 1 do redis.call('ZREM', room_key(max, free), id) end
    elseif is_due(meta) then
      expire_lobby(meta)
    else
      target = meta
      break
    end
  end

  if not target then
    if redis.call('EXISTS', PREFIX .. 'l:' .. args[2]) == 1 then return {'id_taken', args[2]} end
    if structural then expire_due(EXPIRE_PER_CALL) end
    local ttl = tonumber(args[4])
    local created = format('%d', NOW)
    local order = format('%d', redis.call('INCR', SEQ))
    local deadline = ttl > 0 and NOW + ttl or 0
    local deadline_s = format('%d', deadline)
    target = {id = args[2], sid = args[3], max = max, created = created, order = order,
              deadline = deadline, users = {}}
    target.raw = '\0' .. args[3] .. '|' .. max .. '|' .. created .. '|' .. order .. '|'
      .. deadline_s
    if deadline > 0 then redis.call('ZADD', EXPIRY, deadline_s, target.id) end
    count('lobbies', '1')
    count('created', '1')
    if not structural then emit('created', target, 0, {}) end
  end

  local size = #target.users
  local raw = target.raw
  for i = 1, k do
    redis.call('HSET', buckets[i], users[i], target.id)
    target.users[size + i] = users[i]
    raw = raw .. '\0' .. users[i]
  end
  redis.call('SET', PREFIX .. 'l:' .. target.id, raw)
  resize(target, size, size + k)
  count('joins', dec(k))
  if not structural then
    emit('joined', target, size + k, users)
    if size + k >= nmax then emit('full', target, size + k, {}) end
  elseif size + k >= nmax then
    emit('joined', target, size + k, users, 'created', size == 0 and '1' or '0', 'full', '1')
  elseif size == 0 then
    emit('joined', target, size + k, users, 'created', '1')
  else
    emit('joined', target, size + k, users)
  end
  if replay_ms > 0 then
    local answer = {target.id, target.sid, max, target.created}
    for i = 1, #target.users do answer[#answer + 1] = target.users[i] end
    local key = replay_key(replay_w)
    redis.call('HSET', key, args[2], concat(answer, '\0'))
    if (not structural or size == 0)
      and redis.call('PEXPIREAT', key, format('%d', (replay_w + 3) * replay_ms), 'NX') == 1 then
      redis.call('UNLINK', replay_key(replay_w - 2))
    end
  end
  return lobby_reply(target)
end

redis.register_function('lobbysim_experiment_join', function(keys, args)
  return join(keys, args, false)
end)
redis.register_function('lobbysim_experiment_join_b', function(keys, args)
  return join(keys, args, true)
end)
