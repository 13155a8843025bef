"""Checkers above the pool audit, for tests and load tests: they need lobbycore only.

* :mod:`lobbysim.checks.history`: a concurrent run's Python calls (each with its invocation
  and completion times) and the pool as it ended, checked against what any correct pool
  could have done (the test suite's oracle).
* :mod:`lobbysim.checks.answers`: any lobby service checked from its HTTP answers alone,
  with no access to its database (the HTTP scenarios' end-of-run check).
* :mod:`lobbysim.checks.counts`: a load run's own counts (its successful calls) against
  the pool it ran on (the Locust end-of-run audit).
* :mod:`lobbysim.checks.calls`: the record of one HTTP call and the outcomes (``ok``,
  ``fail``, ``unknown``) both history checkers use.

Each returns a :class:`lobbycore.violations.Verdict` of :class:`~lobbycore.violations.Finding`\\ s,
the records the pool audit (:mod:`lobbycore.audit`) and the dashboard's live auditor share.
"""
