"""lobbycore.redact_url / redact_args / redact_text: every credential form, one table.

The rule: no password and no query value of a Redis URL is ever shown (a query names its
parameters only); a URL that cannot be read is shown as given unless a secret may sit in it."""

from __future__ import annotations

import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from lobbycore import redact_args, redact_text, redact_url

U = "<unparsable url>"

CASES = [
    # userinfo
    ("redis://user:secret@host:6379/0", "redis://user:***@host:6379/0"),
    ("redis://:secret@host:6379/0", "redis://:***@host:6379/0"),
    ("rediss://user:secret@host:6380", "rediss://user:***@host:6380"),
    ("redis://user:@host", "redis://user:***@host"),
    ("redis://user@host:6379", "redis://user@host:6379"),  # a username alone is not secret
    # passwords with unencoded reserved characters: no part of them may show
    ("redis://:pa#ss/wd?x@host:6379/0", "redis://:***@host:6379/0"),
    ("redis://u:p@ss@host/0", "redis://u:***@host/0"),
    ("redis://u:a:b:c@host/0", "redis://u:***@host/0"),
    ("redis://u:a/b@host/0", "redis://u:***@host/0"),
    ("redis://u:a?b@host/0", "redis://u:***@host/0"),
    ("redis://u:a#b@host/0", "redis://u:***@host/0"),
    ("redis://u:12/3?k=v@host:6379/0", "redis://u:***@host:6379/0"),
    ("redis://u:a@b/c@host/0", "redis://u:***@host/0"),
    ("redis://pa#ss@host", "redis://***@host"),  # a "username" holding a reserved char
    # an "@" in a query value, after a colon: the username before it would hold "/" and "?"
    ("redis://host/0?pasword=:@", "redis://host/0?pasword=***"),
    # query parameters, any case, several, & and ;: every value masked, whatever its name
    ("redis://host/0?password=s3", "redis://host/0?password=***"),
    ("redis://host/0?PassWord=s3;db=1", "redis://host/0?PassWord=***;db=***"),
    (
        "redis://host/0?db=1&password=a&password=b",
        "redis://host/0?db=***&password=***&password=***",
    ),
    ("redis://host/0?username=bob&password=s3", "redis://host/0?username=***&password=***"),
    ("redis://host/0?username=bob:s3", "redis://host/0?username=***"),
    ("redis://host/0?USERNAME=bob%3As3", "redis://host/0?USERNAME=***"),
    ("redis://127.0.0.1:6423/0?pasword=s3cret", "redis://127.0.0.1:6423/0?pasword=***"),  # typo
    ("redis://host/0?socket_timeout=5&db=2", "redis://host/0?socket_timeout=***&db=***"),
    ("redis://host/0?pass%77ord=s3", "redis://host/0?pass%77ord=***"),
    ("rediss://host/0?ssl_password=s3", "rediss://host/0?ssl_password=***"),
    ("redis://host/0?password=pa#ss", "redis://host/0?password=***"),
    ("redis://host/0?password=@h", "redis://host/0?password=***"),
    ("redis://host/0?password=pa&ss", "redis://host/0?password=***&***"),  # "ss" masked too
    ("redis://host/0?username=bob@corp.com", "redis://host/0?username=***"),
    # hosts
    ("redis://:pw@[::1]:6380/0", "redis://:***@[::1]:6380/0"),
    ("redis://[fe80::1%25eth0]:6380", "redis://[fe80::1%25eth0]:6380"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://cache.example.com", "redis://cache.example.com"),
    # unix sockets
    ("unix:///run/redis.sock?db=0&password=s3", "unix:///run/redis.sock?db=***&password=***"),
    ("unix://:s3@/run/redis.sock", "unix://:***@/run/redis.sock"),
    # malformed, with no place a secret could sit: shown as given (query values masked)
    ("redis://host:abc/0", "redis://host:***/0"),
    ("redis://h:notaport/0", "redis://h:***/0"),
    ("redis://user:secret/0", "redis://user:***/0"),
    ("redis://host:99999/0", "redis://host:99999/0"),
    ("redis://host:-1/0", "redis://host:***/0"),
    ("redis://host:0/0", "redis://host:0/0"),
    ("redis://ho st/0", "redis://ho st/0"),
    ("redis://host/0#frag", "redis://host/0#frag"),
    ("redis://host/0?secret", "redis://host/0?***"),
    ("redis://host:abc/0?password=s3&db", "redis://host:***/0?password=***&***"),
    ("redis://[::1]:abc/0", "redis://[::1]:abc/0"),
    # malformed, where a secret may sit: never echoed
    ("redis://:secret", U),  # "@host" forgotten: the password sits where the port goes
    ("redis://:123456", U),
    ("redis://default:secret", U),  # the same, with a username
    ("redis://default:secret?db=0", U),
    ("redis://u:p@host:abc/0", U),  # a userinfo: unreadable, so its end is unknown
    ("redis://host:1/0\nsecond line", U),  # never more than one line
    ("127.0.0.1:6379", U),
    ("redis:/host", U),
    ("", U),
    ("not a url", U),
]


@pytest.mark.parametrize(("url", "shown"), CASES)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


ARGS = [
    (["--redis-url", "redis://:s3@h/0"], ["--redis-url", "redis://:***@h/0"]),
    (["--redis-url=redis://:s3@h/0"], ["--redis-url=redis://:***@h/0"]),
    (["--redis-url", ":s3@h"], ["--redis-url", U]),  # a flag's value is redacted whatever it is
    (["--redis-url=:s3@h"], ["--redis-url=" + U]),
    (["redis://u:s3@h/0"], ["redis://u:***@h/0"]),  # a bare URL-looking token
    (["--target=redis://:s3@h"], ["--target=redis://:***@h"]),
    (["--password", "s3", "--auth-token=t0k"], ["--password", "***", "--auth-token=***"]),
    (
        ["capacity", "--quick", "--shards", "1,2", "--out", "out/cap"],
        ["capacity", "--quick", "--shards", "1,2", "--out", "out/cap"],
    ),
    (["--redis-url"], ["--redis-url"]),  # a dangling flag is kept as typed
    (["--", "redis://:s3@h"], ["--", "redis://:***@h"]),
]


@pytest.mark.parametrize(("argv", "shown"), ARGS)
def test_redact_args(argv: list[str], shown: list[str]) -> None:
    assert redact_args(argv) == shown


def test_redact_text_masks_the_url_and_its_secrets_anywhere() -> None:
    url = "redis://alice:hunter22@h:1/0?ssl_password=k3yp4ss"
    text = f"cannot use {url}: AUTH hunter22 failed; hunter22 again; k3yp4ss"
    assert redact_text(text, url) == (
        "cannot use redis://alice:***@h:1/0?ssl_password=***: AUTH *** failed; *** again; ***"
    )
    assert redact_text("oops redis://:x@h", "redis://:pw#x@h") == "oops redis://:x@h"
    assert redact_text("bad redis://:secret", "redis://:secret") == f"bad {U}"
    # Any query value is masked in the text too, under whatever (misspelt) name it came.
    url = "redis://h:1/0?pasword=s3cret"
    assert redact_text(f"{url}: s3cret refused", url) == "redis://h:1/0?pasword=***: *** refused"
    # A value that is part of the URL as shown leaves the shown URL whole.
    url = "redis://redis.example:1/0?client_name=redis"
    assert redact_text(f"at {url}: redis said no", url) == (
        "at redis://redis.example:1/0?client_name=***: *** said no"
    )
    url = "redis://h:port/0?pasword=s3cret"  # unreadable: its query values are masked still
    assert redact_text(f"at {url}: s3cret", url) == "at redis://h:***/0?pasword=***: ***"


# Every printable character, the reserved ones included (space too).
PASSWORD = st.text(alphabet=string.printable.strip() + " ", min_size=1, max_size=24)
# In a query, "&" and ";" separate parameters: a password holding them cannot be told apart
# from a following parameter, so the query forms draw without them.
QUERY_PASSWORD = st.text(
    alphabet=st.sampled_from([c for c in string.printable.strip() + " " if c not in "&;"]),
    min_size=1,
    max_size=24,
)
USERINFO_FORMS = [
    ("redis://user:{}@host:6379/0", "redis://user:***@host:6379/0"),
    ("redis://:{}@[::1]:6380/0", "redis://:***@[::1]:6380/0"),
    ("rediss://alice:{}@cache.example.com", "rediss://alice:***@cache.example.com"),
    ("unix://:{}@/run/redis.sock?db=0", "unix://:***@/run/redis.sock?db=***"),
]
QUERY_FORMS = [
    ("redis://host:6379/0?db=0&password={}", "redis://host:6379/0?db=***&password=***"),
    ("unix:///run/redis.sock?PASSWORD={};db=0", "unix:///run/redis.sock?PASSWORD=***;db=***"),
    ("redis://host/0?username=bob:{}", "redis://host/0?username=***"),
    ("redis://host/0?pasword={}", "redis://host/0?pasword=***"),  # any name, misspelt too
]


@given(password=PASSWORD, form=st.sampled_from(USERINFO_FORMS))
def test_no_userinfo_password_ever_shows(password: str, form: tuple[str, str]) -> None:
    template, shown = form
    url = template.format(password)
    assume(password not in shown)  # e.g. "0" is in every output, yet was not leaked
    assert password not in redact_url(url)
    assert redact_url(url) == shown
    argv = ["--redis-url", url, f"--redis-url={url}", url]
    assert redact_args(argv) == ["--redis-url", shown, f"--redis-url={shown}", shown]


@given(password=QUERY_PASSWORD, form=st.sampled_from(QUERY_FORMS))
def test_no_query_password_ever_shows(password: str, form: tuple[str, str]) -> None:
    template, shown = form
    url = template.format(password)
    assume(password not in shown)
    assert password not in redact_url(url)
    assert redact_url(url) == shown
    assert redact_args([f"--redis-url={url}"]) == [f"--redis-url={shown}"]
    if len(password) >= 4:  # shorter secrets are masked inside the URL only
        assert password not in redact_text(f"error at {url} ({password})", url)
