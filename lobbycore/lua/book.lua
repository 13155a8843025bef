-- book: book a lobby once. The lobby is deleted, its users freed, seats taken, and the
-- booking appended to the durable bookings stream and kept under b:<lobby id> so that
-- later calls can be answered: same request id -> the booking again, else already_booked.
-- The lobby id is marked booked (bx:<bucket>) for good: no join makes it again.
-- ARGV: 1 lobby id, 2 request id, 3 booking record ttl ms.
local function main()
  local lid, rid = ARGV[1], ARGV[2]

  -- Reads and checks; nothing is written before the last of them.
  local seats = check_pool()
  plan_expiry(EXPIRE_USERS_PER_CALL, EXPIRE_USERS_PER_CALL, false)
  local meta = live_lobby(lid)
  local record = booking_key(lid)
  if not meta or meta.size == 0 then
    local rec = rd('LRANGE', record, 0, -1)
    if #DOOMED > 0 then check_counters('lobbies', 'full', 'expired', 'expired_users') end
    first_write_is_an_event()
    expire_planned()
    if #rec == 0 then return {'not_found', lid} end
    -- rec: session id, booked at, request id, max, users...
    local reply = {'already_booked', lid}
    if rec[3] == rid then reply[1] = 'booked' end
    for i = 1, #rec do reply[#reply + 1] = rec[i] end
    return reply
  end
  local n = meta.size
  if seats and seats < n then return {'sold_out', seats, n} end
  want(BOOKINGS, 'stream')
  want(record, 'list')
  local booked = booked_key(lid)
  want(booked, 'hash')
  check_drop(meta)
  local users = users_of(meta)
  -- The counters this booking increments (those of expiry only when it expires a lobby).
  if #DOOMED > 0 then
    check_counters('bookings', 'booked_users', 'lobbies', 'full', 'expired', 'expired_users')
  else
    check_counters('bookings', 'booked_users', 'lobbies', 'full')
  end

  -- Writes: the events first, the first of them checking the change stream; then the
  -- durable record, the answer for retries, the seats, and the lobby's removal.
  first_write_is_an_event()
  emit_expired()
  emit('booked', meta, 0, users)
  drop_expired()
  redis.call('XADD', BOOKINGS, '*', 'lobby', lid, 'session', meta.sid, 'request', rid,
             'at', now_s(), 'max', meta.max_s, 'users', meta.blob)
  local rec = {meta.sid, now_s(), rid, meta.max_s}
  for i = 1, n do rec[#rec + 1] = users[i] end
  redis.call('DEL', record)
  redis.call('RPUSH', record, unpack(rec))
  redis.call('PEXPIRE', record, ARGV[3])
  redis.call('HSET', booked, lid, now_s())
  if seats then redis.call('HINCRBY', META, 'seats', int(-n)) end
  drop_lobby(meta)
  count('bookings', '1')
  count('booked_users', int(n))

  local reply = {'booked', lid}
  for i = 1, #rec do reply[#reply + 1] = rec[i] end
  return reply
end
