-- stats (read-only): the pool's counters and seats left (-1 = unlimited).
-- Users in lobbies = placed - left - booked - expired, so no extra counter is kept on joins.
local fields = {'lobbies', 'full', 'bookings', 'booked_users', 'joins', 'leaves', 'expired',
                'created', 'expired_users'}
local values = redis.call('HMGET', STATS, unpack(fields))
local v = {}
for i = 1, #fields do v[fields[i]] = tonumber(values[i] or 0) end
local seats = redis.call('GET', SEATS)
return {'stats', v.lobbies, v.full, v.bookings, v.booked_users, v.joins, v.leaves, v.expired,
        v.created, v.joins - v.leaves - v.booked_users - v.expired_users,
        seats and tonumber(seats) or -1}
