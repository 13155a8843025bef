"""The run options, defined once (lobbysim.run.options): one validation naming the flag, and
its three renderings (argparse, Locust's option group, a Locust process's arguments) agreeing
with it. Locust itself is not imported here (it monkey-patches): its group is a stand-in."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from lobbycore import InvalidInput
from lobbycore.defaults import DEFAULT_LOBBY_TTL, DEFAULT_MAX_USERS, MAX_SEATS
from lobbysim.run.options import (
    OPTIONS,
    UNLIMITED,
    RunOptions,
    add_to_argparse,
    add_to_locust,
    to_locust_args,
    validate,
)

BAD: list[tuple[dict[str, object], str]] = [
    ({"max_users": "0"}, "--max-users must be in 1..1000, got 0"),
    ({"max_users": 1001}, "--max-users must be in 1..1000, got 1001"),
    ({"max_users": "x"}, "--max-users expected a whole number, got 'x'"),
    ({"shards": "0"}, "--shards must be in 1..1024, got 0"),
    (
        {"shards": "3", "strategy": "naive"},
        "--shards must be 1 with the naive strategy (it has no shards), got 3",
    ),
    ({"seats": "-5"}, f"--seats must be in 0..{MAX_SEATS}, got -5"),
    ({"seats": -1}, f"--seats must be in 0..{MAX_SEATS}, got -1"),
    ({"lobby_ttl": "0"}, "--lobby-ttl must be in (0, 3.1536e+08], got 0"),
    ({"lobby_ttl": "inf"}, "--lobby-ttl expected a finite number, got 'inf'"),
    ({"strategy": "fast"}, "--strategy expected one of atomic, naive, got 'fast'"),
    ({"party_share": "1.5"}, "--party-share must be in [0, 1], got 1.5"),
]


@pytest.mark.parametrize(("values", "line"), BAD)
def test_one_validation_names_the_flag(values: dict[str, object], line: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate(values)
    assert str(caught.value) == line


@pytest.mark.parametrize(
    "kwargs",
    [{"max_users": 0}, {"seats": -1}, {"lobby_ttl": 0.0}, {"strategy": "naive", "shards": 2}],
)
def test_the_options_value_object_is_held_to_the_same_rules(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as caught:
        RunOptions(**kwargs)
    assert str(caught.value).startswith("--")


def test_text_and_values_read_alike_and_unlimited_is_none() -> None:
    text = validate({"max_users": "5", "seats": UNLIMITED, "lobby_ttl": "30", "pool": ""})
    values = validate({"max_users": 5, "seats": None, "lobby_ttl": 30.0, "pool": None})
    assert text == values == RunOptions(max_users=5, lobby_ttl=30.0)
    assert text.seats is None and text.pool is None


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_each_default_survives_being_written_as_text(name: str) -> None:
    option = OPTIONS[name]
    assert option.check(option.text(option.default)) == option.default


def test_a_locust_process_gets_the_flags_and_a_bad_value_never_reaches_it() -> None:
    assert to_locust_args({"pool": "p", "max_users": 2, "shards": 3, "seats": None}) == [
        "--pool", "p", "--max-users", "2", "--shards", "3", "--seats", UNLIMITED,
    ]  # fmt: skip
    with pytest.raises(InvalidInput) as caught:
        to_locust_args({"max_users": 0})
    assert str(caught.value) == "--max-users must be in 1..1000, got 0"
    with pytest.raises(InvalidInput) as caught:
        to_locust_args({"strategy": "naive", "shards": 2})
    assert str(caught.value).startswith("--shards must be 1 with the naive strategy")


def _parser(**kwargs: Any) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_to_argparse(parser, sorted(OPTIONS), **kwargs)
    return parser


def test_argparse_gets_the_table_and_refuses_in_its_words() -> None:
    args = _parser().parse_args([])
    assert RunOptions.from_namespace(args) == RunOptions()
    assert (args.max_users, args.lobby_ttl, args.seats) == (
        DEFAULT_MAX_USERS,
        DEFAULT_LOBBY_TTL,
        None,
    )
    parsed = _parser().parse_args(["--max-users", "7", "--seats", "12", "--strategy", "naive"])
    assert (parsed.max_users, parsed.seats, parsed.strategy) == (7, 12, "naive")
    for values, line in BAD:
        if len(values) > 1:
            continue  # between two options: the handler's RunOptions.from_namespace
        ((name, value),) = values.items()
        with pytest.raises(argparse.ArgumentError) as caught:
            _parser().parse_args([OPTIONS[name].flag, str(value)])
        assert f"{caught.value.argument_name} {caught.value.message}" == line


def test_argparse_lists_and_overrides() -> None:
    parser = _parser(lists=["max_users"], default={"seats": 3}, help={"pool": "the pool to read"})
    args = parser.parse_args(["--max-users", "2, 4"])
    assert (args.max_users, args.seats) == ([2, 4], 3)
    assert "the pool to read" in parser.format_help()


class _Group:
    """Locust's option group, as far as the run options use it."""

    def __init__(self) -> None:
        self.added: dict[str, dict[str, Any]] = {}

    def add_argument(self, *flags: str, **kwargs: Any) -> None:
        self.added[flags[0]] = {"flags": flags, **kwargs}


def test_locust_gets_text_defaults_and_leaves_the_check_to_the_validation() -> None:
    group = _Group()
    add_to_locust(group, sorted(OPTIONS), aliases={"max_users": ("--lobby-size",)})
    assert set(group.added) == {option.flag for option in OPTIONS.values()}
    for option in OPTIONS.values():
        added = group.added[option.flag]
        assert "type" not in added  # text, as the web form sends it
        assert added["help"] == option.help
        assert option.check(added["default"]) == option.default
    assert group.added["--seats"]["default"] == UNLIMITED
    assert group.added["--max-users"]["flags"] == ("--max-users", "--lobby-size")
    choices = group.added["--strategy"]["choices"]
    assert list(choices) == ["atomic", "naive"] and "fast" in choices  # listed, not enforced


def test_every_option_has_a_help_and_a_flag_from_its_name() -> None:
    for name, option in OPTIONS.items():
        assert option.name == name and option.flag == "--" + name.replace("_", "-")
        assert option.help and "%" not in option.help  # argparse formats help with %
