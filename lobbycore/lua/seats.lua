-- seats: set the seat inventory (ARGV[1] = count, or '' for unlimited).
if ARGV[1] == '' then
  redis.call('DEL', SEATS)
  return {'seats', -1}
end
redis.call('SET', SEATS, ARGV[1])
return {'seats', tonumber(ARGV[1])}
