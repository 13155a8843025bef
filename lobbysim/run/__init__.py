"""The run layer: what every front end (the lobbysim commands, the Locust scenarios,
capacity's load processes) shares about a run. Each module is imported by name
(``lobbysim.run.options``); this package imports nothing."""
