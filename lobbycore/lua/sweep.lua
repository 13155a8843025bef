-- sweep: expire up to ARGV[2] lobbies whose deadline has passed.
return {'swept', expire_due(tonumber(ARGV[2]))}
