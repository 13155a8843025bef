"""Locust scenarios: simulated ticket buyers joining lobbies through lobbycore.

    locust -f locustfiles/lobby.py --headless -u 500 -r 500 -t 1m \\
        --redis-url redis://127.0.0.1:6379/0 --csv out/run JoinStorm

Pick scenarios by class name (JoinStorm, JoinAndBook, Churn, PartyJoin, OpenJoins); with
none named, Locust runs them all. Add ``,locustfiles/step_load.py`` to ``-f`` for a step
load. At the end the pool is audited, any broken guarantee makes the run exit 1, and a
fresh pool is deleted (``--keep`` keeps it). The users share one auto-pipelining client per
process (``pipeline.py``), so thousands of them need only a few connections.
"""

from __future__ import annotations

import random
import time

import gevent
from locust import constant, task

from lobbycore import AlreadyBooked, SoldOut
from locustfiles import lifecycle  # noqa: F401  (hooks the run into Locust's events)
from locustfiles.client import LobbyUser, new_buyer_id, new_party_ids
from locustfiles.options import add_lobby_options  # noqa: F401  (registers the options)

POLL_SECONDS = 0.05
FILL_TIMEOUT_SECONDS = 10.0


class JoinStorm(LobbyUser):
    """Joins only, as fast as possible: the sharpest test of capacity and one-lobby-per-user."""

    wait_time = constant(0)

    @task
    def join(self) -> None:
        share = self.settings.party_share
        if share and random.random() < share:
            size = random.randint(2, max(2, min(3, self.settings.max_users)))
            if size <= self.settings.max_users:
                self.client.party_join(
                    new_party_ids(self.client.store, size), self.settings.max_users
                )
                return
        self.client.join(new_buyer_id(), self.settings.max_users)


class JoinAndBook(LobbyUser):
    """One buyer at a time: join, wait for the lobby to fill, and the first member books."""

    wait_time = constant(0)

    @task
    def buy(self) -> None:
        me = new_buyer_id()
        lobby = self.client.join(me, self.settings.max_users)
        deadline = gevent.get_hub().loop.now() + FILL_TIMEOUT_SECONDS
        while lobby is not None and not lobby.is_full:
            if gevent.get_hub().loop.now() > deadline:
                self.client.leave(me)  # impatient: give the place back
                return
            gevent.sleep(POLL_SECONDS)
            lobby = self.client.lobby_of(me)
        if lobby is not None and lobby.users[0] == me:
            # Booking races with nobody here, but SoldOut is the normal end of an on-sale.
            result = self.client.book(lobby.id, expected=(AlreadyBooked, SoldOut))
            if isinstance(result, SoldOut):
                gevent.sleep(1.0)  # sold out: nothing left to buy
        elif lobby is not None:
            # Another member books; wait until the lobby is gone (booked) before buying again.
            while self.client.lobby_of(me) is not None:
                if gevent.get_hub().loop.now() > deadline:
                    self.client.leave(me)
                    return
                gevent.sleep(POLL_SECONDS)


class Churn(LobbyUser):
    """Join, leave, re-join: lobbies keep reopening at their place in the fill order."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.me = new_buyer_id()
        self.placed = False

    @task(3)
    def join(self) -> None:
        self.client.join(self.me, self.settings.max_users, placing=0 if self.placed else 1)
        # Placed now, or maybe (a failed call may have run): report no placement next time,
        # so the run never claims more placements than the server counted.
        self.placed = True

    @task(2)
    def leave(self) -> None:
        if self.client.leave(self.me):
            self.placed = False

    @task(1)
    def new_identity(self) -> None:
        self.leave()
        self.me = new_buyer_id()
        self.placed = False


class PartyJoin(LobbyUser):
    """Parties of 2-3 mixed with single buyers (half and half unless --party-share is set)."""

    wait_time = constant(0)

    @task
    def join(self) -> None:
        share = self.settings.party_share or 0.5
        size = random.randint(2, 3) if random.random() < share else 1
        size = min(size, self.settings.max_users)
        if size == 1:
            self.client.join(new_buyer_id(), self.settings.max_users)
        else:
            self.client.party_join(new_party_ids(self.client.store, size), self.settings.max_users)


class OpenJoins(LobbyUser):
    """Open model: each user sends joins on a fixed schedule (--arrival-rate per second),
    whether or not earlier calls have come back late, and each latency counts from the time
    the join was *meant* to be sent, so a slow server shows up as queueing delay instead of
    quietly slowing the load down (no coordinated omission). Reported as "join (open)"."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.interval = 1.0 / self.settings.arrival_rate
        self.next_at = time.perf_counter() + random.random() * self.interval  # spread users out

    @task
    def join(self) -> None:
        delay = self.next_at - time.perf_counter()
        if delay > 0:
            gevent.sleep(delay)
        intended, self.next_at = self.next_at, self.next_at + self.interval
        self.client.join(
            new_buyer_id(), self.settings.max_users, intended=intended, name="join (open)"
        )


__all__ = ["Churn", "JoinAndBook", "JoinStorm", "OpenJoins", "PartyJoin"]
