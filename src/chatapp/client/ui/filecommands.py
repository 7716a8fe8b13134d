"""``/upload`` and ``/download``: parsing, and what they do on the chat screen and in line mode.

The transfers themselves run in the session (``client/files/transfers.py``);
these commands only start them, with the active room or conversation as the
place to share in. The chat screen has no selected line, so instead of a key
on a file line, ``/download`` without an id takes the newest file shared in
the active room or conversation (each file line shows its id for the others).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from . import actions
from .actions import Action
from .command_base import Command, bad

if TYPE_CHECKING:
    from .model import ChatModel

FILE_ID = re.compile(r"[A-Za-z0-9_-]{16,32}")


class FileControl(Protocol):
    """What the commands need of the session's transfers (``ChatSession.files``)."""

    def start_upload(self, path: Path, *, room: str | None, to: str | None, caption: str = "") -> int: ...

    def start_download(self, file_id: str, directory: Path | None = None) -> int: ...

    def newest(self, room: str | None, peer: str | None) -> str | None: ...


def split_path(args: str) -> tuple[str, str] | None:
    """The path (first word, or quoted with ``"`` or ``'`` when it holds spaces) and the rest; None if
    a quote is not closed."""
    args = args.strip()
    if args[:1] in ("'", '"'):
        end = args.find(args[0], 1)
        if end < 0:
            return None
        return args[1:end], args[end + 1:].strip()
    path, _, rest = args.partition(" ")
    return path, rest.strip()


def _parse_upload(command: Command, args: str) -> Action:
    parts = split_path(args)
    if parts is None:
        return bad(command, "the quote around the path is not closed")
    path, caption = parts
    if not path:
        return bad(command, "/upload needs the path of a file")
    return actions.UploadFile(path, caption)


def _parse_download(command: Command, args: str) -> Action:
    words = args.split(maxsplit=1)
    if not words:
        return actions.DownloadFile()
    if not FILE_ID.fullmatch(words[0]):
        return bad(command, f"{words[0]!r} is not a file id (the id on a file line: 16 to 32 letters, "
                            f"digits, _ and -)")
    directory = split_path(words[1]) if len(words) > 1 else None
    return actions.DownloadFile(words[0], directory[0] if directory else None)


FILE_COMMANDS: tuple[Command, ...] = (
    Command("upload", "share a file here (with an optional caption); quote a path with spaces",
            _parse_upload, usage="PATH [CAPTION]"),
    Command("download", "save a shared file (by the id on its file line; none: the newest here) into the "
            "download directory or DIR", _parse_download, usage="[ID] [DIR]"),
)


def local_path(typed: str) -> Path:
    """A path the user typed, with ``~`` expanded."""
    return Path(typed).expanduser()


def perform_files(chat: ChatModel, action: actions.FileAction) -> bool:
    """Start the transfer; True (with a note) when it could not start."""
    files = chat.files
    if files is None:
        chat.note("File sharing is not available in this session.", level="error")
        return True
    target = chat.active
    room, peer = (target.name, None) if target.is_room else (None, target.name)
    if isinstance(action, actions.UploadFile):
        if target.is_room and not target.member:
            chat.note(f"You are not in {target.label}; /join {target.name} to share files there.",
                      level="error")
            return True
        files.start_upload(local_path(action.path), room=room, to=peer, caption=action.caption)
        return False
    file_id = action.file_id or files.newest(room, peer)
    if file_id is None:
        chat.note(f"No file was shared in {target.label} yet (that this client saw): /download ID names one.",
                  level="error")
        return True
    files.start_download(file_id, local_path(action.directory) if action.directory else None)
    return False
