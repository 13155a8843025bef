"""The README's Python examples run as written (REDIS_URL is the test's private server)."""

from __future__ import annotations

import re
from pathlib import Path

from lobbysim_testing import RedisServer

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_examples_run(redis_server: RedisServer) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2, "the README's Python examples are missing"
    for block in blocks:
        exec(
            compile(block, str(README), "exec"),
            {"__name__": "readme", "REDIS_URL": redis_server.url},
        )


def test_readme_interactive_examples_print_what_they_show() -> None:
    """``pycon`` blocks are doctests: each output line must be what Python prints."""
    import doctest

    blocks = re.findall(r"```pycon\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "the README's interactive examples are missing"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for i, block in enumerate(blocks):
        test = doctest.DocTestParser().get_doctest(block, {}, f"README pycon {i}", None, 0)
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
