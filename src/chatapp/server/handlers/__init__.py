"""The one dispatch table: for each connection state, which handler takes which frame.

A handler is ``async def handler(conn, frame) -> None``; it answers through
``conn`` and refuses by raising ``ProtocolError``. A frame type missing from a
state's row is not possible (the decoder knows only these types), so every
type appears in every row, mapped to a refusal where the state does not allow it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from chatapp.protocol import (
    Away,
    EndSession,
    History,
    Join,
    Leave,
    ListRooms,
    ListSessions,
    Login,
    Ping,
    Pong,
    Quit,
    Register,
    Resume,
    Send,
    SendDirect,
    SetTopic,
    Who,
    Whois,
)
from chatapp.server.handlers import accounts, chat, people, rooms, sessions
from chatapp.server.states import State

if TYPE_CHECKING:
    from chatapp.server.connection import Connection

Handler = Callable[["Connection", Any], Awaitable[None]]

_ANY_STATE: dict[type, Handler] = {Ping: accounts.on_ping, Pong: accounts.on_pong, Quit: accounts.on_quit}

_SIGNED_IN: dict[type, Handler] = {
    Send: chat.on_send,
    SendDirect: chat.on_direct,
    History: chat.on_history,
    Join: rooms.on_join,
    Leave: rooms.on_leave,
    ListRooms: rooms.on_list_rooms,
    SetTopic: rooms.on_set_topic,
    Who: rooms.on_who,
    Whois: people.on_whois,
    Away: people.on_away,
    ListSessions: sessions.on_list_sessions,
    EndSession: sessions.on_end_session,
}

_SIGN_IN: dict[type, Handler] = {
    Register: accounts.on_register,
    Login: accounts.on_login,
    Resume: accounts.on_resume,
}


DISPATCH: dict[State, dict[type, Handler]] = {
    State.GREETED: {**_ANY_STATE, **_SIGN_IN, **dict.fromkeys(_SIGNED_IN, accounts.need_auth)},
    State.AUTHENTICATED: {
        **_ANY_STATE,
        **_SIGNED_IN,
        **dict.fromkeys(_SIGN_IN, accounts.already_authenticated),
    },
}
