"""``chatapp-admin``: the server machine's operator acts on a chatapp server.

With the server running, a command goes through its control socket
(:mod:`chatapp.server.transport.control`) as one frame of the protocol, and
takes effect at once; without one, it is carried out on the database alone by
the same administration service the server uses. Modules:

- :mod:`.__main__` — the console script: parse, run, print, exit codes.
- :mod:`.commands` — the command line: subcommands, options, and the frame each one is.
- :mod:`.durations` — ``30s``, ``10m``, ``2h``, ``7d`` as seconds.
- :mod:`.live` — one question to a running server over its control socket.
- :mod:`.offline` — the same question answered from the database alone.
- :mod:`.output` — an answer as readable lines.
"""
