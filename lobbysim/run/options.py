"""The run options, defined once: each one's flag, type, default, range and help, and one
validation that names the flag, whatever the front end.

Rendered three ways: :func:`add_to_argparse` (the lobbysim commands), :func:`add_to_locust`
(the Locust scenarios' option group: values stay text there, from the command line, a
config file or the web form alike, and are checked by :func:`validate` once parsed) and
:func:`to_locust_args` (the arguments capacity gives its Locust processes). One mistake so
reads the same everywhere: ``--max-users must be in 1..1000, got 0``.

The limits, defaults and wording are lobbycore's own (``lobbycore.defaults``,
``lobbycore.validate``). Unlimited seats are ``None``, written ``unlimited`` as text.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

from lobbycore import InvalidInput
from lobbycore.defaults import (
    DEFAULT_LOBBY_TTL,
    DEFAULT_MAX_USERS,
    DEFAULT_WAIT_REPLICAS,
    DEFAULT_WAIT_TIMEOUT,
    MAX_SEATS,
    MAX_SHARDS,
    MAX_TTL_SECONDS,
    MAX_USERS_LIMIT,
    MAX_WAIT_REPLICAS,
    MAX_WAIT_TIMEOUT,
    SOCKET_TIMEOUT,
    STRATEGIES,
    Strategy,
)
from lobbycore.validate import (
    must_be,
    number_range,
    strategy_shards,
    strategy_wait,
    whole_range,
)

UNLIMITED = "unlimited"
"""How ``None`` (no limit) is written on a command line or in Locust's web form."""


class BadOption(InvalidInput):
    """A run option's value is refused; the message names the flag first."""

    def __init__(self, flag: str, reason: str) -> None:
        super().__init__(f"{flag} {reason}")
        self.flag = flag
        self.reason = reason


# -- converters: text (or a value already parsed) -> a checked value; ValueError(reason) ------

Convert = Callable[[object], Any]


def whole_number(low: int, high: int | None = None) -> Callable[[object], int]:
    """A whole number in ``low..high`` (no upper bound if ``high`` is None)."""
    bounds = whole_range(low, high)

    def convert(value: object) -> int:
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                raise ValueError(f"expected a whole number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {value!r}")
        if value < low or (high is not None and value > high):
            raise ValueError(must_be(bounds, value))
        return value

    return convert


def finite_number(value: object) -> float:
    """Any finite number, from text or a number."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        raise ValueError(f"expected a number, got {value!r}")
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


def number_in(
    low: float, high: float | None = None, *, low_included: bool = False
) -> Callable[[object], float]:
    """A finite number above ``low`` (or equal to it if ``low_included``), at most ``high``."""
    bounds = number_range(low, high, low_included=low_included)

    def convert(value: object) -> float:
        number = finite_number(value)
        above = number >= low if low_included else number > low
        if not above or (high is not None and number > high):
            raise ValueError(must_be(bounds, number))
        return number

    return convert


def one_of(choices: tuple[str, ...]) -> Callable[[object], str]:
    def convert(value: object) -> str:
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    return convert


def or_unlimited(convert: Convert) -> Convert:
    """``convert``, or None for no limit (``unlimited`` as text)."""

    def unlimited(value: object) -> Any:
        return None if value is None or value == UNLIMITED else convert(value)

    return unlimited


def _pool_name(value: object) -> str | None:
    """A pool name, or None (empty text: a fresh pool); lobbycore checks the name's rules."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected a pool name, got {value!r}")
    return value


# -- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOption:
    name: str
    """The attribute (``max_users``); the flag is derived from it (``--max-users``)."""
    convert: Convert
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    unlimited: bool = False
    """None means no limit, written ``unlimited`` (else None stands for "not given")."""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: object) -> Any:
        """The value (text or parsed) checked and converted; BadOption naming the flag."""
        try:
            return self.convert(value)
        except ValueError as exc:
            raise BadOption(self.flag, str(exc)) from None

    def text(self, value: object) -> str:
        """The value as a command line (or Locust's web form) gives it back."""
        if value is None:
            return UNLIMITED if self.unlimited else ""
        return str(value)


