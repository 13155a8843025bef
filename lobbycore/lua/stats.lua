-- stats (read-only): the pool's counters and seats left (-1 = unlimited).
-- Users in lobbies = placed - left - booked - expired, so no extra counter is kept on joins.
local function main()
  local seats = check_pool()
  local values = rd('HMGET', STATS, unpack(COUNTERS))
  local v = {}
  for i = 1, #COUNTERS do
    if not is_int(values[i]) then damaged(STATS, 'counter ' .. COUNTERS[i] .. ' is not an integer') end
    v[COUNTERS[i]] = tonumber(values[i] or 0)
  end
  return {'stats', v.lobbies, v.full, v.bookings, v.booked_users, v.joins, v.leaves, v.expired,
          v.created, v.joins - v.leaves - v.booked_users - v.expired_users, seats or -1}
end
