-- events (read-only): up to ARGV[2] change events after stream id ARGV[1] (exclusive).
-- A script rather than a plain XRANGE so that the reply has the same shape under RESP2 and
-- RESP3. The exclusive start "(" needs Redis 6.2.
local function main()
  check_pool()
  return rd('XRANGE', EVENTS, '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
end
