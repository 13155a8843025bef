from __future__ import annotations

import time

from ulid import ULID

from lobbycore._ids import new_ulid


def test_new_ulid_is_a_valid_ulid_with_the_current_time() -> None:
    now = time.time()
    ids = [new_ulid() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = ULID.from_str(value)
        assert str(parsed) == value
        assert abs(parsed.timestamp - now) < 5
