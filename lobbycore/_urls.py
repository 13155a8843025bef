"""Redis URLs for display and for connecting: no password ever leaves this module.

One parser (:func:`parse_url`) serves both. It reads
``scheme://[userinfo@]host[:port][/path][?query]`` and tolerates what people really type:
a password holding unencoded ``#``, ``/``, ``?``, ``@`` or ``:`` (the userinfo then ends at
the last ``@`` that is followed by a plausible host), ``&``/``;`` between query parameters,
IPv6 hosts in brackets. Whatever it cannot place with confidence is refused
(:class:`MalformedUrl`).

What is shown of a URL (:func:`redact_url`, the one redaction every output goes through):
the password and every query value are masked (a query names its parameters, never their
values: a misspelt ``?pasword=`` holds a secret as surely as ``?password=``). A URL that
cannot be read is shown as given when it has no place a secret could sit (no ``@``, no
``user:password`` shape), its query values masked; otherwise as ``<unparsable url>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote

__all__ = [
    "MASK",
    "UNPARSABLE",
    "MalformedUrl",
    "UrlParts",
    "parse_url",
    "redact_args",
    "redact_text",
    "redact_url",
]

MASK = "***"
UNPARSABLE = "<unparsable url>"

# Query keys whose values are secrets (compared lowercased, after percent-decoding).
SECRET_KEY_WORDS = ("pass", "pwd", "secret", "token", "auth", "credential")
# A secret shorter than this is not searched for in free text (it would mask ordinary words).
MIN_TEXT_SECRET = 4

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)\Z", re.DOTALL)
_HOST = re.compile(r"\[[0-9A-Fa-f:.]+(?:%[A-Za-z0-9._~%-]+)?\]|[A-Za-z0-9._~%-]*")
_PORT = re.compile(r"[0-9]{1,5}")
_QUERY_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.%-]*")
# A username shown as written; any other username is masked too (it may be a password
# typed without its colon, or hold part of one).
_SHOWN_USER = re.compile(r"[A-Za-z0-9._~%+-]*")


class MalformedUrl(ValueError):
    """The URL cannot be read with confidence. The message never quotes the URL."""


@dataclass(frozen=True)
class UrlParts:
    """A URL split as written (nothing decoded); ``host`` keeps an IPv6 host's brackets."""

    scheme: str
    userinfo: str | None
    host: str
    port: int | None
    path: str
    query: str | None  # without the "?"; a "#" in it is part of a value, not a fragment

    @property
    def username(self) -> str | None:
        return None if self.userinfo is None else self.userinfo.split(":", 1)[0]

    @property
    def password(self) -> str | None:
        if self.userinfo is None or ":" not in self.userinfo:
            return None
        return self.userinfo.split(":", 1)[1]

    @property
    def netloc(self) -> str:
        userinfo = "" if self.userinfo is None else f"{self.userinfo}@"
        port = "" if self.port is None else f":{self.port}"
        return f"{userinfo}{self.host}{port}"

    def query_params(self) -> list[tuple[str, str]]:
        """(key, value) pairs as written, in order; "&" and ";" both separate."""
        pieces = re.split(r"[&;]", self.query or "")
        return [(k, v) for k, _, v in (p.partition("=") for p in pieces if p)]

    def secrets(self) -> list[str]:
        """Every secret the URL holds, as written and percent-decoded: its password and every
        query value (any of them may be a secret under a misspelt or unexpected name)."""
        found = [] if self.password is None else [self.password]
        for key, value in self.query_params():
            found.append(value)
            if _is_user_key(key) and ":" in unquote(value):
                found.append(unquote(value).split(":", 1)[1])
                if ":" in value:
                    found.append(value.split(":", 1)[1])
        return [s for raw in found for s in {raw, unquote(raw)} if s]

    def redacted(self) -> str:
        userinfo = "" if self.userinfo is None else f"{_redact_userinfo(self.userinfo)}@"
        port = "" if self.port is None else f":{self.port}"
        query = "" if self.query is None else f"?{_redact_query(self.query)}"
        return f"{self.scheme}://{userinfo}{self.host}{port}{self.path}{query}"


def _is_secret_key(key: str) -> bool:
    name = unquote(key).lower()
    return any(word in name for word in SECRET_KEY_WORDS)


def _is_user_key(key: str) -> bool:
    return "user" in unquote(key).lower()


