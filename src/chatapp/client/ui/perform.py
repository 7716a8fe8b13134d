"""What a typed command does to the chat: one function per kind of action. No prompt_toolkit, no asyncio.

:func:`perform` carries out what :func:`~chatapp.client.ui.commands.parse` made
of a line: sends a message to the active room or conversation, asks the server
(join, leave, who, topic, history, sessions...), or changes what is shown. It
returns True when the line should stay in the input line to be fixed (a
refusal, or nothing could be sent), False when it is done.
"""

from __future__ import annotations

from chatapp.protocol import (
    Away,
    EndSession,
    Leave,
    ListRooms,
    ListSessions,
    ProtocolError,
    SetTopic,
    Who,
    Whois,
)
from chatapp.protocol.limits import JOIN_CONTEXT

from . import actions, commands
from .e2ecommands import perform_e2e
from .filecommands import perform_files
from .joining import join
from .lines import room_label
from .model import ChatModel
from .modperform import perform_moderation
from .requests import Request
from .sanitize import sanitize
from .setcommand import perform_set
from .targets import Kind
from .windows import perform_window


def perform(chat: ChatModel, action: actions.ChatAction) -> bool:
    """Carry out ``action``; True keeps the text in the input line."""
    if isinstance(action, actions.SendText):
        return send(chat, action.text, action=action.action)
    if isinstance(action, actions.Nothing):
        return False
    if isinstance(action, actions.ShowHelp):
        chat.note(commands.help_text(action.topic))
        chat.log.scroll_to_end()
        return False
    if isinstance(action, actions.ClearScreen):
        target = chat.active
        target.log.clear()
        target.history_done = target.history_pending = False
        return False
    if isinstance(action, actions.UnknownCommand):
        chat.note(commands.unknown_hint(action), level="error")
        return True
    if isinstance(action, actions.BadUsage):
        chat.note(f"{action.problem}. Usage: {action.usage}", level="error")
        return True
    return _ask_or_show(chat, action)


def _ask_or_show(chat: ChatModel, action: actions.ChatAction) -> bool:
    """The commands that talk to the server or change the active target."""
    if isinstance(action, actions.DirectMessage):
        return direct(chat, action)
    if isinstance(action, actions.JoinRoom):
        return join(chat, action)
    if isinstance(action, actions.LeaveTarget):
        return _leave(chat, action.label)
    if isinstance(action, actions.SwitchTarget):
        return _switch(chat, action.name)
    if isinstance(action, actions.ListRooms):
        return not chat.ask(Request("rooms"), lambda ref: ListRooms(ref=ref))
    if isinstance(action, actions.ShowTopic):
        return _show_topic(chat, action.room)
    if isinstance(action, actions.SetTopic):
        topic_room = action.room or _active_room(chat, "/topic")
        if topic_room is None:
            return True
        topic = action.text
        return not chat.ask(
            Request("topic", room=topic_room), lambda ref: SetTopic(room=topic_room, text=topic, ref=ref)
        )
    if isinstance(action, actions.WhoIsOnline):
        who_room = action.room or _active_room(chat, "/who")
        if who_room is None:
            return True
        return not chat.ask(Request("who", room=who_room), lambda ref: Who(room=who_room, ref=ref))
    if isinstance(action, actions.WhoIs):
        name = action.username
        return not chat.ask(Request("whois", user=name), lambda ref: Whois(username=name, ref=ref))
    if isinstance(action, actions.SetAway):
        away = action.text
        return not chat.ask(Request("away"), lambda ref: Away(text=away, ref=ref))
    if isinstance(action, actions.FetchHistory):
        chat.fetch_older(chat.active, action.limit)
        return False
    if isinstance(action, actions.ListSessions):
        return not chat.ask(Request("sessions"), lambda ref: ListSessions(ref=ref))
    if isinstance(action, actions.EndSession):
        session_id = action.session_id
        return not chat.ask(Request("end_session"), lambda ref: EndSession(id=session_id, ref=ref))
    if isinstance(action, actions.ModerationAction):
        return perform_moderation(chat, action)
    if isinstance(action, actions.E2eAction):
        return perform_e2e(chat, action)
    if isinstance(action, actions.SetOption):
        return perform_set(chat, action)
    if isinstance(action, actions.CloseWindow):
        return _leave(chat, None)
    if isinstance(action, actions.WindowAction):
        return perform_window(chat, action)
    if isinstance(action, actions.FileAction):
        return perform_files(chat, action)
    raise AssertionError(f"unhandled action {action!r}")


