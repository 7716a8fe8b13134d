"""Why a server closes a connection: the ``reason`` of a ``bye`` frame.

Stable strings, like error codes: a client decides from them whether to
reconnect (a shutdown, a full server or a lost link: yes; a quit, a kick, a
replaced or ended session or the client's own end of input: no).
"""

from __future__ import annotations

import enum


class ByeReason(enum.StrEnum):
    QUIT = "quit"
    SHUTDOWN = "server shutting down"
    SEND_QUEUE_EXCEEDED = "send queue exceeded"
    REPLACED = "replaced by another login"
    AUTH_TIMEOUT = "authentication timeout"
    TOO_MANY_INVALID = "too many invalid frames"
    TOO_MANY_UNAUTHENTICATED = "too many frames before authentication"
    IDLE_TIMEOUT = "idle timeout"
    TOO_MANY_CONNECTIONS = "too many connections from your address"
    TOO_MANY_FROM_NETWORK = "too many connections from your network"
    SERVER_FULL = "server full"
    CLIENT_CLOSED = "client closed"
    KICKED = "kicked"
    SESSION_ENDED = "session ended by its user"
    SUSPENDED = "account suspended"
    DISCONNECTED = "disconnected by a moderator"
    ADDRESS_BANNED = "address banned"


NO_RECONNECT: frozenset[str] = frozenset(
    {
        ByeReason.QUIT,
        ByeReason.REPLACED,
        ByeReason.KICKED,
        ByeReason.TOO_MANY_INVALID,
        ByeReason.CLIENT_CLOSED,
        ByeReason.SESSION_ENDED,
        ByeReason.SUSPENDED,
        ByeReason.DISCONNECTED,
        ByeReason.ADDRESS_BANNED,
    }
)
"""Reasons after which a client must not reconnect by itself."""
