"""What the moderation, profile and administration commands do: the requests they send. Pure.

:func:`perform_moderation` carries out an :data:`~chatapp.client.ui.actions.ModerationAction`:
each becomes one request (by ``ref``, so its answer or refusal names what it
was about), except ``/passwd`` and ``/deleteroom``, which first open a
:class:`~chatapp.client.ui.dialogue.Dialogue`. Room commands act on the
active room unless a ``#room`` was typed. Whether the user may is the
server's decision; the client only refuses what could never be sent.
"""

from __future__ import annotations

from collections.abc import Callable

from chatapp.protocol import ClientFrame, Whois
from chatapp.protocol.moderation_frames import (
    Admin,
    DeleteMessage,
    ListAddressBans,
    ListSanctions,
    ListUsers,
    Moderate,
    ReadAudit,
    RoomMode,
    SetProfile,
    UserSessions,
)

from . import actions
from .dialogue import ChangingPassword, DeletingRoom
from .lines import room_label
from .model import ChatModel
from .requests import Request
from .sanitize import sanitize


def perform_moderation(chat: ChatModel, action: actions.ModerationAction) -> bool:
    """Carry out ``action``; True keeps the text in the input line (nothing could be sent)."""
    if isinstance(action, actions.ModerateUser | actions.SetPrivate | actions.RemoveRoom
                  | actions.ShowSanctions):
        return _in_room(chat, action)
    if isinstance(action, actions.RemoveMessage):
        return _remove_message(chat, action.id, action.user)
    if isinstance(action, actions.EditProfile):
        build = request_for(action, "", chat.me)
        assert build is not None
        return not chat.ask(Request("profile"), build)
    if isinstance(action, actions.ShowProfile):
        build = request_for(action, "", chat.me)
        assert build is not None
        return not chat.ask(Request("whois", user=chat.me), build)
    if isinstance(action, actions.ChangeOwnPassword):
        chat.dialogue = ChangingPassword()
        chat.note("Changing your password: type the current one, then the new one twice (shown as *).")
        return False
    return _staff(chat, action)


def request_for(
    action: actions.ModerationAction, room: str, me: str
) -> Callable[[int], ClientFrame] | None:
    """The request a command is, given the room it acts on when it names none (``room``) and who asks.

    None for what needs more than one frame's worth of state: the dialogues
    (``/passwd``, ``/deleteroom``), ``/delete`` without an id, the next page
    of ``/users`` or ``/audit``.
    Line mode sends these as they are; the chat screen goes through :func:`perform_moderation`.
    """
    if isinstance(action, actions.ModerateUser):
        act, where = action, action.room or room
        return lambda ref: Moderate(room=where, action=act.action, user=act.user, reason=act.reason,
                                    duration=act.duration, ref=ref)
    if isinstance(action, actions.SetPrivate):
        private, mode_room = action.private, action.room or room
        return lambda ref: RoomMode(room=mode_room, private=private, ref=ref)
    if isinstance(action, actions.ShowSanctions):
        listed = action.room or room
        return lambda ref: ListSanctions(room=listed, ref=ref)
    if isinstance(action, actions.RemoveMessage) and action.id is not None:
        message_id = action.id
        return lambda ref: DeleteMessage(id=message_id, ref=ref)
    if isinstance(action, actions.EditProfile):
        name, bio = action.display_name, action.bio
        return lambda ref: SetProfile(display_name=name, bio=bio, ref=ref)
    if isinstance(action, actions.ShowProfile):
        return lambda ref: Whois(username=me, ref=ref)
    if isinstance(action, actions.ServerAdmin):
        staff = action
        return lambda ref: Admin(action=staff.action, user=staff.user, address=staff.address, role=staff.role,
                                 session=staff.session, reason=staff.reason, duration=staff.duration, ref=ref)
    if isinstance(action, actions.ShowUserSessions):
        user = action.user
        return lambda ref: UserSessions(user=user, ref=ref)
    if isinstance(action, actions.ListAccounts) and not action.more:
        query = action.query
        return lambda ref: ListUsers(query=query, ref=ref)
    if isinstance(action, actions.ListAddressBans):
        return lambda ref: ListAddressBans(ref=ref)
    if isinstance(action, actions.ShowAudit) and not action.more:
        return lambda ref: ReadAudit(ref=ref)
    return None


