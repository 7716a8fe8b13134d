"""Line mode: the client without a terminal, for scripts and pipes.

Used when standard output is not a terminal (or no terminal can be opened for
input). Each line read from standard input is handled like a line typed on the
chat screen (messages are sent, ``/quit`` or ``exit`` leaves, other commands
are refused); everything received is printed as plain, sanitised lines. At the
end of the input the client waits (briefly) until its messages were
acknowledged, then says ``quit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import tzinfo
from typing import TextIO

from chatapp.protocol import DEFAULT_ROOM, ByeReason, Direct, Error, Message, Presence, ProtocolError

from ..clock import Clock, SystemClock
from ..net.errors import SendRefused
from ..net.events import LinkDown, LinkUp, ReconnectFailed, SendFailed, SessionEnded, SessionEvent
from ..net.session import ChatSession
from . import actions, commands, sentences
from .lines import Line, message_lines, parse_timestamp, system_lines
from .sanitize import sanitize


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
        self.refused = 0
        """Messages the server refused (``SendFailed``): the exit status is then 1."""

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
            elif isinstance(action, actions.QuitChat):
                return
            elif isinstance(action, actions.Nothing):
                continue
            else:
                self._note("only messages, /say, /msg NAME TEXT, /quit and exit work without a terminal")

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
            self._print(message_lines(event, me, tz=self.tz, received=when, show_room=elsewhere))
        elif isinstance(event, Presence):
            self._system(sentences.presence_text(event)[0])
        elif isinstance(event, Error):
            self._system(sentences.describe_error(event.code, event.message, event.retry_after))
        elif isinstance(event, SendFailed):
            self.refused += 1
            self._system(f"Not sent: {sentences.send_refusal(event)}")
        elif isinstance(event, LinkDown):
            why = sentences.describe_link_down(event.bye, event.error)
            self._system(why + (" Reconnecting." if event.reconnect else ""))
        elif isinstance(event, ReconnectFailed):
            self._system(f"Reconnect attempt {event.attempt} failed: {sanitize(event.reason)}.")
        elif isinstance(event, LinkUp):
            self._system("Reconnected; session resumed.")
        elif isinstance(event, SessionEnded) and event.bye != ByeReason.QUIT:
            ended = sentences.why_ended(event)
            if ended is not None:
                self._system(ended)
