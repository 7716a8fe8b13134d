"""Transports: thin shells that move bytes between a socket and a protocol object.

- :mod:`.tcp` — protocol v1 over TCP: one connection's life.
- :mod:`.listener` — the TCP listener: bind, accept, refusals at accept time, closing every connection.
- :mod:`.delivery` — outboxes and the end-of-turn fan-out; below the hub, and shared by every transport.

Nothing below this package knows which transport carried a client's bytes.
"""
