"""A paste of several lines (a bracketed paste): asked once whether it is that many messages or one.

A terminal with bracketed paste tells the screen where a paste starts and
ends; without it every pasted line arrives as a line typed and Enter, and is
sent as a message of its own (in order, paced: the outbox never drops one).
With it, :func:`pasted` opens a :class:`PastedLines` dialogue when the paste
holds several lines and the input line is empty: ``l`` sends each line as a
message, ``o`` the whole paste as one multi-line message, anything else
(Enter alone) leaves it in the input line to edit. Pasted lines are sent as
text, never run as commands (``/say`` semantics): a paste of a shell session
that holds ``/quit`` does not quit.
"""

from __future__ import annotations

import dataclasses

from .dialogue import Dialogue
from .model import ChatModel
from .perform import send


def paste_lines(data: str) -> list[str]:
    """The lines of a paste, line ends of any kind, without the empty ones at either end."""
    lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return lines


@dataclasses.dataclass(eq=False)
class PastedLines(Dialogue):
    """The question about one paste; ``edit`` is set to its text when the answer was neither."""

    lines: list[str]
    edit: str | None = None

    @property
    def prompt(self) -> str:
        count = len(self.lines)
        return f"paste of {count} lines: l = {count} messages, o = one message, Enter = edit: "

    def answer(self, chat: ChatModel, text: str) -> Dialogue | None:
        choice = text.strip().lower()
        if choice in ("l", "lines"):
            for line in self.lines:
                if line.strip() and send(chat, line):
                    break  # refused (a note says why); the rest would be refused the same way
        elif choice in ("o", "one"):
            send(chat, "\n".join(self.lines))
        else:
            self.edit = "\n".join(self.lines)  # the screen puts it in the input line
        return None


def pasted(chat: ChatModel, data: str, input_empty: bool) -> str | None:
    """Take a bracketed paste: None when a question was opened, else the text to insert as typed."""
    lines = paste_lines(data)
    if len(lines) < 2 or not input_empty or chat.dialogue is not None:
        return data.replace("\r\n", "\n").replace("\r", "\n")
    chat.dialogue = PastedLines(lines)
    return None
