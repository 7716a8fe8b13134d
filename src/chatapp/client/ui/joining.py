"""``/join``: joining a room, and asking first before one is created, so that a typo does not make a room.

A room on the server's list (fetched after each sign-in, and again when
completion finds nothing: :meth:`~chatapp.client.ui.model.ChatModel.refresh_rooms`)
or already open is joined at once. Any other name would create a room that
stays: the chat asks, and only ``yes`` creates it; ``/join -create NAME``
creates without asking.
"""

from __future__ import annotations

import dataclasses

from chatapp.protocol import Join

from .actions import JoinRoom
from .dialogue import Dialogue
from .lines import room_label
from .model import ChatModel
from .requests import Request
from .targets import Kind

YES = ("y", "yes")


def join(chat: ChatModel, action: JoinRoom) -> bool:
    """Carry out ``/join``; True keeps the line in the input (it could not be sent)."""
    room = action.room
    if action.create or chat.targets.find(Kind.ROOM, room) is not None or room in chat.known_rooms:
        return not join_room(chat, room)
    label = room_label(room)
    chat.dialogue = CreatingRoom(room)
    chat.note(f"There is no room {label} on the server's list. Create it (you will own it, and it stays)? "
              f"Type yes to create it; anything else cancels. (/join -create {room} creates without asking.)")
    chat.log.scroll_to_end()
    chat.refresh_rooms()  # if someone made it meanwhile, the next /join finds it
    return False


def join_room(chat: ChatModel, room: str) -> bool:
    """Send the ``join``; False (and a note) when not connected."""
    target = chat.targets.find(Kind.ROOM, room)
    fresh = target is None or not target.member
    last_id = target.log.newest_id if target is not None else None
    return chat.ask(
        Request("join", room=room, fresh=fresh), lambda ref: Join(room=room, last_id=last_id, ref=ref)
    )


@dataclasses.dataclass(eq=False)
class CreatingRoom(Dialogue):
    """The question before a ``/join`` that would create ``room``."""

    room: str

    @property
    def prompt(self) -> str:
        return f"create {room_label(self.room)}? (yes/no) "

    def answer(self, chat: ChatModel, text: str) -> Dialogue | None:
        if text.strip().lower() in YES:
            join_room(chat, self.room)
        else:
            chat.note(f"{room_label(self.room)} was not created.")
        return None
