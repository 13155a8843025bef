-- seats: set the seat inventory (ARGV[1] = count, or 'unlimited'), in the pool's meta.
local function main()
  check_pool(true)
  redis.call('HSET', META, 'seats', ARGV[1])
  bump()
  return {'seats', ARGV[1] == 'unlimited' and -1 or tonumber(ARGV[1])}
end
