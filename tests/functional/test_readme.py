"""The README's Python examples run as written (REDIS_URL is the test's private server)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.redis_server import RedisServer

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_examples_run(redis_server: RedisServer) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2, "the README's Python examples are missing"
    for block in blocks:
        exec(
            compile(block, str(README), "exec"),
            {"__name__": "readme", "REDIS_URL": redis_server.url},
        )
