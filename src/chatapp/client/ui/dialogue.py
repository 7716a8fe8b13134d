"""Questions the next typed line answers: the passwords of ``/passwd``, the room name that confirms
``/deleteroom``. Pure: the chat screen shows :attr:`Dialogue.prompt` (hiding what is typed when
:attr:`Dialogue.secret`) and hands the line to :func:`answer` instead of parsing it.

A secret answer is never shown, logged or kept in the input history (the
screen clears it before prompt_toolkit would keep it); it lives in the
dialogue only until the request is sent. An empty answer cancels.
"""

from __future__ import annotations

import abc
import dataclasses

from chatapp.protocol import ProtocolError
from chatapp.protocol.moderation_frames import ChangePassword, DeleteRoom
from chatapp.protocol.rules import check_password

from .lines import room_label
from .model import ChatModel
from .requests import Request


class Dialogue(abc.ABC):
    """One question: what the prompt says, whether the answer is hidden, and what the answer does."""

    secret = False

    @property
    @abc.abstractmethod
    def prompt(self) -> str: ...

    @abc.abstractmethod
    def answer(self, chat: ChatModel, text: str) -> Dialogue | None:
        """Take the answer; the next question, or None when the dialogue is over."""


@dataclasses.dataclass(eq=False)
class ChangingPassword(Dialogue):
    """``/passwd``: the current password, then the new one twice, hidden."""

    old: str | None = dataclasses.field(default=None, repr=False)  # never in a log line or traceback
    new: str | None = dataclasses.field(default=None, repr=False)
    secret = True

    @property
    def prompt(self) -> str:
        if self.old is None:
            return "current password (hidden; Enter alone cancels): "
        if self.new is None:
            return "new password: "
        return "new password again: "

    def answer(self, chat: ChatModel, text: str) -> Dialogue | None:
        if not text:
            chat.note("Password not changed.")
            return None
        if self.old is None:
            return ChangingPassword(old=text)
        if self.new is None:
            try:
                check_password(chat.me, text)
            except ProtocolError as exc:
                chat.note(f"That password is not accepted: {exc.message}. /passwd to try again.",
                          level="error")
                return None
            if text == self.old:
                chat.note("That is the password you have now. /passwd to try again.", level="error")
                return None
            return ChangingPassword(old=self.old, new=text)
        if text != self.new:
            chat.note("The two new passwords differ; nothing was changed. /passwd to try again.",
                      level="error")
            return None
        old, new = self.old, self.new
        chat.new_password = new
        chat.ask(Request("passwd"), lambda ref: ChangePassword(old=old, new=new, ref=ref))
        return None


@dataclasses.dataclass(eq=False)
class DeletingRoom(Dialogue):
    """``/deleteroom``: type the room's name to confirm."""

    room: str
    reason: str | None = None

    @property
    def prompt(self) -> str:
        return f"delete {room_label(self.room)}? type its name to confirm: "

    def answer(self, chat: ChatModel, text: str) -> Dialogue | None:
        if text.strip().removeprefix("#").lower() != self.room:
            chat.note(f"{room_label(self.room)} is not deleted.")
            return None
        room, reason = self.room, self.reason
        chat.ask(Request("delete_room", room=room), lambda ref: DeleteRoom(room=room, reason=reason, ref=ref))
        return None


def answer(chat: ChatModel, text: str) -> bool:
    """The line ``text`` answers the chat's open dialogue; always False (the input line is cleared)."""
    dialogue = chat.dialogue
    if dialogue is None:
        return False
    chat.dialogue = dialogue.answer(chat, text)
    return False
