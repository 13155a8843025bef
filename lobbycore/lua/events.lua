-- events (read-only): up to ARGV[2] change events after stream id ARGV[1] (exclusive).
-- A script rather than a plain XRANGE so that the reply has the same shape under RESP2 and RESP3.
return redis.call('XRANGE', EVENTS, '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
