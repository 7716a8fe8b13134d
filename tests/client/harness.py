"""Driving the real client in-process: prompt_toolkit pipe input and a captured VT100 output.

Shared by the unit tests (against :mod:`tests.client.fakeserver`) and the
end-to-end tests (against a real server subprocess). Nothing here sleeps a
fixed time: :func:`until` polls a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from prompt_toolkit.application import create_app_session
from prompt_toolkit.data_structures import Size
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output.vt100 import Vt100_Output

from chatapp.client import ChatSession, SessionEvent
from chatapp.client.ui.screen import ChatScreen

T = TypeVar("T")
TIMEOUT = 10.0

# Keys as a terminal sends them.
ENTER = "\r"
TAB = "\t"
UP = "\x1b[A"
DOWN = "\x1b[B"
CTRL_C = "\x03"
CTRL_D = "\x04"
ALT_ENTER = "\x1b\r"
PAGE_UP = "\x1b[5~"
PAGE_DOWN = "\x1b[6~"
CTRL_N = "\x0e"
CTRL_P = "\x10"
CTRL_U = "\x15"


async def until(
    predicate: Callable[[], T], timeout: float = TIMEOUT, what: str | Callable[[], str] = ""
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds.

    ``what`` describes the wait in the failure message (a callable is asked only then).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if loop.time() > deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout}s waiting for {described or predicate}")
        await asyncio.sleep(0.01)


class CapturedTerminal:
    """A text stream standing in for the terminal: everything the client writes, in order."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self) -> None:
        self.chunks: list[str] = []

    def write(self, data: str) -> int:
        self.chunks.append(data)
        return len(data)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def plain(self) -> str:
        """The written text with escape sequences removed (roughly what a person would read)."""
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]|\x1b[=>]", "", self.text)


def vt100(terminal: CapturedTerminal, rows: int = 24, columns: int = 80) -> Vt100_Output:
    return Vt100_Output(terminal, lambda: Size(rows=rows, columns=columns), term="xterm-256color")


@contextlib.contextmanager
def fake_terminal(rows: int = 24, columns: int = 80) -> Iterator[tuple[PipeInput, CapturedTerminal]]:
    """Make prompt_toolkit read keys from a pipe and write to a captured terminal."""
    with create_pipe_input() as pipe:
        terminal = CapturedTerminal()
        with create_app_session(input=pipe, output=vt100(terminal, rows, columns)):
            yield pipe, terminal


class Screen:
    """A running :class:`ChatScreen` and the keyboard and terminal attached to it."""

    def __init__(self, screen: ChatScreen, pipe: PipeInput, terminal: CapturedTerminal,
                 task: asyncio.Task[str | None]) -> None:
        self.screen = screen
        self.pipe = pipe
        self.terminal = terminal
        self.task = task

    def type(self, keys: str) -> None:
        self.pipe.send_text(keys)

    @property
    def input_text(self) -> str:
        return self.screen.buffer.text

    def lines(self) -> list[str]:
        """What the message pane holds now (logged lines, then messages still being sent)."""
        return [line.plain for line in (*self.screen.state.log.lines, *self.screen.state.pending_lines())]

    def find(self, fragment: str) -> str | None:
        return next((line for line in self.lines() if fragment in line), None)

    async def wait_line(self, fragment: str, timeout: float = TIMEOUT) -> str:
        return await until(
            lambda: self.find(fragment), timeout, lambda: f"a line with {fragment!r}; have {self.lines()}"
        )

    async def wait_input(self, text: str, timeout: float = TIMEOUT) -> None:
        await until(
            lambda: self.input_text == text, timeout, lambda: f"input {text!r}, have {self.input_text!r}"
        )

    def drawn(self) -> str:
        """What the terminal shows now: the rows of the last screen prompt_toolkit rendered.

        (The byte stream alone is not enough: the renderer only sends what
        changed, so a new line that resembles the old one arrives in pieces.)
        """
        screen = self.screen.app.renderer._last_screen
        size = self.screen.app.output.get_size()
        if screen is None:
            return ""
        rows = []
        for y in range(size.rows):
            row = screen.data_buffer[y]
            rows.append("".join(row[x].char for x in range(size.columns)).rstrip())
        return "\n".join(rows)

    async def wait_drawn(self, fragment: str, timeout: float = TIMEOUT) -> None:
        """Wait until ``fragment`` is on the screen."""
        await until(
            lambda: fragment in self.drawn(), timeout, lambda: f"{fragment!r} on screen; have\n{self.drawn()}"
        )

    async def finished(self, timeout: float = TIMEOUT) -> str | None:
        return await asyncio.wait_for(asyncio.shield(self.task), timeout)


@contextlib.asynccontextmanager
async def running_screen(
    session: ChatSession, rows: int = 24, columns: int = 80, **options: Any
) -> AsyncIterator[Screen]:
    """Run a :class:`ChatScreen` for a signed-in session; leave it (and quit) at the end."""
    with fake_terminal(rows, columns) as (pipe, terminal):
        screen = ChatScreen(session, **options)
        task = asyncio.create_task(screen.run())
        await until(lambda: screen.app.is_running or task.done(), what="the screen to start")
        harness = Screen(screen, pipe, terminal, task)
        try:
            yield harness
        finally:
            if not task.done():
                screen.leave()
            await asyncio.wait_for(task, TIMEOUT)


async def next_event(session: ChatSession, kind: type[T], timeout: float = TIMEOUT) -> T:
    """Events from ``session`` until one of ``kind`` (others are dropped)."""
    async with asyncio.timeout(timeout):
        while True:
            event: SessionEvent = await session.next_event()
            if isinstance(event, kind):
                return event
