"""The one table from a client frame's type to its handler, and the one place a handler's refusal
or failure becomes an ``error`` frame.

Which frames each state allows is the protocol's state table
(:mod:`chatapp.protocol.states`): a frame reaches :func:`dispatch` only if the
peer's state allows it. Handlers of the frames of a signed-in user take its
:class:`Session`; the others (signing in, and what any state accepts) take the
:class:`Peer`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from chatapp.protocol import (
    Away,
    ClientFrame,
    EndSession,
    ErrorCode,
    History,
    Join,
    Leave,
    ListRooms,
    ListSessions,
    Login,
    Ping,
    Pong,
    ProtocolError,
    Quit,
    Register,
    Resume,
    Send,
    SendDirect,
    SetTopic,
    Who,
    Whois,
)
from chatapp.protocol.e2e_frames import ClaimKey, DeleteDevice, ListDevices, PublishKeys
from chatapp.protocol.file_frames import FileLink, FileRead, UploadCancel, UploadChunk, UploadStart
from chatapp.protocol.moderation_frames import (
    Admin,
    ChangePassword,
    DeleteMessage,
    DeleteRoom,
    ListAddressBans,
    ListSanctions,
    ListUsers,
    Moderate,
    ReadAudit,
    RoomMode,
    SetProfile,
    UserSessions,
)
from chatapp.server.handlers import (
    accounts,
    admin,
    chat,
    devices,
    files,
    password,
    people,
    profile,
    room_moderation,
    rooms,
    sessions,
)
from chatapp.server.services import Services
from chatapp.server.session import Goodbye, Peer, Session

log = logging.getLogger("chatapp.dispatch")

F = TypeVar("F")
Handler = Callable[[Peer, Any, Services], Awaitable[Goodbye | None]]


def signed_in(handler: Callable[[Session, F, Services], Awaitable[Goodbye | None]]) -> Handler:
    """A handler of a signed-in user's frame, given the peer's session."""

    @functools.wraps(handler)
    async def with_session(peer: Peer, frame: F, services: Services) -> Goodbye | None:
        session = peer.session
        assert session is not None, "the protocol's state table lets these frames in only once signed in"
        return await handler(session, frame, services)

    return with_session


HANDLERS: dict[type, Handler] = {
    # Any state.
    Ping: accounts.on_ping,
    Pong: accounts.on_pong,
    Quit: accounts.on_quit,
    # Signing in.
    Register: accounts.on_register,
    Login: accounts.on_login,
    Resume: accounts.on_resume,
    # Signed in.
    Send: signed_in(chat.on_send),
    SendDirect: signed_in(chat.on_direct),
    History: signed_in(chat.on_history),
    Join: signed_in(rooms.on_join),
    Leave: signed_in(rooms.on_leave),
    ListRooms: signed_in(rooms.on_list_rooms),
    SetTopic: signed_in(rooms.on_set_topic),
    Who: signed_in(rooms.on_who),
    Whois: signed_in(people.on_whois),
    Away: signed_in(people.on_away),
    ListSessions: signed_in(sessions.on_list_sessions),
    EndSession: signed_in(sessions.on_end_session),
    # Room moderation.
    Moderate: signed_in(room_moderation.on_moderate),
    RoomMode: signed_in(room_moderation.on_room_mode),
    DeleteRoom: signed_in(room_moderation.on_delete_room),
    DeleteMessage: signed_in(room_moderation.on_delete_message),
    ListSanctions: signed_in(room_moderation.on_sanctions),
    # Server moderation and administration (moderators and admins; the service asks the policy).
    Admin: signed_in(admin.on_admin),
    UserSessions: signed_in(admin.on_user_sessions),
    ListUsers: signed_in(admin.on_users),
    ListAddressBans: signed_in(admin.on_address_bans),
    ReadAudit: signed_in(admin.on_audit),
    # Profile and password.
    ChangePassword: signed_in(password.on_passwd),
    SetProfile: signed_in(profile.on_profile),
    # End-to-end encryption: devices and their keys.
    PublishKeys: signed_in(devices.on_publish_keys),
    ListDevices: signed_in(devices.on_devices),
    ClaimKey: signed_in(devices.on_claim_key),
    DeleteDevice: signed_in(devices.on_delete_device),
    # Sharing files.
    UploadStart: signed_in(files.on_upload_start),
    UploadChunk: signed_in(files.on_upload_chunk),
    UploadCancel: signed_in(files.on_upload_cancel),
    FileRead: signed_in(files.on_file_read),
    FileLink: signed_in(files.on_file_link),
}

_FAILED = "the server could not handle that; try again"


async def dispatch(peer: Peer, frame: ClientFrame, services: Services) -> Goodbye | None:
    """Handle one frame the peer's state allows; a refusal is answered here with an ``error``,
    and an unexpected failure with ``server_error`` (logged with its traceback): the connection
    and everyone else go on."""
    handler = HANDLERS.get(type(frame))
    if handler is None:
        kind = frame.__struct_config__.tag
        peer.refuse(
            ProtocolError(ErrorCode.UNKNOWN_TYPE, f"this server does not handle {kind!r} yet"), frame.ref
        )
        return None
    try:
        goodbye = await handler(peer, frame, services)
    except ProtocolError as error:
        peer.refuse(error, frame.ref)
        return None
    except Exception:
        log.exception("unexpected error handling a frame from %s", peer.endpoint)
        peer.refuse(ProtocolError(ErrorCode.SERVER_ERROR, _FAILED), frame.ref)
        return None
    peer.protocol.handled()
    return goodbye
