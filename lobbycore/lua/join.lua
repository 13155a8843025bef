-- join: put one user (find_or_create_lobby) or a party (join_party) into the oldest open
-- lobby of their capacity with room for all of them, or into a new lobby.
-- ARGV: 1 max_users, 2 new lobby id (also the call's id), 3 new session id,
--       4 ttl ms (0 = never), 5 replay window ms (0 = none), 6.. user ids (distinct).
-- Safe to replay: users still placed get their lobby back; a replay of a call whose users
-- have since been booked, or have left, gets the call's first answer instead of being
-- placed again (for the replay window).

-- Add users at the end. A large lobby (4 kB or more) is APPENDed to, so that a join costs
-- what it adds rather than the lobby's size (Redis may then hold up to twice the value's
-- bytes for it); a small one is rewritten whole, which keeps it compact.
local APPEND_FROM = 4096
-- The value is extended, not rebuilt: users follow the metadata, each after a NUL. A new
-- lobby (not saved yet) is saved whole.
local function add_users(meta, users, added)
  local raw = meta.raw
  if meta.size == 0 then meta.blob = added else meta.blob = meta.blob .. '\0' .. added end
  meta.size = meta.size + #users
  meta.users = nil
  if raw and #raw >= APPEND_FROM then
    redis.call('APPEND', lobby_key(meta.id), '\0' .. added)
    meta.raw = nil
  else
    save_lobby(meta, (raw or meta_string(meta)) .. '\0' .. added)
  end
end

