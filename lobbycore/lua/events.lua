-- events (read-only): change events after stream id ARGV[1] (exclusive): at most ARGV[2]
-- of them and, past the first, at most about ARGV[3] bytes of reply (an event can name 16
-- ids of 256 bytes, and a client's output buffer may be limited to a few of them). Fewer
-- than asked is not the end of the stream; none is. Read in pages, so that the script
-- holds little more than it returns. A script rather than a plain XRANGE so that the reply
-- has the same shape under RESP2 and RESP3. The exclusive start "(" needs Redis 6.2.
local EVENTS_PAGE = 64

-- An entry's size in the reply, overestimated (RESP spends at most 16 bytes on a header).
local function entry_bytes(entry)
  local n = #entry[1] + 32
  local fields = entry[2]
  for i = 1, #fields do n = n + #fields[i] + 16 end
  return n
end

local function main()
  check_pool()
  local wanted, budget = tonumber(ARGV[2]), tonumber(ARGV[3])
  local out, bytes, after = {}, 0, '(' .. ARGV[1]
  while #out < wanted do
    local asked = math.min(EVENTS_PAGE, wanted - #out)
    local page = rd('XRANGE', EVENTS, after, '+', 'COUNT', int(asked))
    for i = 1, #page do
      local size = entry_bytes(page[i])
      if #out > 0 and bytes + size > budget then return out end
      out[#out + 1] = page[i]
      bytes = bytes + size
    end
    if #page < asked then return out end
    after = '(' .. page[#page][1]
  end
  return out
end
