-- sweep: expire up to ARGV[1] lobbies whose deadline has passed.
return {'swept', expire_due(tonumber(ARGV[1]))}
