#!/bin/sh
# Print the first Python >= 3.11 on PATH (the project's minimum), or explain and fail.
for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
  [ -n "$candidate" ] || continue
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    command -v "$candidate"
    exit 0
  fi
done
echo "lobbysim needs Python 3.11 or newer (with venv); none found on PATH. Set PYTHON=/path/to/python3.11+." >&2
exit 1
