-- leave: take a user out of their lobby. An emptied lobby is deleted; a full lobby that
-- loses a user is listed again at its original place in the fill order.
-- ARGV: 1 user id. Safe to replay: a second leave finds no lobby.

-- Remove one user (known to be in the lobby) and save.
local function remove_user(meta, user)
  local padded = '\0' .. meta.blob .. '\0'
  local at = string.find(padded, '\0' .. user .. '\0', 1, true)
  padded = string.sub(padded, 1, at) .. string.sub(padded, at + #user + 2)
  meta.blob = string.sub(padded, 2, -2)
  meta.size = meta.size - 1
  meta.users = nil
  save_lobby(meta)
end

local function main()
  local user = ARGV[1]
  local bucket = bucket_key(user)

  -- Reads and checks; nothing is written before the last of them.
  check_epoch()
  plan_expiry(EXPIRE_USERS_PER_CALL, EXPIRE_USERS_PER_CALL, false)
  local lid = rd('HGET', bucket, user)
  local meta = lid and live_lobby(lid)
  local at = meta and holds_any(meta, {user})
  local size = meta and meta.size or 0
  if at then
    if size == 1 then check_drop(meta) else check_resize(meta, size, size - 1) end
  end
  -- The counters this leave increments (those of expiry only when it expires a lobby).
  local drops = at and size == 1
  if #DOOMED > 0 then
    check_counters('leaves', 'lobbies', 'full', 'expired', 'expired_users')
  elseif drops then
    check_counters('leaves', 'lobbies', 'full')
  elseif at then
    check_counters('leaves', 'full')
  end

  -- Writes: the events first, the first of them checking the change stream (a leave that
  -- writes no event writes only keys it has read).
  first_write_is_an_event()
  emit_expired()
  if at then emit('left', meta, size - 1, {user}, user) end
  drop_expired()
  if not at then
    -- No lobby, or an index entry its lobby does not back (expired now, or damage).
    if lid and not DOOMED_IDS[lid] then
      redis.call('HDEL', bucket, user)
      bump()
    end
    return {'none'}
  end
  count('leaves', '1')
  if size == 1 then
    drop_lobby(meta)
    return {'none'}
  end
  redis.call('HDEL', bucket, user)
  remove_user(meta, user)
  resize(meta, size, size - 1)
  return lobby_reply(meta)
end
