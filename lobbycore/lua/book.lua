-- book: book a lobby once. The lobby is deleted, its users freed, seats taken, and the
-- booking appended to the durable bookings stream and kept under b:<lobby id> so that
-- later calls can be answered: same request id -> the booking again, else already_booked.
-- ARGV: 1 lobby id, 2 request id, 3 booking record ttl ms.
local lid, rid = ARGV[1], ARGV[2]
expire_due(EXPIRE_PER_CALL)

local meta = live_lobby(lid)
if not meta then
  local rec = redis.call('LRANGE', booking_key(lid), 0, -1)
  if #rec == 0 then return {'not_found', lid} end
  -- rec: session id, booked at, request id, max, users...
  local reply = {'already_booked', lid}
  if rec[3] == rid then reply[1] = 'booked' end
  for i = 1, #rec do reply[#reply + 1] = rec[i] end
  return reply
end

local users = meta.users
local n = #users
if n == 0 then return {'not_found', lid} end

local seats = redis.call('GET', SEATS)
if seats then
  if tonumber(seats) < n then return {'sold_out', tonumber(seats), n} end
  redis.call('DECRBY', SEATS, n)
end

drop_lobby(meta)
count('bookings', 1)
count('booked_users', n)

local rec = {meta.sid, int(NOW), rid, int(meta.max)}
for i = 1, n do rec[#rec + 1] = users[i] end
redis.call('RPUSH', booking_key(lid), unpack(rec))
redis.call('PEXPIRE', booking_key(lid), ARGV[3])
redis.call('XADD', BOOKINGS, '*', 'lobby', lid, 'session', meta.sid, 'request', rid,
           'at', int(NOW), 'max', meta.max, 'users', table.concat(users, '\0'))
emit('booked', meta, 0, users)

local reply = {'booked', lid}
for i = 1, #rec do reply[#reply + 1] = rec[i] end
return reply
