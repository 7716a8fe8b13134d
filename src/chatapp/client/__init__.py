"""The terminal client of chatapp.

- :mod:`.net` — the network side (the session's protocol part, its TCP link, reconnecting), no UI;
- :mod:`.ui` — the chat's state (pure), the full-screen chat screen, line mode, signing in;
- :mod:`.clock` — time, injected so tests control it;
- :mod:`.__main__` — ``chatapp-client``: options, logging, exit codes.
"""

from .net.backoff import Backoff
from .net.errors import AuthError, ClientError, ConnectError, SendRefused
from .net.events import (
    ConnectionState,
    LinkDown,
    LinkUp,
    Outgoing,
    ReconnectFailed,
    Reconnecting,
    SendFailed,
    SessionEnded,
    SessionEvent,
)
from .net.session import ChatSession

__all__ = [
    "AuthError",
    "Backoff",
    "ChatSession",
    "ClientError",
    "ConnectError",
    "ConnectionState",
    "LinkDown",
    "LinkUp",
    "Outgoing",
    "ReconnectFailed",
    "Reconnecting",
    "SendFailed",
    "SendRefused",
    "SessionEnded",
    "SessionEvent",
]
