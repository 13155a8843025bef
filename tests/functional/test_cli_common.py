"""What every lobbysim command shares: --version, the argument types, the extras check, the
run options' help from their one definition, and the demo refusing what SimConfig would. Each bad input is one line, exit 2, no traceback."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import version

import pytest

from lobbycore import InvalidInput
from lobbysim.cli import main
from lobbysim.cli._common import float_in, int_in
from lobbysim.run.options import OPTIONS, argparse_type, comma_list, whole_number
from simulator import SimConfig
from tests.cli import lobbysim


def test_version_names_the_installed_package() -> None:
    result = lobbysim("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"lobbysim {version('lobbysim')}\n"


def test_argument_types_accept_what_is_in_range() -> None:
    assert int_in(1, 1024)("1024") == 1024
    assert float_in(0, 3600)("3600") == 3600.0
    assert float_in(0, 1, low_included=True)("0") == 0.0
    assert argparse_type(comma_list(whole_number(1, 5)))(" 1, 5,") == [1, 5]


@pytest.mark.parametrize(
    ("parse", "text", "reason"),
    [
        (int_in(1), "0", "must be at least 1, got 0"),
        (int_in(1, 1024), "1025", "must be in 1..1024, got 1025"),
        (int_in(1), "2.5", "expected a whole number, got '2.5'"),
        (float_in(0, 3600), "0", "must be in (0, 3600], got 0"),
        (float_in(0), "-1", "must be > 0, got -1"),
        (float_in(0), "inf", "expected a finite number, got 'inf'"),
        (float_in(0), "nan", "expected a finite number, got 'nan'"),
        (argparse_type(comma_list(whole_number(1))), " , ", "expected a comma-separated list"),
        (argparse_type(comma_list(whole_number(1))), "1,x", "expected a whole number, got 'x'"),
    ],
)
def test_argument_types_say_why_in_their_own_words(
    parse: Callable[[str], object], text: str, reason: str
) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        parse(text)
    assert str(caught.value).startswith(reason)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["race", "--users", "0"], "--users must be in 1..1000000, got 0"),
        (["race", "--max-users", "1001"], "--max-users must be in 1..1000, got 1001"),
        (["watch", "--pool", "p", "--shards", "1025"], "--shards must be in 1..1024, got 1025"),
        (["capacity", "--out", "o", "--step-seconds", "nan"], "--step-seconds expected a finite"),
        (["capacity", "--out", "o", "--shards", "1,0"], "--shards must be in 1..1024, got 0"),
        (
            ["capacity", "--out", "o", "--strategy", "atomic,fast"],
            "--strategy expected one of atomic, naive",
        ),
        (["capacity", "--out", "o", "--max-users", ","], "--max-users expected a comma-separated"),
        (["demo", "--lobby-ttl", "0"], "--lobby-ttl must be in (0, 3.1536e+08], got 0"),
        (["race", "--users"], "--users expected one argument"),
    ],
)
def test_a_bad_option_is_one_line_exit_2(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(args)
    err = capsys.readouterr().err
    assert caught.value.code == 2
    # The handlers' form: "lobbysim: error: --flag why", not argparse's "argument --flag: why".
    assert err.startswith(f"lobbysim: error: {says}"), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_parse_error_that_is_not_a_bad_value_points_at_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["race", "--bogus"])
    assert caught.value.code == 2
    assert capsys.readouterr().err == (
        "lobbysim: error: unrecognized arguments: --bogus (see 'lobbysim --help')\n"
    )


def test_a_bad_url_is_lobbycores_one_line_before_the_command_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["audit", "--redis-url", "ftp://u:secret@h", "--pool", "p"]
    assert main(args) == 2
    assert capsys.readouterr().err == (
        "lobbysim: error: Redis URL must start with redis://, rediss:// or unix://, "
        "got 'ftp://u:***@h'\n"
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rate": 0.0}, "rate"),
        ({"rate": float("inf")}, "rate"),
        ({"max_users": 1001}, "max_users"),
        ({"party_share": 1.5}, "party_share"),
        ({"patience": 0.0}, "patience"),
        ({"checkout": -1.0}, "checkout"),
        ({"book_after": 0.0}, "book_after"),
        ({"seats": -1}, "seats"),
        ({"strategy": "fast"}, "strategy"),
        ({"lobby_ttl": 0.0}, "lobby_ttl"),
    ],
)
def test_sim_config_errors_name_the_field_in_the_librarys_words(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        SimConfig(**kwargs)  # type: ignore[arg-type]
    assert hasattr(SimConfig(), field)
    assert "--" not in str(caught.value) and str(caught.value).startswith(f"{field} ")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--rate", "-1"], "lobbysim: error: --rate must be in [0.1, 10000], got -1\n"),
        (["--max-users", "0"], "lobbysim: error: --max-users must be in 1..1000, got 0\n"),
        (["--party-share", "2"], "lobbysim: error: --party-share must be in [0, 1], got 2\n"),
        (["--seats", "-5"], "lobbysim: error: --seats must be in 0..9007199254740991, got -5\n"),
        (["--book-after", "0"], "lobbysim: error: --book-after must be in (0, 86400], got 0\n"),
        (["--patience", "1e9"], "lobbysim: error: --patience must be in (0, 86400], got 1e+09\n"),
    ],
)
def test_the_demo_refuses_a_value_the_simulation_would_refuse_naming_its_flag(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["demo", "--headless", *args])
    assert caught.value.code == 2
    assert capsys.readouterr().err == says


def test_options_checked_together_are_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--redis-url", "redis://127.0.0.1:1/0", "--out", "o"]
    assert main(["capacity", *args, "--start-rate", "5000", "--max-rate", "100"]) == 2
    err = capsys.readouterr().err
    assert err == "lobbysim: error: --start-rate must be <= --max-rate, got 5000 > 100\n"


def test_the_parser_imports_no_simulator_and_no_extra() -> None:
    code = (
        "import sys; from lobbysim.cli import build_parser; build_parser(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'simulator', 'locustfiles', 'textual', 'locust', 'matplotlib', 'fakeredis'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == "[]\n"


@pytest.mark.parametrize(
    ("command", "names"),
    [
        ("demo", ("strategy", "max_users", "party_share", "seats", "lobby_ttl")),
        ("race", ("max_users",)),
        ("watch", ("shards",)),
        ("audit", ("shards",)),
        ("serve", ("strategy", "lobby_ttl")),
    ],
)
def test_the_run_options_help_is_the_one_definitions(command: str, names: tuple[str, ...]) -> None:
    help_text = " ".join(lobbysim(command, "--help").stdout.split())
    for name in names:
        assert f"{OPTIONS[name].flag} " in help_text
        assert " ".join(OPTIONS[name].help.split()) in help_text, name


@pytest.mark.parametrize(
    ("args", "module", "extra"),
    [
        (["demo", "--headless"], "textual", "tui"),
        (["watch", "--pool", "p", "--redis-url", "redis://127.0.0.1:1/0"], "textual", "tui"),
        (["demo", "--headless"], "lupa", "embedded"),
        (["race"], "fakeredis", "embedded"),
        (["capacity", "--out", "o", "--redis-url", "redis://127.0.0.1:1/0"], "locust", "load"),
        (["capacity", "--out", "o", "--redis-url", "redis://127.0.0.1:1/0"], "matplotlib", "load"),
    ],
)
def test_a_missing_extra_is_named_in_one_line(
    args: list[str],
    module: str,
    extra: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed: find_spec says None
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == (
        f"lobbysim: error: 'lobbysim {args[0]}' needs the {extra} extra: "
        f"pip install 'lobbysim[{extra}]'\n"
    )
