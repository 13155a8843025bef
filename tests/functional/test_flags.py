"""Every duration, rate and count of every command is checked (finite, in range): a bad
value is one line naming the flag, exit 2, no traceback, and nothing runs."""

from __future__ import annotations

import pytest

from lobbysim.cli import main

URL = ("--redis-url", "redis://127.0.0.1:1/0")
"""Never reached: a value the flag accepted would fail on this URL, naming no flag."""
BASE = {
    "race": ["race"],
    "demo": ["demo", "--headless", "--duration", "0.5"],
    "watch": ["watch", *URL, "--pool", "p"],
    "audit": ["audit", *URL, "--pool", "p"],
    "capacity": ["capacity", *URL, "--out", "o"],
    "serve": ["serve", *URL],
}
NOT_NUMBERS = ("x", "nan", "inf", "-inf", "-1")

FLAGS: list[tuple[str, str, tuple[str, ...]]] = [
    # (command, flag, out-of-range values besides NOT_NUMBERS)
    ("race", "--users", ("0", "1.5", "1000001")),
    ("race", "--concurrency", ("0", "10001")),
    ("race", "--max-users", ("0", "1001")),
    ("demo", "--rate", ("0", "0.01", "10001")),
    ("demo", "--max-users", ("0", "1001")),
    ("demo", "--party-share", ("1.5",)),
    ("demo", "--patience", ("0", "86401")),
    ("demo", "--book-after", ("0", "86401")),
    ("demo", "--seats", ("1.5", str(2**53))),
    ("demo", "--lobby-ttl", ("0", "1e12")),
    ("demo", "--duration", ("0", "1e300")),
    ("demo", "--seed", ("1.5",)),
    ("watch", "--duration", ("0", "1e300")),
    ("watch", "--shards", ("0", "1025")),
    ("audit", "--shards", ("0", "1025")),
    ("audit", "--initial-seats", ("-1",)),
    ("serve", "--port", ("0", "65536")),
    ("serve", "--workers", ("0",)),
    ("serve", "--lobby-ttl", ("315360001",)),
    ("serve", "--seats", ("-1",)),
    ("audit", "--max-users", ("0", "1001")),
    ("capacity", "--steps", ("0", "51")),
    ("capacity", "--step-seconds", ("0",)),
    ("capacity", "--start-rate", ("0",)),
    ("capacity", "--max-rate", ("0",)),
    ("capacity", "--users", ("0",)),
    ("capacity", "--processes", ("0", "65", "automatic")),
    ("capacity", "--expect-workers", ("0", "65")),
    ("capacity", "--master-bind-port", ("0", "65536")),
    ("capacity", "--slo-ms", ("0",)),
    ("capacity", "--peak", ("0", "-1", "inf", "nan")),
    ("capacity", "--target-utilization", ("0", "1.5", "nan")),
    ("capacity", "--max-users", ("0", "1001")),
    ("capacity", "--shards", ("0", "1025")),
    ("capacity", "--warmup-seconds", ("3601",)),
    *(
        (command, flag, values)
        for command in ("race", "demo", "serve", "capacity")
        for flag, values in (("--wait-replicas", ("1.5", "101")), ("--wait-timeout", ("0", "5")))
    ),
]
CASES = [
    pytest.param(command, flag, value, id=f"{command} {flag} {value}")
    for command, flag, extra in FLAGS
    for value in (*NOT_NUMBERS, *extra)
    if not (command == "demo" and flag == "--seed" and value == "-1")  # any whole number
]


@pytest.mark.parametrize(("command", "flag", "value"), CASES)
def test_a_bad_number_is_one_line_naming_its_flag_and_exit_2(
    command: str,
    flag: str,
    value: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    try:
        code = main([*BASE[command], flag, value])
    except SystemExit as exit:
        code = exit.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and flag in err, err
    assert "Traceback" not in err


def test_every_numeric_flag_is_in_the_table() -> None:
    """A new numeric option must join FLAGS (and so get its range checked)."""
    from lobbysim.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert isinstance(commands, dict)
    listed = {(command, flag) for command, flag, _ in FLAGS}
    for command, sub in commands.items():
        for action in sub._actions:
            numeric = action.type not in (None, str) and action.option_strings
            takes_text = action.dest in {"redis_url", "strategy", "layout", "pool"}
            if numeric and not takes_text:
                assert (command, action.option_strings[0]) in listed, (command, action.dest)
