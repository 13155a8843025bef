-- events (read-only): up to ARGV[3] change events after stream id ARGV[2] (exclusive).
-- A script rather than a plain XRANGE so that the reply has the same shape under RESP2 and RESP3.
return redis.call('XRANGE', EVENTS, '(' .. ARGV[2], '+', 'COUNT', ARGV[3])
