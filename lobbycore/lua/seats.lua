-- seats: set the seat inventory (ARGV[2] = count, or '' for unlimited).
if ARGV[2] == '' then
  redis.call('DEL', SEATS)
  return {'seats', -1}
end
redis.call('SET', SEATS, ARGV[2])
return {'seats', tonumber(ARGV[2])}
