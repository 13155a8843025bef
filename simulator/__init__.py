"""simulator: the Textual dashboard and its simulation engine.

Not built yet: it is the subject of the simulator issue. Until then, ``make demo`` runs
``lobbysim race`` (a headless side-by-side run of lobbycore and the article's algorithm).
"""
