"""Line mode: the client without a terminal, for scripts and pipes.

Used when standard output is not a terminal (or no terminal can be opened for
input). Each line read from standard input is handled like a line typed on the
chat screen (messages are sent, ``/quit`` or ``exit`` leaves); of the other
commands, the moderation and administration ones that are one request each
work too (``/kick NAME`` acts on ``#general`` unless a ``#room`` is typed,
as plain lines are sent there), and their answers are printed; so do
``/upload PATH [CAPTION]`` (shared in ``#general``) and ``/download ID [DIR]``,
whose progress goes to standard error (the input's end waits for them); the rest are
refused (``/passwd`` and ``/deleteroom`` need the chat screen to ask).
Everything received is printed as plain, sanitised lines. At the end of the
input the client waits (briefly) until its messages were acknowledged, then
says ``quit``; what the server answers before its goodbye is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import tzinfo
from typing import TextIO

from chatapp.protocol import (
    DEFAULT_ROOM,
    ByeReason,
    Direct,
    Error,
    Message,
    Presence,
    ProtocolError,
    SessionList,
    UserInfo,
)
from chatapp.protocol.moderation_frames import (
    AddressBanList,
    AdminDone,
    AuditPage,
    MessageRemoved,
    RoomDeleted,
    RoomEvent,
    SanctionList,
    UserList,
)

from ..clock import Clock, SystemClock
from ..e2e.agent import E2eSession
from ..net.errors import SendRefused
from ..net.events import (
    E2eNote,
    LinkDown,
    LinkUp,
    ReconnectFailed,
    SendFailed,
    SessionEnded,
    SessionEvent,
    TransferNote,
    TransferProgress,
    Unreadable,
)
from ..net.session import ChatSession
from . import actions, commands, modsentences, sentences
from .command_base import split, username
from .filecommands import local_path
from .lines import Line, message_lines, parse_timestamp, system_lines
from .modperform import request_for
from .sanitize import sanitize

PROGRESS_EVERY = 1.0
"""Seconds between two progress lines of one transfer on standard error."""


def _start_reader(stdin: TextIO, queue: asyncio.Queue[str | None]) -> None:
    loop = asyncio.get_running_loop()

    def put(item: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening any more
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def read() -> None:
        try:
            for line in stdin:
                put(line)
        except (OSError, ValueError):
            pass
        finally:
            put(None)

    threading.Thread(target=read, name="chatapp-client-stdin", daemon=True).start()


class LineMode:
    def __init__(
        self,
        session: ChatSession,
        stdin: TextIO,
        stdout: TextIO,
        stderr: TextIO,
        *,
        clock: Clock | None = None,
        tz: tzinfo | None = None,
        drain_timeout: float = 5.0,
    ) -> None:
        self.session = session
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.clock = clock or SystemClock()
        self.tz = tz
        self.drain_timeout = drain_timeout
        self.unreadable: dict[int, str] = {}
        """Encrypted messages this device cannot read, by id: the notice printed instead."""
        self.refused = 0
        """Messages the server refused (``SendFailed``) and failed transfers: the exit status is then 1."""
        self._progress_shown: dict[int, float] = {}

    def _print(self, lines: list[Line]) -> None:
        for line in lines:
            self.stdout.write(line.plain + "\n")
        self.stdout.flush()

    def _note(self, text: str) -> None:
        self.stderr.write(f"chatapp-client: {text}\n")
        self.stderr.flush()

    async def run(self) -> int:
        """Returns 0 when the input ended and everything was sent, 1 otherwise."""
        printer = asyncio.create_task(self._print_events())
        typist = asyncio.create_task(self._send_input())
        await asyncio.wait({printer, typist}, return_when=asyncio.FIRST_COMPLETED)
        if typist.done() and not printer.done():
            await self.session.files.wait()  # uploads and downloads started from the input finish first
            if self.session.outbox:
                await self.session.flush(self.drain_timeout)
            await self.session.quit()
        typist.cancel()
        await asyncio.gather(typist, return_exceptions=True)
        await asyncio.gather(printer, return_exceptions=True)
        ended = self.session.ended
        unsent = len(self.session.outbox)
        if unsent:
            self._note(sentences.not_sent(unsent))
        failed = ended is not None and (ended.error is not None or ended.bye not in (None, ByeReason.QUIT))
        return 1 if failed or unsent or self.refused else 0

    async def _send_input(self) -> None:
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        _start_reader(self.stdin, lines)
        while True:
            raw = await lines.get()
            if raw is None:
                return
            action = commands.parse(raw.rstrip("\r\n"))
            if isinstance(action, actions.SendText | actions.DirectMessage) and action.text:
                try:
                    if isinstance(action, actions.DirectMessage):
                        self.session.send_direct(action.text, action.to)
                    else:
                        self.session.send_text(action.text)
                except ProtocolError as exc:
                    self._note(f"not sent: {sentences.describe_error(exc.code, exc.message)}")
                except SendRefused as exc:
                    self._note(f"not sent: {exc}")
            elif isinstance(action, actions.PlainText):
                self._send_plain(action.text)
            elif isinstance(action, actions.QuitChat):
                return
            elif isinstance(action, actions.Nothing):
                continue
            elif isinstance(action, actions.BadUsage):
                self._note(f"{action.problem}. Usage: {action.usage}")
            elif isinstance(action, actions.ModerationAction) and self._request(action):
                continue
            elif isinstance(action, actions.FileAction):
                self._transfer(action)
            else:
                self._note(
                    "without a terminal only messages, /say, /msg NAME TEXT, /plain NAME TEXT, the "
                    "moderation commands that need no question (not /passwd, /deleteroom, /delete without "
                    "ID, /users more, /audit more), /upload PATH [CAPTION], /download ID [DIR], /quit and "
                    "exit work"
                )

    def _send_plain(self, args: str) -> None:
        """``/plain NAME TEXT``: a direct message in clear (line mode has no conversation to switch)."""
        name, text = split(args)
        if not name or not text:
            self._note("/plain NAME TEXT sends a direct message unencrypted")
            return
        try:
            to = username(name)
            if isinstance(self.session, E2eSession):
                self.session.send_plain(text, to)
            else:
                self.session.send_direct(text, to)
        except ProtocolError as exc:
            self._note(f"not sent: {sentences.describe_error(exc.code, exc.message)}")
        except SendRefused as exc:
            self._note(f"not sent: {exc}")

    def _transfer(self, action: actions.FileAction) -> None:
        """``/upload PATH [CAPTION]`` (to #general, where plain lines go) or ``/download ID [DIR]``."""
        files = self.session.files
        if isinstance(action, actions.UploadFile):
            files.start_upload(local_path(action.path), room=DEFAULT_ROOM, to=None, caption=action.caption)
        elif action.file_id is None:
            self._note("/download needs the id of a file (shown on its line) without a terminal")
        else:
            files.start_download(action.file_id, local_path(action.directory) if action.directory else None)

    def _progress(self, event: TransferProgress) -> None:
        """A transfer's progress on standard error, at most once a second per transfer (and its end)."""
        now = self.clock.monotonic()
        if event.line is None:
            self._progress_shown.pop(event.number, None)
            return
        if now - self._progress_shown.get(event.number, -PROGRESS_EVERY) >= PROGRESS_EVERY:
            self._progress_shown[event.number] = now
            self._note(event.line)

    def _request(self, action: actions.ModerationAction) -> bool:
        """Send the one request a moderation command is; False when it is not one (:func:`request_for`)."""
        build = request_for(action, DEFAULT_ROOM, self.session.username or "")
        if build is None:
            return False
        try:
            self.session.request(build)
        except SendRefused as exc:
            self._note(f"not done: {exc}")
        return True

    async def _print_events(self) -> None:
        while True:
            event = await self.session.next_event()
            self._show(event)
            if isinstance(event, SessionEnded):
                return

    def _system(self, text: str) -> None:
        self._print(system_lines(text, self.clock.now(), tz=self.tz))

    def _show(self, event: SessionEvent) -> None:
        if isinstance(event, Message | Direct):
            when = parse_timestamp(event.ts) or self.clock.now()
            elsewhere = isinstance(event, Direct) or event.room != DEFAULT_ROOM
            me = self.session.username
            notice = self.unreadable.pop(event.id, None)
            self._print(message_lines(event, me, tz=self.tz, received=when, show_room=elsewhere,
                                      notice=notice))
        elif isinstance(event, Unreadable):
            self.unreadable.update(event.notices)
        elif isinstance(event, TransferNote):
            if event.failed:
                self.refused += 1
            self._system(event.text)
        elif isinstance(event, TransferProgress):
            self._progress(event)
        elif isinstance(event, E2eNote):
            if event.unsent:
                self.refused += 1
            self._system(event.text)
        elif isinstance(event, Presence):
            self._system(sentences.presence_text(event)[0])
        elif isinstance(event, Error):
            self._system(sentences.describe_error(event.code, event.message, event.retry_after,
                                                  until=event.until, tz=self.tz, now=self.clock.now()))
        elif isinstance(event, LinkDown):
            why = sentences.describe_link_down(event.bye, event.error, event.bye_message)
            self._system(why + (" Reconnecting." if event.reconnect else ""))
        elif self._answer(event):
            pass
        elif isinstance(event, SendFailed):
            self.refused += 1
            self._system(f"Not sent: {sentences.send_refusal(event)}")
        elif isinstance(event, ReconnectFailed):
            self._system(f"Reconnect attempt {event.attempt} failed: {sanitize(event.reason)}.")
        elif isinstance(event, LinkUp):
            self._system("Reconnected; session resumed.")
        elif isinstance(event, SessionEnded) and event.bye != ByeReason.QUIT:
            ended = sentences.why_ended(event)
            if ended is not None:
                self._system(ended)

    def _answer(self, event: SessionEvent) -> bool:
        """Moderation events and the answers to requests, printed as the chat screen words them."""
        tz, now = self.tz, self.clock.now()
        me = self.session.username or ""
        if isinstance(event, RoomEvent):
            text = modsentences.room_event_text(event, me, tz=tz, now=now)
        elif isinstance(event, RoomDeleted):
            text = modsentences.room_deleted_text(event, me)
        elif isinstance(event, MessageRemoved):
            where = f" in #{sanitize(event.room)}" if event.room else ""
            text = f"Message {event.id}{where} was removed by {sanitize(event.by)}."
        elif isinstance(event, SanctionList):
            text = modsentences.sanction_list_text(event, tz=tz, now=now)
        elif isinstance(event, AdminDone):
            text = modsentences.admin_done_text(event, tz=tz, now=now)
        elif isinstance(event, UserList):
            text = modsentences.user_list_text(event, tz=tz, now=now)
        elif isinstance(event, AddressBanList):
            text = modsentences.address_ban_list_text(event, tz=tz, now=now)
        elif isinstance(event, AuditPage):
            text = modsentences.audit_page_text(event, tz=tz, now=now)
        elif isinstance(event, SessionList):
            text = sentences.session_list_text(event.sessions, tz=tz, now=now, user=event.user)
        elif isinstance(event, UserInfo):
            text = sentences.user_info_text(event, tz=tz, now=now, me=me)
        else:
            return False
        self._system(text)
        return True
