"""TLS, an ACL user limited to the project's keys, and passwords kept out of every message."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
import redis

from lobbycore import InsecureTLS, LobbyStore, connect
from lobbycore.audit import check, snapshot
from lobbysim.testing import RedisServer, make_self_signed_cert
from tests.cli import lobbysim

PASSWORD = "s3cret-pw"
# +info: a store reads INFO once (version, maxmemory-policy), as managed services allow.
ACL = (
    "--user",
    "lobby",
    "on",
    f">{PASSWORD}",
    "~lobbysim:*",
    "&*",
    "+@all",
    "-@dangerous",
    "+info",
)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    certs = make_self_signed_cert(tmp_path_factory.mktemp("tls"))
    server = RedisServer(*ACL, tls=certs)
    try:
        yield server.start()
    finally:
        server.close()


def lobby_url(server: RedisServer, password: str = PASSWORD) -> str:
    return f"rediss://lobby:{password}@127.0.0.1:{server.port}/0"


def ca(server: RedisServer) -> str:
    assert server.tls is not None
    return str(server.tls / "cert.pem")


def test_tls_and_acl_user_run_every_operation(tls_server: RedisServer) -> None:
    client = connect(lobby_url(tls_server), ssl_ca_certs=ca(tls_server))
    store = LobbyStore(client, pool="secure", lobby_ttl=30)
    store.set_seats(10)
    lobby = store.join_party(["a", "b"], 3)
    assert store.find_or_create_lobby("c", 3).is_full
    assert store.leave_lobby("c") is not None and store.lobby_of("a") == store.get_lobby(lobby.id)
    assert store.book_ticket(lobby.id).users == ("a", "b")
    assert store.seats_left() == 8 and store.sweep_expired() == 0 and store.events()
    assert check(snapshot(client, "secure")).ok  # the audit runs with the same rights


def test_acl_user_cannot_touch_other_keys(tls_server: RedisServer) -> None:
    client = connect(lobby_url(tls_server), ssl_ca_certs=ca(tls_server))
    tls_server.client().set("someone-else", "theirs")
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.get("someone-else")
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.set("someone-else", "mine")
    assert tls_server.client().get("someone-else") == b"theirs"


def test_plain_connection_to_a_tls_port_fails_cleanly(tls_server: RedisServer) -> None:
    with pytest.raises(redis.ConnectionError):
        connect(f"redis://lobby:{PASSWORD}@127.0.0.1:{tls_server.port}/0", connect_timeout=1).ping()


def test_wrong_password_message_shows_no_password(tls_server: RedisServer) -> None:
    with pytest.raises(redis.RedisError) as info:
        connect(lobby_url(tls_server, "not-the-pw"), ssl_ca_certs=ca(tls_server)).ping()
    assert "not-the-pw" not in str(info.value) and PASSWORD not in str(info.value)


def test_cli_hides_the_password(tls_server: RedisServer) -> None:
    # The CLI builds plain rediss:// clients: without the CA it cannot verify the certificate,
    # and the one-line error must not show the password.
    result = lobbysim("audit", "--redis-url", lobby_url(tls_server), "--pool", "secure", timeout=60)
    assert result.returncode == 2
    assert PASSWORD not in result.stdout + result.stderr and "lobby:***@" in result.stderr


def test_cli_with_the_ca_in_the_url(tls_server: RedisServer) -> None:
    url = f"{lobby_url(tls_server)}?ssl_ca_certs={ca(tls_server)}"
    LobbyStore(connect(url), pool="via-cli", lobby_ttl=None).join_party(["x", "y"], 2)
    result = lobbysim("audit", "--redis-url", url, "--pool", "via-cli", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "ok=true" in result.stdout and "waiting=2" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr


def test_tls_without_certificate_checks_is_warned_in_one_line(tls_server: RedisServer) -> None:
    url = f"{lobby_url(tls_server)}?ssl_cert_reqs=none"
    with pytest.warns(InsecureTLS, match="does not check the server's certificate"):
        LobbyStore(connect(url), pool="unchecked", lobby_ttl=None).join_party(["x", "y"], 2)
    result = lobbysim("audit", "--redis-url", url, "--pool", "unchecked", timeout=60)
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "certificate" in line]
    assert warned == [
        "lobbysim: warning: TLS to rediss://lobby:***@127.0.0.1:"
        f"{tls_server.port}/0?ssl_cert_reqs=*** does not check the server's certificate "
        "(ssl_cert_reqs=none): use it only with a test server"
    ]
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("url", "extra", "warned"),
    [
        ("rediss://127.0.0.1:7/0?ssl_cert_reqs=none", {}, True),
        ("rediss://127.0.0.1:7/0?ssl_cert_reqs=NONE", {}, True),
        ("rediss://127.0.0.1:7/0", {"ssl_cert_reqs": None}, True),
        ("rediss://127.0.0.1:7/0", {"ssl_cert_reqs": "none"}, True),
        ("rediss://127.0.0.1:7/0", {}, False),
        ("rediss://127.0.0.1:7/0?ssl_cert_reqs=required", {}, False),
        ("redis://127.0.0.1:7/0?ssl_cert_reqs=none", {}, False),  # no TLS at all: not this
    ],
)
def test_which_urls_skip_the_certificate_check(
    url: str, extra: dict[str, object], warned: bool
) -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        connect(url, cluster=False, **extra).close()  # nothing is sent: no server needed
    assert any(w.category is InsecureTLS for w in seen) is warned
