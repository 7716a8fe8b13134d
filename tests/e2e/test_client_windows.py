"""Windows, highlights, ignores and scroll-back as irssi and weechat users expect them: the real chat
screen (prompt_toolkit through a pipe, a captured VT100 terminal) against a real server process.

One server serves the module (the client's windows touch no store: one SQLite database is enough);
each test signs up its own people, so tests do not see each other.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from chatapp.client import Backoff, ChatSession
from chatapp.client.settings import Loaded, Settings
from chatapp.client.settings_store import SettingsStore
from chatapp.client.ui.lines import UNREAD_MARKER
from chatapp.protocol import Away, ClientFrame, Message, Send, SendDirect
from tests.client.harness import CTRL_U, ENTER, Screen, running_screen, until
from tests.e2e.test_client_chat import FAST, receive, wire
from tests.e2e.test_client_rooms import join, messages_in, status
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient

ALT = "\x1b"
ALT_LEFT = "\x1b\x1b[D"
ALT_RIGHT = "\x1b\x1b[C"
WHEEL_UP = "\x1b[<64;10;5M"  # an SGR mouse report: the wheel turned up over column 10, row 5
WHEEL_DOWN = "\x1b[<65;10;5M"
_names = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    database = tmp_path_factory.mktemp("windows") / "chat.db"
    process = ServerProcess(database, "--send-burst", "200", "--send-rate", "200",
                            "--registrations-per-address", "100").start()
    yield process
    process.close()


def name(prefix: str) -> str:
    """A username no other test of the module uses."""
    return f"{prefix}{next(_names)}"


@asynccontextmanager
async def chatting(server: ServerProcess, user: str, *, register: bool = True, columns: int = 100,
                   rows: int = 24, backoff: Backoff = FAST, **options: object) -> AsyncIterator[Screen]:
    # a seed of its own: a client started again must not send the same message nonces as before
    session = ChatSession(server.host, server.port, backoff=backoff, rng=random.Random(next(_names)))
    await session.connect()
    if register:
        await session.register(user, PASSWORD)
    else:
        await session.login(user, PASSWORD)
    try:
        async with running_screen(session, rows=rows, columns=columns, **options) as screen:
            await screen.wait_line("You are online in #general.")
            yield screen
    finally:
        await session.aclose()


@dataclasses.dataclass
class Person:
    """A raw protocol client and its name."""

    client: WireClient
    username: str

    async def send(self, frame: ClientFrame) -> None:
        await self.client.send(frame)


@pytest.fixture
async def bob(server: ServerProcess) -> AsyncIterator[Person]:
    user = name("bob")
    client = await wire(server, user)
    yield Person(client, user)
    await client.close()


def bells(screen: Screen) -> int:
    """BEL characters the client wrote to the terminal (not those ending a title sequence)."""
    return re.sub(r"\x1b\][^\x07]*\x07", "", screen.terminal.text).count("\x07")


def prompt_is(screen: Screen, label: str) -> bool:
    return screen.screen.state.room == label


async def test_alt_keys_and_window_commands(server: ServerProcess, bob: Person) -> None:
    room = name("rust")
    await join(bob.client, room)
    async with chatting(server, name("alice")) as screen:
        me = screen.screen.state.me
        screen.type(f"/join -create {room}" + ENTER)  # -create: never a question
        await screen.wait_line(f"You joined #{room}.")
        screen.type(f"/query {bob.username}" + ENTER)
        await until(lambda: prompt_is(screen, f"@{bob.username}"), what="/query opens the conversation")
        await screen.wait_drawn(f"[3:@{bob.username}]")  # the active window's number, in the status bar
        screen.type(ALT + "1")
        await screen.wait_drawn("#general>")
        screen.type(ALT + "2")
        await screen.wait_drawn(f"#{room}>")
        screen.type(ALT_RIGHT)
        await screen.wait_drawn(f"@{bob.username}>")
        screen.type(ALT_LEFT + ALT_LEFT)
        await screen.wait_drawn("#general>")
        screen.type(ALT + "0")  # there is no window 10: nothing happens
        screen.type("/win 2" + ENTER)
        await screen.wait_drawn(f"#{room}>")

        # Alt-A goes where something happened, a window that names you first
        await bob.send(Send(room="general", text="plain chatter"))
        await screen.wait_drawn("[1:#general 1]")
        await bob.send(SendDirect(to=me, text="psst"))
        await screen.wait_drawn(f"[3:@{bob.username} 1]")
        screen.type(ALT + "a")
        await screen.wait_drawn(f"@{bob.username}>")
        screen.type(ALT + "a")
        await screen.wait_drawn("#general>")
        await screen.wait_line("plain chatter")

        screen.type("/windows" + ENTER)
        await screen.wait_line("Windows (Alt-1 ... Alt-9")
        await screen.wait_line("   1  #general  (you are here)")
        await screen.wait_line(f"   3  @{bob.username}")

        screen.type("/names" + ENTER)  # = /who
        await screen.wait_line("Online in #general")
        screen.type(f"/part #{room}" + ENTER)  # = /leave
        await screen.wait_line(f"You left #{room}.")
        assert screen.screen.state.targets.resolve(f"#{room}") is None
        screen.type(ALT + "2")
        await screen.wait_drawn(f"@{bob.username}>")  # the conversation is window 2 now
        screen.type("/close" + ENTER)
        await screen.wait_line(f"Closed the conversation with @{bob.username}")
        assert [target.label for target in screen.screen.state.targets] == ["#general", "*highlights"]

        # IRC commands we do not have point to ours
        screen.type(CTRL_U + "/nick bobby" + ENTER)
        await screen.wait_line("/nick is an IRC command; here chatapp has no nicknames")
        screen.type(CTRL_U + "/mode +o carol" + ENTER)
        await screen.wait_line("/op and /deop make operators")
        screen.type(CTRL_U + "/clear" + ENTER)
        await until(lambda: screen.find("/mode") is None, what="/clear empties the window")


async def test_the_bell_rings_for_mentions_highlight_words_and_direct_messages(
    server: ServerProcess, bob: Person
) -> None:
    async with chatting(server, name("alice")) as screen:
        me = screen.screen.state.me
        assert bells(screen) == 0
        await bob.send(Send(room="general", text="nothing for anyone"))
        await screen.wait_line("nothing for anyone")
        assert bells(screen) == 0
        await bob.send(Send(room="general", text=f"{me}: the deploy is out"))
        await until(lambda: bells(screen) == 1, what="BEL for a mention")
        screen.type("/set highlight_words deploy" + ENTER)
        await screen.wait_line("highlight_words is now deploy")
        await bob.send(Send(room="general", text="Deploy number two"))
        await until(lambda: bells(screen) == 2, what="BEL for a highlight word")
        await bob.send(SendDirect(to=me, text="a private word"))
        await until(lambda: bells(screen) == 3, what="BEL for a direct message")

        screen.type("/highlights" + ENTER)
        await screen.wait_drawn("*highlights>")
        await screen.wait_line(f"[#general] <{bob.username}> {me}: the deploy is out")
        await screen.wait_line(f"[#general] <{bob.username}> Deploy number two")
        await screen.wait_line(f"[@{bob.username}] <{bob.username}> a private word")
        assert screen.find("nothing for anyone") is None
        screen.type("not sent from here" + ENTER)
        await screen.wait_line("Nothing is sent from *highlights")

        screen.type(CTRL_U + "/set bell off" + ENTER)
        await screen.wait_line("bell is now off")
        await bob.send(Send(room="general", text=f"{me}: still there?"))
        await screen.wait_line(f"{me}: still there?")
        await bob.send(Send(room="general", text="sentinel"))
        await until(lambda: "sentinel" in "".join(messages_in(screen, "#general")), what="the sentinel")
        assert bells(screen) == 3


async def test_ignore_is_kept_across_a_restart(server: ServerProcess, bob: Person, tmp_path: Path) -> None:
    user = name("alice")
    ignores = tmp_path / "data" / "ignore" / "server" / user
    async with chatting(server, user, ignore_file=ignores) as screen:
        screen.type(f"/ignore {bob.username}" + ENTER)
        await screen.wait_line(f"Ignoring {bob.username}")
        await until(ignores.exists, what="the ignore file")
        assert ignores.read_text() == f"{bob.username}\n"
        await bob.send(Send(room="general", text="you cannot see me"))
        await bob.send(SendDirect(to=user, text="nor this"))
        screen.type("sentinel one" + ENTER)
        await until(lambda: f"<{user}> sentinel one" in messages_in(screen, "#general"), what="the echo")
        assert screen.find("you cannot see me") is None
        assert screen.screen.state.targets.resolve(f"@{bob.username}") is None

    async with chatting(server, user, register=False, ignore_file=ignores) as screen:  # the client again
        screen.type("/ignore" + ENTER)
        await screen.wait_line(f"Ignored (1; /unignore NAME shows them again): {bob.username}")
        await screen.wait_line(f"<{user}> sentinel one")  # the recent history, without bob's lines
        assert screen.find("you cannot see me") is None
        await bob.send(Send(room="general", text="still hidden"))
        screen.type("sentinel two" + ENTER)
        await until(lambda: f"<{user}> sentinel two" in messages_in(screen, "#general"),
                    what="the echo")
        assert screen.find("still hidden") is None
        screen.type(f"/unignore {bob.username}" + ENTER)
        await screen.wait_line(f"{bob.username} is no longer ignored")
        await until(lambda: ignores.read_text() == "", what="the file emptied")
        await bob.send(Send(room="general", text="seen again"))
        await screen.wait_line(f"<{bob.username}> seen again")


async def test_lastlog_and_url(server: ServerProcess, bob: Person) -> None:
    room = name("logs")
    await join(bob.client, room)
    url = "https://example.org/" + "a-very-long-path/" * 8 + "end"
    for n in range(1, 61):
        text = f"deploy {n} went fine" if n % 20 == 0 else f"chatter {n}"
        await bob.send(Send(room=room, text=text))
    await bob.send(Send(room=room, text=f"the report is at {url}, have a look"))
    await receive(bob.client, Message, lambda m: "the report" in m.text)
    async with chatting(server, name("alice"), columns=60) as screen:
        screen.type(f"/join -create {room}" + ENTER)  # -create: never a question
        await screen.wait_line("the report is at")
        assert len(messages_in(screen, f"#{room}")) == 20  # a join brings the 20 latest
        screen.type("/lastlog DEPLOY" + ENTER)  # fetches older messages from the server, then searches
        await screen.wait_line(f"Lastlog of #{room}: 3 lines with 'DEPLOY' (the whole history)")
        found = [line for line in screen.lines() if line.startswith("  ") and "deploy" in line]
        assert [line.split("> ", 1)[1] for line in found] == [f"deploy {n} went fine" for n in (20, 40, 60)]
        await screen.wait_line("-- End of lastlog --")
        screen.type("/lastlog no such thing" + ENTER)
        await screen.wait_line("0 lines with 'no such thing'")

        screen.type("/url" + ENTER)
        await screen.wait_line("Recent links (1, newest last)")
        assert screen.lines()[-1] == url  # alone on its line
        await screen.wait_drawn(url[:60])  # the link alone on its row, 60 columns wide ...
        await until(lambda: any(row.startswith(url[60:120]) for row in screen.drawn().splitlines()),
                    what=lambda: f"the rest of the link in column 0, no gutter; have\n{screen.drawn()}")


async def test_the_unread_marker_after_switching_and_reconnecting(
    server: ServerProcess, bob: Person
) -> None:
    room = name("mark")
    await join(bob.client, room)
    patient = Backoff(initial=3600.0, factor=1.0, maximum=3600.0)  # reconnects only when told to
    async with chatting(server, name("alice"), backoff=patient) as screen:
        screen.type(f"/join -create {room}" + ENTER)  # -create: never a question
        await screen.wait_drawn(f"#{room}>")
        await bob.send(Send(room="general", text="said while you were away"))
        await screen.wait_drawn("[1:#general 1]")
        screen.type(ALT + "1")
        await screen.wait_drawn(UNREAD_MARKER)
        lines = screen.lines()
        marker = lines.index(UNREAD_MARKER)
        assert "said while you were away" in lines[marker + 1]
        screen.type(ALT + "2" + ALT + "1")  # looked at and left again, with nothing new: no marker
        await screen.wait_drawn("#general>")
        await until(lambda: UNREAD_MARKER not in screen.lines(), what="the old marker gone")
        screen.type("my own words" + ENTER)  # neither your own message nor one said while you look
        await bob.send(Send(room="general", text="said while you look"))
        await screen.wait_line("said while you look")
        assert UNREAD_MARKER not in screen.lines()

        # after a lost link, what is replayed comes after the marker
        state = screen.screen.state
        link = screen.screen.session.keeper.link
        assert link is not None
        link.writer.transport.abort()  # the connection dies without a word
        await screen.wait_line("Reconnecting by itself")
        await bob.send(Send(room="general", text="said while you were offline"))
        await receive(bob.client, Message, lambda m: m.text == "said while you were offline")
        screen.type("/reconnect" + ENTER)
        await screen.wait_line("said while you were offline")
        lines = screen.lines()
        offline = next(index for index, line in enumerate(lines) if "while you were offline" in line)
        assert lines.index(UNREAD_MARKER) < offline
        assert state.log.has_marker


async def test_narrow_status_bar_keeps_the_unread_counts(server: ServerProcess, bob: Person) -> None:
    rooms = [name("r") for _ in range(3)]
    for room in rooms:
        await join(bob.client, room)
    async with chatting(server, name("alice"), columns=36) as screen:
        for room in rooms:
            screen.type(f"/join -create {room}" + ENTER)  # -create: never a question
            await screen.wait_drawn(f"#{room}>")
        screen.type(ALT + "1")
        await screen.wait_drawn("#general>")
        for number, room in enumerate(rooms, 2):
            for n in range(number):
                await bob.send(Send(room=room, text=f"busy {n}"))  # (the same text again is refused)
        await until(lambda: [t.unread for t in screen.screen.state.targets] == [0, 2, 3, 4],
                    what=lambda: str([(t.label, t.unread) for t in screen.screen.state.targets]))
        await screen.wait_drawn("[2:2] [3:3] [4:4]")  # numbers and counts, names dropped
        rows = screen.drawn().splitlines()
        status_row = rows[-2]
        assert status_row.startswith("[2:2] [3:3] [4:4]") or "[2:2] [3:3] [4:4]" in status_row
        assert "\u2026" not in status_row  # shortened, not cut
        assert rows[0].endswith("\u2026")  # the title gets an ellipsis
        assert len(rows[0]) <= 36
        full = "".join(text for _, text, *_ in screen.screen.bars.status_parts(0))
        assert f"[2:#{rooms[0]} 2]" in full and len(full) > 36
        assert status(screen) == "".join(text for _, text, *_ in screen.screen.bars.status())


async def test_nick_list_and_mouse_wheel(server: ServerProcess, bob: Person) -> None:
    nick_list = SettingsStore(Loaded(Settings(nick_list=True)))
    async with chatting(server, name("alice"), settings=nick_list) as screen:
        assert "\x1b[?1000h" in screen.terminal.text  # mouse support on (the default)
        await bob.send(Away(text="lunch", ref=bob.client.next_ref()))
        await screen.wait_drawn(f" {bob.username} (away)")  # the pane on the right
        screen.type(ALT + "n")
        await until(lambda: f"{bob.username} (away)" not in screen.drawn(), what="Alt-N hides the nick list")

        for n in range(40):
            await bob.send(Send(room="general", text=f"line {n}"))
        await screen.wait_line("line 39")
        await screen.wait_drawn("line 39")
        log = screen.screen.state.log
        screen.type(WHEEL_UP)
        await until(lambda: not log.follow, what="the wheel scrolls up")
        await screen.wait_drawn("scrolled up")
        screen.type(WHEEL_DOWN * 20)
        await until(lambda: log.follow, what="the wheel back down follows again")

    async with chatting(server, name("dave")) as screen:  # 20 recent messages of the 40 and more
        await screen.wait_line("line 39")
        assert screen.find("Beginning of the history of #general") is None

        def wheel_to_the_beginning() -> bool:
            if screen.find("Beginning of the history of #general"):
                return True
            screen.type(WHEEL_UP * 5)  # at the top, the wheel fetches older messages as PageUp does
            return False

        await until(wheel_to_the_beginning, timeout=30, what="the wheel to reach the beginning of history")
        assert screen.find("line 0") is not None

    no_mouse = SettingsStore(Loaded(Settings(mouse=False)))
    async with chatting(server, name("carol"), settings=no_mouse) as screen:
        assert "\x1b[?1000h" not in screen.terminal.text  # the terminal keeps the mouse