def send(chat: ChatModel, text: str, *, action: bool = False) -> bool:
    """Send ``text`` (an action, ``/me``, with ``action``) to the active room or conversation; True
    (and a note) when it was not."""
    target = chat.active
    if target.kind is Kind.VIEW:
        chat.note(f"Nothing is sent from {target.label}: go to a room or conversation first (Alt-1, /win N, "
                  f"/windows). The text is kept.", level="error")
        return True
    if not target.is_room:
        return chat.try_send(lambda: chat.outlet.send_direct(text, target.name, action=action))
    if not target.member:
        chat.note(
            f"You are not in {target.label}; /join {target.name} to go back. The text is kept.",
            level="error",
        )
        return True
    return chat.try_send(lambda: chat.outlet.send_text(text, target.name, action=action))


def direct(chat: ChatModel, action: actions.DirectMessage) -> bool:
    """Show the conversation with ``action.to`` (opening it), and send the text if there is one."""
    existing = chat.targets.find(Kind.DM, action.to)
    target = existing or chat.targets.dm(action.to)
    if existing is None:
        # The conversation so far; without a message to send, this is what says "no such user".
        target.fetched = True
        chat.fetch_older(target, JOIN_CONTEXT, silent=bool(action.text), scroll=False)
    chat.activate(target)
    if action.text:
        return send(chat, action.text)
    return False


def _active_room(chat: ChatModel, command: str) -> str | None:
    target = chat.active
    if target.is_room:
        return target.name
    chat.note(f"{target.label} is a conversation, not a room: {command} #ROOM names one.", level="error")
    return None


def _leave(chat: ChatModel, label: str | None) -> bool:
    target = chat.active if label is None else chat.targets.resolve(label)
    if target is None:
        chat.note(f"You are not in {sanitize(label or '')}.", level="error")
        return True
    if target.kind is Kind.VIEW:
        if chat.targets.remove(target):
            chat.activate(chat.active)
        return False
    if target.is_room:
        if not target.member:
            chat.note(f"You are not in {target.label} any more.", level="error")
            return False
        name = target.name
        return not chat.ask(Request("leave", room=name), lambda ref: Leave(room=name, ref=ref))
    if not chat.targets.remove(target):
        chat.note("This is the only conversation open; /join a room first.", level="error")
        return False
    chat.activate(chat.active)
    chat.note(f"Closed the conversation with {target.label}; /msg {target.name} opens it again.")
    return False


def _switch(chat: ChatModel, word: str) -> bool:
    target = chat.targets.resolve(word)
    if target is None:
        if word.startswith("@"):
            try:
                name = commands.username(word)
            except ProtocolError as exc:
                chat.note(f"{sanitize(word)!r} is not a username: {exc.message}.", level="error")
                return True
            return direct(chat, actions.DirectMessage(name))
        shown = sanitize(word)
        chat.note(f"There is no room or conversation {shown} open: /join a room, /msg someone.",
                  level="error")
        return True
    chat.activate(target)
    return False


def _show_topic(chat: ChatModel, room: str | None) -> bool:
    name = room or _active_room(chat, "/topic")
    if name is None:
        return True
    target = chat.targets.find(Kind.ROOM, name)
    known = chat.known_rooms.get(name)
    topic = target.topic if target is not None and target.member else (known.topic if known else None)
    label = room_label(name)
    if topic is None:
        chat.note(f"The topic of {label} is not known here: /rooms lists the rooms with their topics.")
    elif topic:
        chat.note(f"The topic of {label} is: {sanitize(topic)}")
    else:
        chat.note(f"{label} has no topic.")
    return False
