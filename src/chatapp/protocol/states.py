"""The states of a connection and, for both roles, which frames each state allows.

One table per direction, declared once (as h11's ``_state.py`` does): the server's
protocol object refuses a client frame its state does not allow, the client's
refuses to send one (a bug of the client, not of the peer), and each side checks
what the other sends it.

``OPENING``: connected, ``welcome`` not yet sent (server) or received (client).
``GREETED``: welcome done, not signed in. ``AUTHENTICATED``: ``auth_ok`` sent or
received. ``CLOSED``: ``bye`` sent or received, or the link is gone.
"""

from __future__ import annotations

import enum
import typing

from .errors import ErrorCode, ProtocolError
from .frames import (
    AuthOk,
    Bye,
    ClientFrame,
    Error,
    Login,
    Ping,
    Pong,
    Quit,
    Register,
    Resume,
    ServerFrame,
    Welcome,
)


class State(enum.Enum):
    OPENING = "opening"
    GREETED = "greeted"
    AUTHENTICATED = "authenticated"
    CLOSED = "closed"


_CLIENT_FRAMES: frozenset[type] = frozenset(typing.get_args(ClientFrame))
_SERVER_FRAMES: frozenset[type] = frozenset(typing.get_args(ServerFrame))

ANY_STATE: frozenset[type] = frozenset({Ping, Pong, Quit})
"""Client frames every open state accepts."""
SIGN_IN: frozenset[type] = frozenset({Register, Login, Resume})
"""Client frames that sign in: only before signing in."""
SIGNED_IN: frozenset[type] = _CLIENT_FRAMES - ANY_STATE - SIGN_IN
"""Client frames of a signed-in user: everything else a client sends."""

CLIENT_MAY_SEND: dict[State, frozenset[type]] = {
    State.OPENING: frozenset(),
    State.GREETED: ANY_STATE | SIGN_IN,
    State.AUTHENTICATED: ANY_STATE | SIGNED_IN,
    State.CLOSED: frozenset(),
}

SERVER_MAY_SEND: dict[State, frozenset[type]] = {
    State.OPENING: frozenset({Welcome, Bye}),  # a refusal at accept time is a lone bye
    State.GREETED: frozenset({AuthOk, Error, Bye, Ping, Pong}),
    State.AUTHENTICATED: _SERVER_FRAMES - {Welcome, AuthOk},
    State.CLOSED: frozenset(),
}


def refusal(state: State, kind: type) -> ProtocolError | None:
    """Why the server refuses a client frame of type ``kind`` in ``state``; None if it is allowed."""
    if kind in CLIENT_MAY_SEND[state]:
        return None
    if kind in SIGNED_IN:
        return ProtocolError(ErrorCode.NOT_AUTHENTICATED, "log in or register first")
    if kind in SIGN_IN:
        return ProtocolError(ErrorCode.ALREADY_AUTHENTICATED, "you are already signed in")
    return ProtocolError(ErrorCode.BAD_FRAME, f"the connection is {state.value}")
