"""The first lines of the chat screen: where it is connected, as whom, and how to go on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .sanitize import sanitize

if TYPE_CHECKING:
    from ..net.session import ChatSession
    from .model import ChatModel


def welcome(chat: ChatModel, session: ChatSession) -> None:
    """Say where the client is connected and as whom, the settings file's problems, and what to type."""
    hello = session.welcome
    server = f"{sanitize(hello.server)}, protocol v{hello.version}" if hello else "chatapp"
    me = sanitize(session.username or "?")
    chat.note(f"Connected to {session.address} ({server}) as {me}.", level="ok")
    for problem in chat.settings.problems:
        chat.note(sanitize(problem), level="error")
    chat.note(
        "Type a message and press Enter to send it. /help lists the commands; /quit or Ctrl-D leaves."
    )
    if chat.e2e is not None:
        chat.note("Direct messages are end-to-end encrypted (\N{LOCK}); /verify NAME compares keys.")
    elif chat.e2e_off is not None:
        chat.note(f"End-to-end encryption is off for this run: {chat.e2e_off}. Direct messages are "
                  "sent in clear, marked [plain].", level="error")
