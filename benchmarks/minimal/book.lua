-- Minimal reference booking (benchmarks only), for the pool of the minimal join (join.lua):
-- book a lobby once. Seats are taken (never oversold), the lobby is deleted, its users
-- freed, and the booking appended to a bookings stream (a booking nobody can read is not a
-- booking). Nothing else: no events, no expiry, no counters, no record answering retries
-- (a second call finds no lobby).
-- KEYS[1] users (see join.lua); also seats (string, absent = unlimited), bookings (stream).
-- ARGV: 1 lobby id. Reply: {'booked', lobby id, users...}, {'not_found', lobby id} or
-- {'sold_out', seats left, users}.
local users = KEYS[1]
local prefix = string.sub(users, 1, -6)
local lid = ARGV[1]
local key = prefix .. 'l:' .. lid
local list = redis.call('LRANGE', key, '0', '-1')
if #list < 2 then return {'not_found', lid} end
local n = #list - 1
local seats = redis.call('GET', prefix .. 'seats')
if seats then
  if tonumber(seats) < n then return {'sold_out', tonumber(seats), n} end
  redis.call('DECRBY', prefix .. 'seats', n)
end
local members = {unpack(list, 2)}
redis.call('HDEL', users, unpack(members))
redis.call('DEL', key)
local max = string.match(list[1], '^(%d+)|')
if n < tonumber(max) then redis.call('ZREM', prefix .. 'open:' .. max, lid) end
redis.call('XADD', prefix .. 'bookings', '*', 'lobby', lid, 'users', table.concat(members, '\0'))
list[1] = lid
table.insert(list, 1, 'booked')
return list
