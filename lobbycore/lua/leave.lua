-- leave: take a user out of their lobby. An emptied lobby is deleted; a full lobby that
-- loses a user is listed again at its original place in the fill order.
-- ARGV: 1 user id. Safe to replay: a second leave finds no lobby.
local user = ARGV[1]
local bucket = bucket_key(user)
expire_due(EXPIRE_PER_CALL)

local lid = redis.call('HGET', bucket, user)
if not lid then return {'none'} end
local meta = live_lobby(lid)
if not meta then
  redis.call('HDEL', bucket, user)
  return {'none'}
end

local size = #meta.users
redis.call('HDEL', bucket, user)
count('leaves', 1)
if size == 1 then
  meta.users = {}
  resize(meta, 1, 0)
  drop_lobby(meta)
  emit('left', meta, 0, {user})
  return {'none'}
end
for i = 1, size do
  if meta.users[i] == user then table.remove(meta.users, i) break end
end
save_lobby(meta)
resize(meta, size, size - 1)
emit('left', meta, size - 1, {user})
return lobby_reply(meta)
