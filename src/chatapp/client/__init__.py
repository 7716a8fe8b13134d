"""The terminal client of chatapp.

- :mod:`.net` — the network side (the session's protocol part, its TCP link, reconnecting), no UI;
- :mod:`.tui` — the full-screen chat screen (prompt_toolkit);
- :mod:`.signin` — the log in / register dialogue before the screen opens;
- :mod:`.commands` — ``/commands`` parsed into actions (pure);
- :mod:`.render` — formatting and sanitising of everything received (pure);
- :mod:`.targets` — rooms and direct conversations, each with its own pane and unread count;
- :mod:`.view`, :mod:`.completion` — the message pane and tab completion;
- :mod:`.linemode` — the client without a terminal (scripts, pipes);
- :mod:`.clock` — time, injected so tests control it;
- :mod:`.__main__` — ``chatapp-client``: options, logging, exit codes.
"""

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
from .net.keeper import Backoff
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
