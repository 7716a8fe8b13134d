"""Handlers by topic: ``accounts`` (signing in and out, and the frames any state accepts), ``chat``,
``rooms``, ``people`` and ``sessions``. :mod:`chatapp.server.dispatch` maps frame types to them.

A handler answers through the peer or session it is given and refuses by raising
:class:`~chatapp.protocol.ProtocolError`; one that ends its client's connection
returns a :class:`~chatapp.server.session.Goodbye`.
"""
