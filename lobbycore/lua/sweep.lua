-- sweep: expire lobbies whose deadline has passed, oldest first: at most ARGV[1] lobbies
-- and at most ARGV[2] users freed (but always the first due lobby, whatever its size).
local function main()
  check_writable()
  plan_expiry(tonumber(ARGV[2]), tonumber(ARGV[1]), true)
  return {'swept', expire_planned()}
end
