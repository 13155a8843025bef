-- stats (read-only): the pool's counters, waiting users and seats left (-1 = unlimited).
local fields = {'lobbies', 'full', 'bookings', 'booked_users', 'joins', 'leaves', 'expired', 'created'}
local values = redis.call('HMGET', STATS, unpack(fields))
local reply = {'stats'}
for i = 1, #fields do reply[#reply + 1] = tonumber(values[i] or 0) end
reply[#reply + 1] = redis.call('HLEN', USERS)
local seats = redis.call('GET', SEATS)
reply[#reply + 1] = seats and tonumber(seats) or -1
return reply
