-- open: the pool's epoch, made (with an unlimited inventory) if the pool is new.
-- ARGV (after the epoch slot, '', and the write sequence slot, 0): 1 a new epoch, 2 '1' to
-- make a new pool, '0' for a reader that must not (a dashboard following a pool): it gets
-- {'none'} and nothing is written. The reply carries the pool's write sequence, which the
-- store learns with the epoch. A pool that holds state but no meta lost its meta
-- (eviction, or a partial restore) or was made by lobbycore 0.1.0, which kept none:
-- refused ({'no_meta', key}), never taken for a new pool.
local function main()
  local m = rd('HMGET', META, 'epoch', 'wseq', 'layout')
  if m[1] then
    -- A pool of another key layout (absent: layout 1, before the field existed) is
    -- refused before anything is read as this layout's, or written.
    if m[3] ~= LAYOUT then return {'layout', META, m[3] or '1', LAYOUT} end
    check_seq(m[2])
    return {'pool', m[1]}
  end
  WSEQ = 0
  want(META, 'hash')
  if redis.call('EXISTS', STATS, EVENTS, BOOKINGS, SEQ, EXPIRY) > 0 then
    return {'no_meta', META}
  end
  if ARGV[2] ~= '1' then return {'none'} end
  redis.call('HSET', META, 'epoch', ARGV[1], 'layout', LAYOUT, 'seats', 'unlimited')
  return {'pool', ARGV[1]}
end
