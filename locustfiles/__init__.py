"""Locust scenarios that load lobbycore straight against Redis, and audit the pool at the end.

Run ``locust -f locustfiles/lobby.py ...`` (see the README). Everything here imports
Locust, which monkey-patches the process (gevent): import it only inside a Locust run.
"""
