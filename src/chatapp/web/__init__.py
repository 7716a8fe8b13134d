"""The web client's files (``static/``), shipped in the wheel and served by ``--web-port``
(:mod:`chatapp.server.static_site`). No Python here."""
