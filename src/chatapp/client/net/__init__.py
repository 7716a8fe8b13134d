"""The network side of the client, no UI.

- :mod:`.core` — the protocol part of a session, no sockets: the outbox matched
  by nonce, the highest id seen, de-duplication, sign-in answers by ref;
- :mod:`.link` — one TCP connection and its read loop; :class:`~.link.Wire` is
  the one seam to the protocol's codec;
- :mod:`.session` — :class:`~.session.ChatSession`: connect, sign in, keep-alive
  pings, reconnect with backoff and jitter, resume;
- :mod:`.tls`, :mod:`.known_servers` — TLS: CA verification, else
  trust on first use pinned in the known-servers file;
- :mod:`.events`, :mod:`.errors` — what it reports and raises.
"""
