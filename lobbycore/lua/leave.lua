-- leave: take a user out of their lobby. An emptied lobby is deleted; a full lobby that
-- loses a user is listed again at its original place in the fill order.
-- ARGV: 1 prefix, 2 user id. Safe to replay: a second leave finds no lobby.
local user = ARGV[2]
expire_due(EXPIRE_PER_CALL)

local lid = redis.call('HGET', USERS, user)
if not lid then return {'none'} end
local meta = live_lobby(lid)
if not meta then
  redis.call('HDEL', USERS, user)
  return {'none'}
end

local size = redis.call('LLEN', lobby_key(lid)) - 1
unlist(meta, size)
if size >= meta.max then count('full', -1) end
redis.call('LREM', lobby_key(lid), 1, user)
redis.call('HDEL', USERS, user)
size = size - 1
count('leaves', 1)
if size == 0 then
  drop_lobby(meta, {})
  emit('left', meta, 0, {user})
  return {'none'}
end
list(meta, size)
emit('left', meta, size, {user})
return lobby_reply(meta)