def _room(chat: ChatModel, room: str | None, command: str) -> str | None:
    if room is not None:
        return room
    target = chat.active
    if target.is_room:
        return target.name
    chat.note(f"{target.label} is a conversation, not a room: /{command} #ROOM ... names one.", level="error")
    return None


def _in_room(
    chat: ChatModel,
    action: actions.ModerateUser | actions.SetPrivate | actions.RemoveRoom | actions.ShowSanctions,
) -> bool:
    if isinstance(action, actions.ModerateUser):
        room = _room(chat, action.room, action.action)
        if room is None:
            return True
        build = request_for(action, room, chat.me)
        assert build is not None
        return not chat.ask(Request("moderate", room=room, user=action.user, detail=action.action), build)
    if isinstance(action, actions.SetPrivate):
        mode_room = _room(chat, action.room, "private")
        if mode_room is None:
            return True
        build = request_for(action, mode_room, chat.me)
        assert build is not None
        return not chat.ask(Request("room_mode", room=mode_room), build)
    if isinstance(action, actions.RemoveRoom):
        doomed = _room(chat, action.room, "deleteroom")
        if doomed is None:
            return True
        chat.dialogue = DeletingRoom(doomed, action.reason)
        chat.note(f"Deleting {room_label(doomed)} deletes all its messages for everyone. "
                  f"Type {doomed} to confirm; anything else keeps it.", level="error")
        return False
    listed = _room(chat, action.room, "sanctions")
    if listed is None:
        return True
    return not chat.ask(Request("sanctions", room=listed), lambda ref: ListSanctions(room=listed, ref=ref))


def _remove_message(chat: ChatModel, message_id: int | None, user: str | None) -> bool:
    target = chat.active
    if message_id is None:
        author = (user or chat.me).casefold()
        theirs = [
            message.id for message in target.log.sources.values()
            if message.sender.casefold() == author and message.removed_by is None
        ]
        if not theirs:
            whose = "You have" if user is None or chat.is_me(user) else f"{sanitize(user)} has"
            chat.note(f"{whose} no message shown in {target.label} to remove.", level="error")
            return True
        message_id = max(theirs)
    found = message_id
    return not chat.ask(Request("delete_message"), lambda ref: DeleteMessage(id=found, ref=ref))


def _staff(chat: ChatModel, action: actions.ModerationAction) -> bool:
    """The commands of server moderators and admins."""
    if isinstance(action, actions.ServerAdmin | actions.ShowUserSessions | actions.ListAddressBans):
        build = request_for(action, "", chat.me)
        assert build is not None
        if isinstance(action, actions.ServerAdmin):
            return not chat.ask(Request("admin", user=action.user, detail=action.role), build)
        if isinstance(action, actions.ShowUserSessions):
            return not chat.ask(Request("user_sessions", user=action.user), build)
        return not chat.ask(Request("address_bans"), build)
    if isinstance(action, actions.ListAccounts):
        query, after = action.query, None
        if action.more:
            if chat.users_next is None:
                chat.note("There is no next page: /users [QUERY] lists accounts from the start.")
                return False
            query, after = chat.users_next
        return not chat.ask(Request("users", detail=query),
                            lambda ref: ListUsers(query=query, after=after, ref=ref))
    if isinstance(action, actions.ShowAudit):
        before = None
        if action.more:
            if chat.audit_next is None:
                chat.note("There are no older events to show: /audit shows the newest.")
                return False
            before = chat.audit_next
        return not chat.ask(Request("audit"), lambda ref: ReadAudit(before=before, ref=ref))
    raise AssertionError(f"unhandled action {action!r}")
