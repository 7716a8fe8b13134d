"""What moderation and administration frames do to the chat. Pure: no prompt_toolkit, no asyncio.

:func:`handle_moderation` takes the frames of issue 11 that
:class:`~chatapp.client.ui.state.ChatState` passes on: a ``room_event`` is a
line in its room (and, when it puts you out of the room, closes it and shows
another); a deleted room is closed; a removed message is shown again as
"(message removed by …)"; roles and a room's privacy are kept for the roster
and the title bar; the answers to requests are notes in the active target.
"""

from __future__ import annotations

import msgspec

from chatapp.protocol import RoomInfo
from chatapp.protocol.moderation_frames import (
    AddressBanList,
    AdminDone,
    AuditPage,
    MessageRemoved,
    PasswordChanged,
    RoomDeleted,
    RoomEvent,
    SanctionList,
    UserList,
)

from . import modsentences
from .lines import message_lines, parse_timestamp
from .model import ChatModel
from .targets import Kind, Target

ModerationFrame = (
    RoomEvent | RoomDeleted | MessageRemoved | SanctionList | PasswordChanged | AdminDone | UserList
    | AddressBanList | AuditPage
)


def handle_moderation(chat: ChatModel, event: object) -> bool:
    """Take ``event`` if it is one of the moderation frames; False when it is not."""
    if isinstance(event, RoomEvent):
        _room_event(chat, event)
    elif isinstance(event, RoomDeleted):
        chat.requests.answered(event.ref)
        chat.known_rooms.pop(event.room, None)
        text = modsentences.room_deleted_text(event, chat.me)
        target = chat.targets.find(Kind.ROOM, event.room)
        if target is not None and target.member:
            chat.drop_room(target, text, level="error")
        else:
            chat.note(text, level="leave")
    elif isinstance(event, MessageRemoved):
        chat.requests.answered(event.ref)
        _message_removed(chat, event)
    elif isinstance(event, PasswordChanged):
        chat.requests.answered(event.ref)
        ended = event.sessions_ended
        others = f"; {ended} other session{'s were' if ended != 1 else ' was'} signed out" if ended else ""
        chat.note(f"Your password is changed{others}.", level="ok")
        if chat.e2e is not None and chat.new_password is not None:
            chat.e2e.rewrap(chat.new_password)  # this device's keys now open with the new password
        chat.new_password = None
    else:
        return _answer(chat, event)
    return True


def _answer(chat: ChatModel, event: object) -> bool:
    """The lists and ``admin_done``: notes for the one who asked."""
    tz, now = chat.tz, chat.now()
    if isinstance(event, SanctionList):
        chat.requests.answered(event.ref)
        chat.note(modsentences.sanction_list_text(event, tz=tz, now=now))
    elif isinstance(event, AdminDone):
        request = chat.requests.answered(event.ref)
        role = request.detail if request is not None else None
        chat.note(modsentences.admin_done_text(event, tz=tz, now=now, role=role), level="ok")
    elif isinstance(event, UserList):
        request = chat.requests.answered(event.ref)
        query = request.detail if request is not None else None
        chat.users_next = (query, event.users[-1].username) if event.has_more and event.users else None
        chat.note(modsentences.user_list_text(event, tz=tz, now=now))
    elif isinstance(event, AddressBanList):
        chat.requests.answered(event.ref)
        chat.note(modsentences.address_ban_list_text(event, tz=tz, now=now))
    elif isinstance(event, AuditPage):
        chat.requests.answered(event.ref)
        chat.audit_next = min(entry.id for entry in event.events) if event.has_more and event.events else None
        chat.note(modsentences.audit_page_text(event, tz=tz, now=now))
    else:
        return False
    return True


def _room_event(chat: ChatModel, event: RoomEvent) -> None:
    chat.requests.answered(event.ref)
    target = chat.targets.find(Kind.ROOM, event.room)
    here = target if target is not None and target.member else None
    text = modsentences.room_event_text(event, chat.me, tz=chat.tz, now=chat.now())
    mine = event.user is not None and chat.is_me(event.user)
    if here is not None and mine and event.action in ("kick", "ban"):
        chat.drop_room(here, text + ("" if text.endswith(".") else "."), level="error")
        return
    if here is not None:
        _roles_and_mode(chat, here, event, mine)
    if event.action in ("private", "public"):
        _known_privacy(chat, event.room, event.action == "private")
    level = "error" if mine and event.action in ("mute", "uninvite", "deop") else "info"
    chat.note(text + ("" if text.endswith(".") else "."), level=level, target=here)


def _roles_and_mode(chat: ChatModel, target: Target, event: RoomEvent, mine: bool) -> None:
    user = event.user
    if event.action in ("private", "public"):
        target.private = event.action == "private"
    elif user is not None and event.action in ("op", "deop", "transfer"):
        role = {"op": "operator", "deop": None, "transfer": "owner"}[event.action]
        if event.action == "transfer":  # the old owner (the actor, or not: an admin may) becomes an operator
            for known in list(target.online.values()):
                if known.role == "owner":
                    target.set_role(known.username, "operator")
            if target.role == "owner":
                target.role = "operator"
        target.set_role(user, role)
        if mine:
            target.role = role


def _known_privacy(chat: ChatModel, room: str, private: bool) -> None:
    known = chat.known_rooms.get(room)
    if known is not None:
        chat.known_rooms[room] = RoomInfo(
            name=known.name, topic=known.topic, members=known.members, online=known.online,
            joined=known.joined, private=private,
        )


def _message_removed(chat: ChatModel, event: MessageRemoved) -> None:
    """Show the message as removed wherever it is shown (a room, or the conversation holding it)."""
    if event.room is not None:
        room = chat.targets.find(Kind.ROOM, event.room)
        candidates = [room] if room is not None else []
    else:
        candidates = [target for target in chat.targets if target.kind is Kind.DM]
    for target in candidates:
        message = target.log.sources.get(event.id)
        if message is None:
            continue
        removed = msgspec.structs.replace(message, text="", removed_by=event.by)
        when = parse_timestamp(removed.ts) or chat.now()
        lines = message_lines(removed, chat.me, tz=chat.tz, received=when, time_format=chat.time_format)
        target.log.replace_message(event.id, lines)
        target.log.sources[event.id] = removed
        return