local function main()
  local max_s, call_id = ARGV[1], ARGV[2]
  local max = tonumber(max_s)
  local users = {unpack(ARGV, 6)}
  local k = #users
  local buckets = {}
  for i = 1, k do buckets[i] = bucket_key(users[i]) end

  -- Reads and checks; nothing is written before the last of them. (Due lobbies are looked
  -- for only by a join that makes a lobby, and at the head of the fill order below.)
  local high = check_epoch('jw')

  -- Idempotent join: all already in one lobby -> that lobby; some placed otherwise -> refuse.
  local current, placed_user, placed = nil, nil, 0
  for i = 1, k do
    local lid = rd('HGET', buckets[i], users[i])
    if lid then
      local meta = live_lobby(lid)
      if meta then
        if current and current.id ~= meta.id then
          return {'in_lobby', users[i], meta.id}
        end
        current, placed_user, placed = meta, users[i], placed + 1
      end
    end
  end
  if placed == k then return lobby_reply(current) end
  if placed > 0 then return {'in_lobby', placed_user, current.id} end

  -- The join's answer is kept in field <call id> of hash jr:<ms>:<window>:<bucket> (see
  -- common.lua) of the current window, and a replay looks in this window and the one
  -- before; a fresh join reads two fields and adds one, and no key is made per join. The
  -- answer kept is "lobby id, session id, max, created, size" (bounded, whatever the
  -- lobby's size); a replay rebuilds the users as the first <size> users of the lobby, or
  -- of its booking record (users keep their join order), which is the first answer unless
  -- one of them left meanwhile; if that lost the call's own users, it answers those.
  local replay_ms, replay_w, replay_sub, replay_fresh = tonumber(ARGV[5]), 0, '', false
  local replay_prefix = PREFIX .. 'jr:' .. ARGV[5] .. ':'
  local replay_now  -- this window's hash
  if not is_int(high) then damaged(META, 'bad jw field') end
  high = tonumber(high) or 0
  if replay_ms > 0 then
    -- This window, or the latest one used if the server's clock went back a little (see
    -- common.lua: the window never goes backwards, so a replay still finds its answer).
    replay_w, replay_sub = math.floor(NOW / replay_ms), ':' .. replay_bucket(call_id)
    local high_w = math.floor(high / replay_ms)
    if high_w > replay_w and high_w - replay_w <= REPLAY_HOLD_WINDOWS then replay_w = high_w end
    replay_now = replay_prefix .. int(replay_w) .. replay_sub
    local earlier = rd('HGET', replay_now, call_id)
      or rd('HGET', replay_prefix .. int(replay_w - 1) .. replay_sub, call_id)
    if earlier then
      -- This very call ran before (its answer was lost): answer the same, place nobody.
      local f = split_nul(earlier, 1)
      local reply = {'lobby', f[1], f[2], f[3], f[4], ''}
      local size, source = tonumber(f[5]), nil
      local lobby = load_lobby(f[1])
      if lobby then
        source = users_of(lobby)
      else
        source = rd('LRANGE', booking_key(f[1]), '4', int(3 + size))
      end
      local answer, found = {}, 0
      for i = 1, math.min(size, #source) do
        answer[i] = source[i]
        for j = 1, k do
          if source[i] == users[j] then found = found + 1 end
        end
      end
      if found < k then answer = users end
      reply[6] = table.concat(answer, '\0')
      return reply
    end
    replay_fresh = rd('EXISTS', replay_now) == 0
  end

  -- Oldest open lobby of this capacity with room for k: the head of open:<max> for one
  -- user, the oldest head among room:<max>:<k..max-1> for a party. Bounded by max, not pool
  -- size. Room is checked on the lobby value itself; an index entry that disagrees with it
  -- (only possible after damage, e.g. eviction) is dropped and the next candidate tried.
  local candidates = {}
  local open = open_key(max_s)
  if k == 1 then
    local ids = rd('ZRANGE', open, '0', '7')
    for i = 1, #ids do candidates[i] = {id = ids[i], key = open} end
  else
    for free = k, max - 1 do
      local key = room_key(max_s, free)
      local head = rd('ZRANGE', key, '0', '7', 'WITHSCORES')
      for i = 1, #head, 2 do
        candidates[#candidates + 1] = {id = head[i], key = key, score = tonumber(head[i + 1])}
      end
    end
    table.sort(candidates, function(a, b) return a.score < b.score end)
  end

  local target, stale = nil, {}
  for i = 1, math.min(#candidates, 8) do
    local c = candidates[i]
    local meta = not DOOMED_IDS[c.id] and load_lobby(c.id)
    if meta and is_due(meta) then
      -- Expired now if the budget allows, else left for a later call; never a target.
      if DOOMED_USERS + meta.size <= EXPIRE_USERS_PER_CALL then doom(meta) end
    elseif meta then
      local room = meta.max == max and meta.size + k <= max
      if room and not holds_any(meta, users) then
        target = meta
        break
      end
      if not room then
        -- Listed with room it does not have: drop the entry; the open listing too if the
        -- lobby is full or of another capacity.
        c.from_open = meta.max ~= max or meta.size >= max
        stale[#stale + 1] = c
      end
    elseif meta == nil then
      c.from_open = true
      stale[#stale + 1] = c
    end
  end

  local size, created = 0, false
  if target then
    size = target.size
  else
    if rd('GET', lobby_key(call_id)) then return {'id_taken', call_id} end
    -- A lobby id is never made again once booked: this call made that lobby and is now
    -- retried too late for its answer to be kept (its users were booked, or left after).
    local booked = booked_key(call_id)
    if rd('HEXISTS', booked, call_id) == 1 then return {'booked_before', call_id} end
    local seq = rd('GET', SEQ)
    if not is_int(seq) then damaged(SEQ, 'not an integer') end
    local ttl = tonumber(ARGV[4])
    target = {id = call_id, sid = ARGV[3], max = max, max_s = max_s, created_s = now_s(),
              order_s = int((tonumber(seq) or 0) + 1), deadline = 0, deadline_s = '0',
              blob = '', size = 0}
    if ttl > 0 then
      target.deadline = NOW + ttl
      target.deadline_s = int(target.deadline)
    end
    created = true
    plan_expiry(EXPIRE_USERS_PER_CALL, EXPIRE_USERS_PER_CALL, false)
  end
  check_resize(target, size, size + k)
  want(open, 'zset')  -- a stale entry's own key was read above; open:<max> may be written
  -- The counters this join increments (expiry's and creation's only when it expires or
  -- creates a lobby).
  if #DOOMED > 0 then
    check_counters('joins', 'full', 'lobbies', 'created', 'expired', 'expired_users')
  elseif created then
    check_counters('joins', 'full', 'lobbies', 'created')
  elseif size + k >= max then
    check_counters('joins', 'full')
  else
    check_counters('joins')
  end
  local added = table.concat(users, '\0')

  -- Writes: the events first, the first of them checking the change stream.
  first_write_is_an_event()
  emit_expired()
  if created then emit('created', target, 0, {}, '') end
  emit('joined', target, size + k, users, added)
  if size + k >= max then emit('full', target, size + k, {}, '') end
  drop_expired()
  for i = 1, #stale do
    redis.call('ZREM', stale[i].key, stale[i].id)
    if stale[i].from_open and stale[i].key ~= open then redis.call('ZREM', open, stale[i].id) end
  end
  if created then
    redis.call('INCR', SEQ)
    if target.deadline > 0 then redis.call('ZADD', EXPIRY, target.deadline_s, target.id) end
    count('lobbies', '1')
    count('created', '1')
  end
  for i = 1, k do redis.call('HSET', buckets[i], users[i], target.id) end
  add_users(target, users, added)
  resize(target, size, size + k)
  count('joins', int(k))
  if replay_ms > 0 then
    local key = replay_now
    redis.call('HSET', key, call_id,
               target.id .. '\0' .. target.sid .. '\0' .. max_s .. '\0' .. target.created_s
                 .. '\0' .. int(size + k))
    -- The first answer of this window's hash sets its expiry, three windows after the
    -- window began, and UNLINKs the bucket's hash of two windows ago, whose answers are all
    -- older than a window: freed in the background (a whole window's answers; freeing them
    -- inline, as Redis's own expiry does by default, stalled the server for about 100 ms).
    -- The expiry only frees the hashes of a pool whose joins stopped. (EXISTS before the
    -- HSET rather than PEXPIREAT NX, which Redis 6.2 lacks.)
    if replay_fresh then
      redis.call('PEXPIREAT', key, int((replay_w + 3) * replay_ms))
      redis.call('UNLINK', replay_prefix .. int(replay_w - 2) .. replay_sub)
    end
    if replay_w * replay_ms > high then redis.call('HSET', META, 'jw', int(replay_w * replay_ms)) end
  end
  return lobby_reply(target)
end