def _shown_user(user: str) -> str:
    return user if _SHOWN_USER.fullmatch(user) else MASK


def _redact_userinfo(userinfo: str) -> str:
    user, colon, _ = userinfo.partition(":")
    return f"{_shown_user(user)}:{MASK}" if colon else _shown_user(user)


def _redact_query(query: str) -> str:
    """Every value masked, each parameter named; a piece without "=" is masked whole."""
    out = []
    for piece in re.split(r"([&;])", query):
        key, eq, _ = piece.partition("=")
        out.append(piece if piece in ("", "&", ";") else f"{key}={MASK}" if eq else MASK)
    return "".join(out)


def _after_userinfo(scheme: str, userinfo: str | None, rest: str) -> UrlParts:
    """Read ``host[:port][/path][?query]``; MalformedUrl if any part is implausible."""
    host = _HOST.match(rest)
    assert host is not None  # the pattern matches the empty string
    i = host.end()
    port: int | None = None
    if rest[i : i + 1] == ":":
        end = len(rest) if (m := re.search(r"[/?#]", rest[i + 1 :])) is None else i + 1 + m.start()
        text = rest[i + 1 : end]
        if not _PORT.fullmatch(text) or not 1 <= int(text) <= 65535:
            raise MalformedUrl("the port must be a number from 1 to 65535")
        port, i = int(text), end
    if i < len(rest) and rest[i] not in "/?":
        raise MalformedUrl("the host is neither a host name nor an [IPv6] address")
    path, question, query = rest[i:].partition("?")
    if "@" in path or "#" in path:
        raise MalformedUrl("an '@' or '#' outside the password or the query")
    if question:
        for piece in re.split(r"[&;]", query):
            key, eq, _ = piece.partition("=")
            if piece and not (eq and _QUERY_KEY.fullmatch(key)):
                raise MalformedUrl("the query must be key=value parameters joined by '&'")
    return UrlParts(scheme, userinfo, host.group(), port, path, query if question else None)


def _in_masked_value(rest: str, at: int) -> bool:
    """Whether ``rest[at]`` lies in a part of the standard reading's query that redaction
    masks (a secret value, or what follows the colon of a user value), so that reading is
    both faithful and safe."""
    start = rest.find("?") + 1
    if not 0 < start <= at:
        return False
    for piece in re.finditer(r"[^&;]*", rest[start:]):
        key, eq, value = piece.group().partition("=")
        value_from, value_to = start + piece.start() + len(key) + 1, start + piece.end()
        if not eq or not value_from <= at < value_to:
            continue
        if _is_secret_key(key):
            return True
        if _is_user_key(key) and ":" in unquote(value):
            colon = value.find(":")
            return colon < 0 or value_from + colon < at  # an encoded colon: mask it all
    return False


def parse_url(url: str) -> UrlParts:
    """Split ``url``; MalformedUrl (whose message quotes nothing of it) if it is not plausible.

    Where an ``@`` could end the userinfo in more than one place, the reading that keeps a
    password (a colon before the ``@``) whole wins, unless that ``@`` sits in a part of the
    query that is masked anyway: over-hiding is safe, a leak is not.
    """
    matched = _SCHEME.match(url) if isinstance(url, str) else None
    if matched is None:
        raise MalformedUrl("it must start with a scheme, as in redis://")
    scheme, rest = matched.groups()
    netloc_end = len(rest) if (m := re.search(r"[/?#]", rest)) is None else m.start()
    standard_at = rest.rfind("@", 0, netloc_end)
    standard: UrlParts | MalformedUrl
    try:
        standard = _after_userinfo(
            scheme, rest[:standard_at] if standard_at >= 0 else None, rest[standard_at + 1 :]
        )
    except MalformedUrl as exc:
        standard = exc
    # Later "@"s: a password holding "/", "?" or "#" pushed the real userinfo end there.
    loose: UrlParts | None = None
    for at in sorted((i for i, c in enumerate(rest) if c == "@" and i >= netloc_end), reverse=True):
        user, colon, _ = rest[:at].partition(":")
        if colon and re.search(r"[/?#]", user):
            continue  # a password may hold them unencoded, the username before it never
        try:
            loose = _after_userinfo(scheme, rest[:at], rest[at + 1 :])
            break
        except MalformedUrl:
            continue
    if loose is not None and (
        isinstance(standard, MalformedUrl)
        or (":" in (loose.userinfo or "") and not _in_masked_value(rest, len(loose.userinfo or "")))
    ):
        return loose
    if isinstance(standard, MalformedUrl):
        raise standard
    return standard


