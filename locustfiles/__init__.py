"""Locust scenarios that load lobbycore straight against Redis, and audit the pool at the end.

Run ``lobbysim load ...`` or ``locust -f "$(lobbysim load --locustfile)" ...`` (docs/locust.md).
Everything here imports Locust, which monkey-patches the process (gevent): import it only
inside a Locust run.
"""
