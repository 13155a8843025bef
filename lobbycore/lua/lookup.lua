-- lookup (read-only): a lobby by id, or the lobby of a user. A lobby past its deadline
-- reads as absent even before a write expires it.
-- ARGV: 1 'user' or 'lobby', 2 user id or lobby id.
local function main()
  check_pool()
  local lid = ARGV[2]
  if ARGV[1] == 'user' then
    lid = rd('HGET', bucket_key(ARGV[2]), ARGV[2])
    if not lid then return {'none'} end
  end
  local meta = load_lobby(lid)
  if not meta or is_due(meta) then return {'none'} end
  return lobby_reply(meta)
end
