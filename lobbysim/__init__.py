"""lobbysim, the applications on lobbycore: the ``lobbysim`` command line (:mod:`lobbysim.cli`),
the HTTP service (:mod:`lobbysim.serve`), the checkers above the pool audit
(:mod:`lobbysim.checks`: told histories, HTTP answers, a load run's counts) and private
redis-server processes for tests and benchmarks (:mod:`lobbysim.testing`).

Importing this package loads nothing else: each application imports what it needs (the
simulator, Textual, Locust, FastAPI) only when it runs.
"""
