"""A lobby service that is not lobbycore, for the HTTP scenario tests: its own API, its own
keys, plain redis-py on a threaded HTTP server.

    python third_service.py --port P --redis-url URL --mode correct|broken

``correct`` makes each join and booking one optimistic transaction (WATCH/MULTI/EXEC,
retried on conflict). ``broken`` does what many hand-written services do: read the open
lobby, check its capacity, then write it back in a second round trip, so two concurrent
joins overwrite each other (a lost join).
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis

STEP_SECONDS = 0.002
"""broken mode: the time between the read and the write (a second round trip, widened)."""


class Service:
    def __init__(self, client: redis.Redis, mode: str) -> None:
        self.r = client
        self.mode = mode
        self.prefix = f"third:{mode}:{uuid.uuid4().hex[:8]}:"

    def _lobby_key(self, lobby_id: str) -> str:
        return f"{self.prefix}lobby:{lobby_id}"

    def get(self, lobby_id: str) -> dict[str, Any] | None:
        raw = self.r.get(self._lobby_key(lobby_id))
        return None if raw is None else {"lobbyId": lobby_id, **json.loads(raw)}

    def join(self, user: str, size: int) -> dict[str, Any]:
        if self.mode == "broken":
            return self._join_broken(user, size)
        open_key, user_key = f"{self.prefix}open:{size}", f"{self.prefix}user:{user}"
        while True:
            with self.r.pipeline() as pipe:
                try:
                    pipe.watch(open_key, user_key)
                    current = pipe.get(user_key)
                    if current is not None:
                        lobby = self.get(current.decode())
                        if lobby is not None:
                            return lobby
                    lobby_id = pipe.get(open_key)
                    lobby = None
                    if lobby_id is not None:
                        lobby_id = lobby_id.decode()
                        pipe.watch(self._lobby_key(lobby_id))
                        lobby = self.get(lobby_id)
                    if lobby is None:
                        lobby_id = uuid.uuid4().hex
                        lobby = {"lobbyId": lobby_id, "members": [], "size": size, "booked": False}
                    lobby["members"].append(user)
                    pipe.multi()
                    pipe.set(self._lobby_key(lobby_id), json.dumps(_stored(lobby)))
                    pipe.set(user_key, lobby_id)
                    if len(lobby["members"]) >= size:
                        pipe.delete(open_key)
                    else:
                        pipe.set(open_key, lobby_id)
                    pipe.execute()
                    return lobby
                except redis.WatchError:
                    continue

    def _join_broken(self, user: str, size: int) -> dict[str, Any]:
        open_key = f"{self.prefix}open:{size}"
        lobby_id = self.r.get(open_key)
        lobby = None if lobby_id is None else self.get(lobby_id.decode())
        if lobby is None or len(lobby["members"]) >= size:
            lobby = {"lobbyId": uuid.uuid4().hex, "members": [], "size": size, "booked": False}
        time.sleep(STEP_SECONDS)
        lobby["members"].append(user)  # capacity was checked above, one round trip ago
        self.r.set(self._lobby_key(lobby["lobbyId"]), json.dumps(_stored(lobby)))
        if len(lobby["members"]) >= size:
            self.r.delete(open_key)
        else:
            self.r.set(open_key, lobby["lobbyId"])
        return lobby

    def book(self, lobby_id: str) -> tuple[int, dict[str, Any]]:
        key = self._lobby_key(lobby_id)
        while True:
            with self.r.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    lobby = self.get(lobby_id)
                    if lobby is None:
                        return 404, {"error": "no_such_lobby"}
                    if lobby["booked"]:
                        return 409, {"error": "taken"}
                    lobby["booked"] = True
                    pipe.multi()
                    pipe.set(key, json.dumps(_stored(lobby)))
                    pipe.delete(f"{self.prefix}open:{lobby['size']}")
                    pipe.execute()
                    return 200, {"booked": lobby["members"]}
                except redis.WatchError:
                    continue


def _stored(lobby: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in lobby.items() if k != "lobbyId"}


def handler_for(service: Service) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            if len(parts) == 3 and parts[:2] == ["api", "lobby"]:
                lobby = service.get(parts[2])
                if lobby is None:
                    self._send(404, {"error": "no_such_lobby"})
                else:
                    self._send(200, {"lobby": lobby})
            else:
                self._send(404, {"error": "no_route"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            parts = self.path.strip("/").split("/")
            if parts == ["api", "lobby"]:
                self._send(200, {"lobby": service.join(str(body["user"]), int(body["max"]))})
            elif len(parts) == 4 and parts[:2] == ["api", "lobby"] and parts[3] == "checkout":
                self._send(*service.book(parts[2]))
            else:
                self._send(404, {"error": "no_route"})

    return Handler


TARGET = """\
[lobby]
at = "lobby"
id = "lobbyId"
users = "members"
size = "size"

[errors]
code = "error"
already_booked = "taken"

[join]
method = "POST"
path = "/api/lobby"
body = { user = "{user}", max = "{size}" }

[get_lobby]
method = "GET"
path = "/api/lobby/{lobby}"

[book]
method = "POST"
path = "/api/lobby/{lobby}/checkout"
users = "booked"
"""
"""The target description of this service, for locustfiles/http.py --target."""


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # -u 500 connects at once


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--mode", choices=("correct", "broken"), required=True)
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis_url, max_connections=1000)
    server = Server(("127.0.0.1", args.port), handler_for(Service(client, args.mode)))
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