OPTIONS: dict[str, RunOption] = {
    option.name: option
    for option in (
        RunOption(
            "pool",
            _pool_name,
            None,
            "pool name (default: a fresh one for the run, deleted at its end)",
        ),
        RunOption(
            "strategy",
            one_of(STRATEGIES),
            "atomic",
            "atomic: lobbycore; naive: the article's algorithm (unsafe, it breaks the "
            "guarantees; default atomic)",
            choices=STRATEGIES,
        ),
        RunOption(
            "shards",
            whole_number(1, MAX_SHARDS),
            1,
            "split the pool into this many sub-pools, each on its own hash tag, as "
            "LobbyStore(shards=N) (atomic strategy only; spreads one pool over a cluster's "
            "primaries; default 1)",
            metavar="N",
        ),
        RunOption(
            "max_users",
            whole_number(1, MAX_USERS_LIMIT),
            DEFAULT_MAX_USERS,
            f"lobby size, 1..{MAX_USERS_LIMIT} (default {DEFAULT_MAX_USERS})",
            metavar="N",
        ),
        RunOption(
            "lobby_ttl",
            number_in(0.0, MAX_TTL_SECONDS),
            DEFAULT_LOBBY_TTL,
            f"seconds before an unbooked lobby expires (default {DEFAULT_LOBBY_TTL:g}; the "
            "naive store ignores it)",
            metavar="SECONDS",
        ),
        RunOption(
            "seats",
            or_unlimited(whole_number(0, MAX_SEATS)),
            None,
            f"seat inventory set at start, or {UNLIMITED} (default {UNLIMITED})",
            metavar="N",
            unlimited=True,
        ),
        RunOption(
            "party_share",
            number_in(0.0, 1.0, low_included=True),
            0.1,
            "share of arrivals that are parties of 2-3, in [0, 1] (default 0.1)",
            metavar="SHARE",
        ),
        RunOption(
            "wait_replicas",
            whole_number(0, MAX_WAIT_REPLICAS),
            DEFAULT_WAIT_REPLICAS,
            "durability: each writing call waits (WAIT, same round trip) until this many "
            "replicas have it, else it fails as not confirmed (atomic strategy only; "
            f"default {DEFAULT_WAIT_REPLICAS}: no wait)",
            metavar="N",
        ),
        RunOption(
            "wait_timeout",
            # The run's clients give up on a reply after SOCKET_TIMEOUT: a WAIT ends first.
            number_in(0.0, min(MAX_WAIT_TIMEOUT, SOCKET_TIMEOUT - 1.0)),
            DEFAULT_WAIT_TIMEOUT,
            f"seconds a writing call waits for --wait-replicas (default {DEFAULT_WAIT_TIMEOUT:g})",
            metavar="SECONDS",
        ),
    )
}
"""Every run option, by attribute name."""


@dataclass(frozen=True)
class RunOptions:
    """A run's options, checked (see :func:`validate`): what travels from the command line
    (or Locust's options) to the simulator's or the scenarios' settings."""

    pool: str | None = OPTIONS["pool"].default
    strategy: Strategy = OPTIONS["strategy"].default
    shards: int = OPTIONS["shards"].default
    max_users: int = OPTIONS["max_users"].default
    lobby_ttl: float = OPTIONS["lobby_ttl"].default
    seats: int | None = OPTIONS["seats"].default
    party_share: float = OPTIONS["party_share"].default
    wait_replicas: int = OPTIONS["wait_replicas"].default
    wait_timeout: float = OPTIONS["wait_timeout"].default

    def __post_init__(self) -> None:
        for option in fields(self):
            OPTIONS[option.name].check(getattr(self, option.name))
        # The rules between options, each written once (in lobbycore when the stores share it).
        strategy_shards(self.strategy, self.shards, what="--shards")
        strategy_wait(self.strategy, self.wait_replicas, what="--wait-replicas")

    @classmethod
    def from_namespace(cls, namespace: argparse.Namespace) -> RunOptions:
        """The run options a parsed command line holds (the others keep their defaults)."""
        return validate(
            {name: getattr(namespace, name) for name in OPTIONS if hasattr(namespace, name)}
        )