def _unparsable_shown(url: str) -> str:
    """A URL parse_url refused, as given if no part of it can hold a secret (its query
    values masked), else ``<unparsable url>``."""
    matched = _SCHEME.match(url) if isinstance(url, str) else None
    if matched is None or "@" in url:
        return UNPARSABLE
    scheme, rest = matched.groups()
    before, question, query = rest.partition("?")
    netloc_end = len(before) if (m := re.search(r"[/#]", before)) is None else m.start()
    netloc = before[:netloc_end]
    host, colon, port = netloc.partition(":")
    # "redis://:secret" or "redis://user:secret/0" is a password whose "@host" was
    # forgotten: a non-numeric "port" may be one, so it is masked (and with no host, or
    # nothing after it, nothing of the URL is shown).
    if colon and not netloc.startswith("[") and (not host or not port.isdigit()):
        if not host or netloc_end == len(before):
            return UNPARSABLE
        before = f"{host}:***{before[netloc_end:]}"
    return f"{scheme}://{before}" + (f"?{_redact_query(query)}" if question else "")


def redact_url(url: str) -> str:
    """The URL fit to print: its password and every query value replaced by ``***``.

    ``redis://user:secret@host:6379/0`` -> ``redis://user:***@host:6379/0``;
    ``redis://host/0?password=secret&db=1`` -> ``redis://host/0?password=***&db=***``;
    ``redis://host:63790/0`` (unreadable, but no secret in it) is shown as given;
    ``redis://host:secret/0`` (a non-numeric port may be a password) -> ``redis://host:***/0``;
    ``redis://:secret`` (unreadable, maybe a password) -> ``<unparsable url>``.
    """
    if isinstance(url, str) and not url.isprintable():
        return UNPARSABLE  # a line break or control character: shown, it would split the line
    try:
        return parse_url(url).redacted()
    except MalformedUrl:
        return _unparsable_shown(url)


def redact_text(text: str, url: str) -> str:
    """``text`` (an error message, a log line) with ``url`` redacted and its secrets masked
    wherever they appear (secrets shorter than 4 characters are only hidden inside the URL)."""
    shown = redact_url(url)
    try:
        secrets = parse_url(url).secrets()
    except MalformedUrl:
        # What may be query values of a URL that cannot be read (a piece without "=" too).
        query = url.partition("?")[2] if isinstance(url, str) else ""
        secrets = [piece.rpartition("=")[2] for piece in re.split(r"[&;]", query)]
    secrets = sorted({s for s in secrets if len(s) >= MIN_TEXT_SECRET}, key=len, reverse=True)
    pieces = text.split(url) if url else [text]
    masked = []
    for piece in pieces:
        # The redacted URL is kept whole: a secret equal to part of it must not garble it.
        parts = piece.split(shown)
        for secret in secrets:
            parts = [part.replace(secret, MASK) for part in parts]
        masked.append(shown.join(parts))
    return shown.join(masked)


def _flag_kind(flag: str) -> str | None:
    name = flag.lstrip("-").lower()
    if "url" in name:
        return "url"
    if any(word in name for word in SECRET_KEY_WORDS):
        return "secret"
    return None


def _redact_value(kind: str | None, value: str) -> str:
    if kind == "url":
        return redact_url(value)
    if kind == "secret":
        return MASK
    return redact_url(value) if "://" in value else value


def redact_args(argv: Sequence[str]) -> list[str]:
    """A command line fit to print: ``--redis-url URL``, ``--redis-url=URL`` (any flag naming
    a URL), bare ``scheme://`` tokens and the value of any ``--*password*``/``--*token*``
    flag are redacted; everything else is kept as is."""
    out: list[str] = []
    pending: str | None = None  # the previous token was a flag whose value must be redacted
    for token in argv:
        if pending is not None:
            out.append(_redact_value(pending, token))
            pending = None
        elif token.startswith("--") and len(token) > 2:
            flag, eq, value = token.partition("=")
            kind = _flag_kind(flag)
            if eq:
                out.append(f"{flag}={_redact_value(kind, value)}")
            else:
                out.append(token)
                pending = kind
        else:
            out.append(_redact_value(None, token))
    return out
