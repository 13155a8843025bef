#!/bin/sh
# Make sure a redis-server binary exists: the tests start private servers from it.
# They never use a server that is already running (such as one on port 6379).
set -eu
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "redis-server not found: installing Debian's redis-server package..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  command -v redis-server >/dev/null 2>&1 && exit 0
fi
echo "redis-server not found. Install it (Debian/Ubuntu: sudo apt-get install redis-server;" \
     "macOS: brew install redis) and run 'make test' again." >&2
exit 1
