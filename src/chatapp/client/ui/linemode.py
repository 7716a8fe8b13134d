"""Line mode: the client without a terminal, for scripts, pipes and bots.

Used when standard output is not a terminal (or no terminal can be opened for
input). Each line read from standard input is handled like a line typed on the
chat screen: a message goes to the room of ``--room`` (``#general`` unless
told), ``/join ROOM`` joins ROOM and sends the lines after it there, ``/me
TEXT`` sends an action there, ``/msg NAME TEXT`` (and ``/plain NAME TEXT``) a
direct message, ``/upload PATH [CAPTION]`` shares a file there and ``/download ID
[DIR]`` saves one (their progress on standard error; the end of the input
waits for them), ``/quit`` or ``exit`` leaves; the moderation and
administration commands that are one request each work too (``/kick NAME``
acts on ``#general`` unless a ``#room`` is typed), and their answers are
printed; the rest are refused (``/passwd`` and ``/deleteroom`` need the chat
screen to ask). What is received is printed by :class:`~.lineoutput.LineOutput`
(plain sanitised lines, or JSON with ``--json``).

Nothing typed is lost to the rate limit: messages go through the session's
paced outbox (:mod:`chatapp.client.net.core`), and while it is full the
client stops reading standard input (:mod:`.stdin_lines`), so the writer of
the pipe waits. At the end of the input the client waits until its messages
were acknowledged (as long as they keep going out), then says ``quit``. The
exit status is 0 only when every line was sent and acknowledged (or done);
otherwise 1, and the lines that were not are listed on standard error.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from datetime import tzinfo
from typing import TextIO

from chatapp.protocol import DEFAULT_ROOM, ByeReason, ClientFrame, Direct, Error, Join, Message, ProtocolError

from ..clock import Clock, SystemClock
from ..e2e.agent import E2eSession
from ..net.errors import SendRefused
from ..net.events import Outgoing, SendFailed, SessionEnded, SessionEvent, TransferNote, TransferProgress
from ..net.session import ChatSession
from . import actions, commands, sentences
from .command_base import split, username
from .filecommands import local_path
from .lineoutput import LineOutput, OutputOptions
from .modperform import request_for
from .sanitize import sanitize
from .stdin_lines import start_reader

UNSUPPORTED = (
    "without a terminal only messages, /say, /me TEXT, /join ROOM, /msg NAME TEXT, /plain NAME TEXT, the "
    "moderation commands that need no question (not /passwd, /deleteroom, /delete without ID, /users more, "
    "/audit more), /upload PATH [CAPTION], /download ID [DIR], /quit and exit work"
)

PROGRESS_EVERY = 1.0
"""Seconds between two progress lines of one transfer on standard error."""


@dataclasses.dataclass(frozen=True, slots=True)
class LineOptions:
    room: str = DEFAULT_ROOM
    """Where plain lines go until a ``/join``."""
    output: OutputOptions = OutputOptions()


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
        options: LineOptions | None = None,
    ) -> None:
        options = options or LineOptions()
        self.session = session
        self.stdin = stdin
        self.stderr = stderr
        self.clock = clock or SystemClock()
        self.drain_timeout = drain_timeout
        """How long the end waits with no message going out before it gives up on the rest."""
        self.room = options.room
        self.output = LineOutput(stdout, options.output, tz=tz)
        self.undone: dict[int, str] = {}
        """Input lines not (yet) sent and acknowledged, by their number: listed at the end."""
        self._by_nonce: dict[str, int] = {}
        self._by_ref: dict[int, tuple[int, str]] = {}
        """Requests sent (by ref): their line's number and text, in case an error answers them."""
        self._answers: dict[int, asyncio.Future[SessionEvent]] = {}
        self.answer_timeout = 30.0
        self._count = 0
        self.failed_transfers = 0
        """Uploads and downloads that failed (their line was done when the transfer started)."""
        self._progress_shown: dict[int, float] = {}

    def _note(self, text: str) -> None:
        self.stderr.write(f"chatapp-client: {text}\n")
        self.stderr.flush()

    async def run(self) -> int:
        """Returns 0 when the input ended and every line of it was sent (and acknowledged), 1 otherwise."""
        printer = asyncio.create_task(self._print_events())
        if self.room != DEFAULT_ROOM and not await self._join_first():
            await self.session.quit()
            await asyncio.gather(printer, return_exceptions=True)
            return 1
        typist = asyncio.create_task(self._type_input())
        await asyncio.wait({printer, typist}, return_when=asyncio.FIRST_COMPLETED)
        if typist.done() and not printer.done():
            await self.session.files.wait()  # uploads and downloads started from the input finish first
            await self._drain()
            await self.session.quit()
        typist.cancel()
        await asyncio.gather(typist, return_exceptions=True)
        await asyncio.gather(printer, return_exceptions=True)
        ended = self.session.ended
        failed = ended is not None and (ended.error is not None or ended.bye not in (None, ByeReason.QUIT))
        if self.undone:
            self._list_undone()
        if self.failed_transfers:
            self._note(f"{self.failed_transfers} transfer{'s' if self.failed_transfers != 1 else ''} failed")
        return 1 if failed or self.undone or self.failed_transfers else 0

    def _list_undone(self) -> None:
        lines = [self.undone[number] for number in sorted(self.undone)]
        count = len(lines)
        self._note(f"{count} line{'s' if count != 1 else ''} of the input {'were' if count != 1 else 'was'} "
                   "not sent:")
        for line in lines:  # every one: a script may feed them in again
            self.stderr.write(f"  {sanitize(line)}\n")
        self.stderr.flush()

    async def _join_first(self) -> bool:
        """Join ``--room`` before reading a line: a room that cannot be joined sends nothing."""
        room = self.room
        try:
            ref = self.session.request(lambda ref: Join(room=room, ref=ref))
        except SendRefused as exc:
            self._note(f"could not join #{sanitize(room)}: {exc}; nothing was sent")
            return False
        answer = self._answers[ref] = asyncio.get_running_loop().create_future()
        try:
            event = await asyncio.wait_for(answer, self.answer_timeout)
        except TimeoutError:
            self._note(f"no answer from the server to joining #{sanitize(room)}; nothing was sent")
            return False
        if isinstance(event, Error):
            why = sentences.describe_error(event.code, event.message, event.retry_after, until=event.until)
            self._note(f"could not join #{sanitize(room)}: {why} Nothing was sent.")
            return False
        return True

    async def _drain(self) -> None:
        """Wait until the outbox is empty, as long as it keeps moving (a rate limit's wait included)."""
        session = self.session
        changed = session.keeper.outbox_changed
        while session.outbox and session.ended is None:
            hold = session.core.hold_until
            wait = self.drain_timeout + (max(0.0, hold - self.clock.monotonic()) if hold is not None else 0.0)
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), wait)
            except TimeoutError:
                return

    # -- input -------------------------------------------------------------------------------------------

    async def _type_input(self) -> None:
        lines = start_reader(self.stdin)
        while True:
            raw = await lines.get()
            if raw is None:
                return
            action = commands.parse(raw)
            if isinstance(action, actions.QuitChat):
                return
            if isinstance(action, actions.Nothing):
                continue
            self._count += 1
            number = self._count
            self.undone[number] = raw
            # Wait for room in the outbox: standard input is not read meanwhile (nothing is dropped).
            await self.session.wait_for_room()
            if self._perform(action, number):
                continue
            if isinstance(action, actions.BadUsage):
                self._note(f"{action.problem}. Usage: {action.usage}")
            else:
                self._note(UNSUPPORTED)

    def _perform(self, action: actions.Action, number: int) -> bool:
        """Carry out one line; False when line mode cannot (the caller says why)."""
        if isinstance(action, actions.SendText):
            self._send(number, lambda: self.session.send_text(action.text, self.room, action=action.action))
        elif isinstance(action, actions.DirectMessage):
            if not action.text:
                return False
            self._send(number, lambda: self.session.send_direct(action.text, action.to))
        elif isinstance(action, actions.PlainText):
            self._send_plain(number, action.text)
        elif isinstance(action, actions.JoinRoom):
            room = action.room
            self.room = room  # the lines after it go there (refused there, and listed, if the join is)
            self._request(number, lambda ref: Join(room=room, ref=ref))
        elif isinstance(action, actions.FileAction):
            self._transfer(number, action)
        elif isinstance(action, actions.ModerationAction):
            build = request_for(action, DEFAULT_ROOM, self.session.username or "")
            if build is None:
                return False
            self._request(number, build)
        else:
            return False
        return True

    def _send(self, number: int, send: Callable[[], Outgoing]) -> None:
        try:
            outgoing = send()
        except ProtocolError as exc:
            self._note(f"not sent: {sentences.describe_error(exc.code, exc.message)}")
        except SendRefused as exc:
            self._note(f"not sent: {exc}")
        else:
            self._by_nonce[outgoing.nonce] = number

    def _send_plain(self, number: int, args: str) -> None:
        """``/plain NAME TEXT``: a direct message in clear (line mode has no conversation to switch)."""
        name, text = split(args)
        if not name or not text:
            self._note("/plain NAME TEXT sends a direct message unencrypted")
            return
        session = self.session

        def send() -> Outgoing:
            to = username(name)
            if isinstance(session, E2eSession):
                return session.send_plain(text, to)
            return session.send_direct(text, to)

        self._send(number, send)

    def _transfer(self, number: int, action: actions.FileAction) -> None:
        """``/upload PATH [CAPTION]`` (to the room plain lines go to) or ``/download ID [DIR]``; the line
        is done once the transfer starts (a failure counts apart: :attr:`failed_transfers`)."""
        files = self.session.files
        if isinstance(action, actions.UploadFile):
            files.start_upload(local_path(action.path), room=self.room, to=None, caption=action.caption)
        elif action.file_id is None:
            self._note("/download needs the id of a file (shown on its line) without a terminal")
            return
        else:
            files.start_download(action.file_id, local_path(action.directory) if action.directory else None)
        self.undone.pop(number, None)

    def _progress(self, event: TransferProgress) -> None:
        """A transfer's progress on standard error, at most once a second per transfer (and its end)."""
        now = self.clock.monotonic()
        if event.line is None:
            self._progress_shown.pop(event.number, None)
            return
        if now - self._progress_shown.get(event.number, -PROGRESS_EVERY) >= PROGRESS_EVERY:
            self._progress_shown[event.number] = now
            self._note(event.line)

    def _request(self, number: int, build: Callable[[int], ClientFrame]) -> None:
        try:
            ref = self.session.request(build)
        except SendRefused as exc:
            self._note(f"not done: {exc}")
            return
        # Done when sent, unless an error answers it (not every answer carries the ref).
        self._by_ref[ref] = (number, self.undone.pop(number))

    # -- output ------------------------------------------------------------------------------------------

    async def _print_events(self) -> None:
        while True:
            event = await self.session.next_event()
            self._track(event)
            me = self.session.username or ""
            with contextlib.suppress(BrokenPipeError):  # a reader that went away reads nothing more
                self.output.show(event, me, self.room, self.clock.now())
            if isinstance(event, SessionEnded):
                return

    def _track(self, event: SessionEvent) -> None:
        """Which input lines are done: a message when its own copy comes back, a request unless refused;
        and the transfers: progress on standard error, failures counted."""
        if isinstance(event, TransferProgress):
            self._progress(event)
        elif isinstance(event, TransferNote) and event.failed:
            self.failed_transfers += 1
        ref = getattr(event, "ref", None)
        if isinstance(ref, int) and ref in self._answers:
            answer = self._answers.pop(ref)
            if not answer.done():
                answer.set_result(event)
        if isinstance(event, Message | Direct) and event.nonce is not None:
            number = self._by_nonce.pop(event.nonce, None)
            if number is not None:
                self.undone.pop(number, None)
        elif isinstance(event, SendFailed):
            self._by_nonce.pop(event.outgoing.nonce, None)
        elif isinstance(event, Error) and isinstance(event.ref, int) and event.ref in self._by_ref:
            number, line = self._by_ref.pop(event.ref)
            self.undone[number] = line
