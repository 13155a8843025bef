-- join: put one user (find_or_create_lobby) or a party (join_party) into the oldest open
-- lobby of their capacity with room for all of them, or into a new lobby.
-- ARGV: 1 max_users, 2 new lobby id (also the call's id), 3 new session id,
--       4 ttl ms (0 = never), 5 replay window ms (0 = none), 6.. user ids (distinct).
-- Safe to replay: users still placed get their lobby back; a replay of a call whose users
-- have since been booked, or have left, gets the call's first answer instead of being
-- placed again (for the replay window).
local max = tonumber(ARGV[1])
local users, buckets = {}, {}
for i = 6, #ARGV do
  users[#users + 1] = ARGV[i]
  buckets[#buckets + 1] = bucket_key(ARGV[i])
end
local k = #users

expire_due(EXPIRE_PER_CALL)

-- Idempotent join: all already in one lobby -> that lobby; some placed otherwise -> refuse.
local current, placed_user, placed = nil, nil, 0
for i = 1, k do
  local lid = redis.call('HGET', buckets[i], users[i])
  if lid then
    local meta = live_lobby(lid)
    if meta then
      if current and current.id ~= meta.id then
        return {'in_lobby', users[i], meta.id}
      end
      current, placed_user, placed = meta, users[i], placed + 1
    else
      redis.call('HDEL', buckets[i], users[i])
    end
  end
end
if placed == k then return lobby_reply(current) end
if placed > 0 then return {'in_lobby', placed_user, current.id} end

-- The join's answer is kept in field <call id> of hash jr:<ms>:<window>:<bucket> (see
-- common.lua) of the current window, and a replay looks in this window and the one before;
-- a fresh join thus reads two fields and adds one, and no key is made per join.
local replay_ms, replay_w, replay_sub = tonumber(ARGV[5]), 0, ''
local function replay_key(w)
  return PREFIX .. 'jr:' .. int(replay_ms) .. ':' .. int(w) .. ':' .. replay_sub
end
if replay_ms > 0 then
  replay_w, replay_sub = math.floor(NOW / replay_ms), replay_bucket(ARGV[2])
  local earlier = redis.call('HGET', replay_key(replay_w), ARGV[2])
    or redis.call('HGET', replay_key(replay_w - 1), ARGV[2])
  if earlier then
    -- This very call ran before (its answer was lost): answer the same, place nobody.
    local f = split_nul(earlier, 1)
    local reply = {'lobby', f[1], f[2], tonumber(f[3]), tonumber(f[4])}
    for i = 5, #f do reply[#reply + 1] = f[i] end
    return reply
  end
end

-- Oldest open lobby of this capacity with room for k: the head of open:<max> for one user,
-- the oldest head among room:<max>:<k..max-1> for a party. Bounded by max, not pool size.
local target
for _ = 1, 8 do
  local id
  if k == 1 then
    id = redis.call('ZRANGE', open_key(max), 0, 0)[1]
  else
    local best
    for free = k, max - 1 do
      local head = redis.call('ZRANGE', room_key(max, free), 0, 0, 'WITHSCORES')
      if head[1] and (best == nil or tonumber(head[2]) < best) then
        best, id = tonumber(head[2]), head[1]
      end
    end
  end
  if not id then break end
  local meta = load_lobby(id)
  if not meta then
    -- Only possible if a key was deleted behind our back (e.g. eviction): drop the stale entry.
    redis.call('ZREM', open_key(max), id)
    for free = 1, max - 1 do redis.call('ZREM', room_key(max, free), id) end
  elseif is_due(meta) then
    expire_lobby(meta)
  else
    target = meta
    break
  end
end

if not target then
  if redis.call('EXISTS', lobby_key(ARGV[2])) == 1 then return {'id_taken', ARGV[2]} end
  local ttl = tonumber(ARGV[4])
  target = {id = ARGV[2], sid = ARGV[3], max = max, created = NOW,
            order = redis.call('INCR', SEQ), deadline = 0, users = {}}
  if ttl > 0 then target.deadline = NOW + ttl end
  if target.deadline > 0 then redis.call('ZADD', EXPIRY, int(target.deadline), target.id) end
  count('lobbies', 1)
  count('created', 1)
  emit('created', target, 0, {})
end

local size = #target.users
for i = 1, k do
  redis.call('HSET', buckets[i], users[i], target.id)
  target.users[size + i] = users[i]
end
save_lobby(target)
resize(target, size, size + k)
count('joins', k)
emit('joined', target, size + k, users)
if size + k >= max then emit('full', target, size + k, {}) end
if replay_ms > 0 then
  local answer = {target.id, target.sid, int(max), int(target.created)}
  for i = 1, #target.users do answer[#answer + 1] = target.users[i] end
  local key = replay_key(replay_w)
  redis.call('HSET', key, ARGV[2], table.concat(answer, '\0'))
  -- The first answer of this window's hash sets its expiry (NX), three windows after the
  -- window began, and UNLINKs the bucket's hash of two windows ago, whose answers are all
  -- older than a window: freed in the background (a whole window's answers; freeing them
  -- inline, as Redis's own expiry does by default, stalled the server for about 100 ms).
  -- The expiry only frees the hashes of a pool whose joins stopped.
  if redis.call('PEXPIREAT', key, int((replay_w + 3) * replay_ms), 'NX') == 1 then
    redis.call('UNLINK', replay_key(replay_w - 2))
  end
end
return lobby_reply(target)