def validate(values: Mapping[str, object]) -> RunOptions:
    """The one validation: each value (text or parsed) checked and converted, then the rules
    between them. BadOption (an InvalidInput) naming the flag; names not in OPTIONS are
    ignored (a namespace holds others)."""
    checked = {
        name: OPTIONS[name].check(value) for name, value in values.items() if name in OPTIONS
    }
    return RunOptions(**checked)


# -- renderers --------------------------------------------------------------------------------


def argparse_type(convert: Convert) -> Callable[[str], Any]:
    """``convert`` as an argparse type: its reason becomes argparse's one-line error."""

    def parse(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def comma_list(convert: Convert) -> Callable[[object], list[Any]]:
    """A comma-separated list, each item converted (and checked) by ``convert``."""

    def parse(value: object) -> list[Any]:
        text = str(value)
        items = [part.strip() for part in text.split(",") if part.strip()]
        if not items:
            raise ValueError(f"expected a comma-separated list, got {text!r}")
        return [convert(item) for item in items]

    return parse


def add_to_argparse(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    names: Collection[str],
    *,
    help: Mapping[str, str] | None = None,
    default: Mapping[str, object] | None = None,
    lists: Collection[str] = (),
    required: Collection[str] = (),
) -> None:
    """Add the named options to a lobbysim command. ``help`` and ``default`` override the
    table's for a command whose option means something narrower (audit's --max-users);
    ``lists`` take comma-separated values (capacity compares several)."""
    for name in names:
        option = OPTIONS[name]
        value = (default or {}).get(name, option.default)
        text = (help or {}).get(name, option.help)
        kwargs: dict[str, Any] = {"metavar": option.metavar}
        if name in lists:
            kwargs["type"] = argparse_type(comma_list(option.convert))
            value = value if value is None or isinstance(value, list) else [value]
            text = f"{text}; a comma-separated list compares several"
        else:
            kwargs["type"] = argparse_type(option.convert)
            if option.choices is not None:  # shown in --help; the type refuses a bad one first
                kwargs["choices"] = option.choices
                kwargs.pop("metavar")
        if name in required:
            kwargs["required"] = True
        else:
            kwargs["default"] = value
        parser.add_argument(option.flag, help=text, **kwargs)


class _Listed(tuple[str, ...]):
    """Choices listed (in --help and the web UI's drop-down) but left to :func:`validate`,
    so that a bad one reads as it does in every command, not in argparse's words."""

    def __contains__(self, item: object) -> bool:
        return True


class OptionGroup(Protocol):
    def add_argument(self, *args: Any, **kwargs: Any) -> Any: ...


def add_to_locust(
    group: OptionGroup,
    names: Collection[str],
    *,
    help: Mapping[str, str] | None = None,
    default: Mapping[str, object] | None = None,
    aliases: Mapping[str, tuple[str, ...]] | None = None,
) -> None:
    """Add the named options to a Locust option group. Their values stay text (as the web
    form sends them); :func:`validate` checks them once Locust has parsed its options."""
    for name in names:
        option = OPTIONS[name]
        value = (default or {}).get(name, option.default)
        kwargs: dict[str, Any] = {}
        if option.choices is not None:
            kwargs["choices"] = _Listed(option.choices)
        group.add_argument(
            option.flag,
            *(aliases or {}).get(name, ()),
            default=option.text(value),
            help=(help or {}).get(name, option.help),
            metavar=option.metavar,
            **kwargs,
        )


def to_locust_args(values: Mapping[str, object]) -> list[str]:
    """The command-line arguments that give a Locust process these options (checked first,
    together: a bad value is refused here, naming its flag, not in the child process)."""
    options = validate(values)
    arguments = []
    for name in values:
        option = OPTIONS[name]
        arguments += [option.flag, option.text(getattr(options, name))]
    return arguments


__all__ = [
    "OPTIONS",
    "UNLIMITED",
    "BadOption",
    "RunOption",
    "RunOptions",
    "add_to_argparse",
    "add_to_locust",
    "argparse_type",
    "comma_list",
    "finite_number",
    "number_in",
    "one_of",
    "or_unlimited",
    "to_locust_args",
    "validate",
    "whole_number",
]
