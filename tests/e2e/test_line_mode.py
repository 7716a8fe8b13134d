"""Line mode for bots and scripts: ``python -m chatapp.client`` in a pipe against a real server
process with its real rate limits (20 messages a second, bursts of 60): 300 piped lines arrive all,
in order, and exit 0 (the pacing waits out the server's refusals); refusals exit 1 and list the lines
that were not sent; ``--json`` prints objects a script can parse; ``--room``, ``/join``, ``/me``,
``--no-echo``, ``--no-replay``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatapp.protocol import HistoryPage, Join, Joined, Message, Moderate, Presence, RoomEvent, Send
from tests.e2e.test_client_cli import client_env
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient

TIMEOUT = 90.0


@pytest.fixture(scope="module")
def line_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module, with the default send limits (each test has its own users)."""
    server = ServerProcess(tmp_path_factory.mktemp("line") / "chat.db", "--registrations-per-address", "1000")
    server.start()
    yield server
    server.close()


def bot(server: ServerProcess, tmp_path: Path, user: str, lines: list[str], *args: str,
        register: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the client in line mode as ``user``, its password then ``lines`` on standard input."""
    base = ["--host", server.host, "--port", str(server.port), "--user", user, "--password-stdin"]
    stdin = "".join(f"{line}\n" for line in [PASSWORD, *lines])
    return subprocess.run(
        [sys.executable, "-m", "chatapp.client", *base, *(["--register"] if register else []), *args],
        input=stdin, capture_output=True, text=True, timeout=TIMEOUT, env=client_env(tmp_path),
    )


async def watcher(server: ServerProcess, name: str, room: str) -> WireClient:
    client = await WireClient.connect(server.host, server.port)
    await client.register(name)
    await client.send(Join(room=room, ref="j"))
    await client.expect(Joined, skip=(Presence,))
    await client.expect(HistoryPage)
    return client


async def texts_in(client: WireClient, room: str, count: int) -> list[str]:
    texts: list[str] = []
    while len(texts) < count:
        frame = await client.recv()
        if isinstance(frame, Message) and frame.room == room:
            texts.append(frame.text)
    return texts


async def test_300_piped_lines_are_all_sent_in_order_at_the_server_s_rate(
    line_server: ServerProcess, tmp_path: Path
) -> None:
    room = "pacing"
    watching = await watcher(line_server, "pacewatch", room)
    lines = [f"line {n:03d} of the report" for n in range(300)]
    log = tmp_path / "client.log"
    result = await asyncio.to_thread(
        bot, line_server, tmp_path, "pacebot", lines, "--room", room, "--debug", "--log-file", str(log),
        register=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert await texts_in(watching, room, 300) == lines  # all of them, each once, in order
    # The server did refuse some for the rate (300 is well past its burst of 60), and they were sent again.
    assert "rate_limited" in log.read_text()
    # Its own messages are printed as they are acknowledged, in order too.
    own = [line for line in result.stdout.splitlines() if "<pacebot>" in line]
    assert [line.split("<pacebot> ", 1)[1] for line in own] == lines
    await watching.close()


async def test_refusals_exit_1_and_list_the_lines_not_sent(
    line_server: ServerProcess, tmp_path: Path
) -> None:
    owner = await watcher(line_server, "denowner", "den")
    first = await asyncio.to_thread(bot, line_server, tmp_path, "mutebot", ["hello"], "--room", "den",
                                    register=True)
    assert first.returncode == 0, first.stderr
    await owner.send(Moderate(room="den", action="mute", user="mutebot", ref="m"))
    await owner.expect(RoomEvent, skip=(Presence, Message))

    lines = ["still talking", "/me waves anyway", "/nosuchcommand", "/join general", "in general it works"]
    result = await asyncio.to_thread(bot, line_server, tmp_path, "mutebot", lines, "--room", "den")
    assert result.returncode == 1
    assert "muted" in result.stdout  # the refusals, in the chat screen's words
    assert result.stderr.endswith(
        "chatapp-client: 3 lines of the input were not sent:\n"
        "  still talking\n  /me waves anyway\n  /nosuchcommand\n"
    )
    assert "<mutebot> in general it works" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr

    # A room it may not enter: nothing is read or sent, and it says why.
    await owner.send(Moderate(room="den", action="ban", user="mutebot", ref="b"))
    await owner.expect(RoomEvent, skip=(Presence, Message))
    banned = await asyncio.to_thread(bot, line_server, tmp_path, "mutebot", ["never"], "--room", "den")
    assert banned.returncode == 1
    assert banned.stderr.startswith("chatapp-client: could not join #den: ")
    assert banned.stderr.endswith("Nothing was sent.\n")
    await owner.close()


async def test_json_events_actions_no_echo_and_no_replay(line_server: ServerProcess, tmp_path: Path) -> None:
    peer = await watcher(line_server, "jsonpeer", "general")
    first = await asyncio.to_thread(bot, line_server, tmp_path, "jsonbot", [], register=True)
    assert first.returncode == 0, first.stderr
    # Said while the bot is away: the next run gets it as a missed message, unless --no-replay.
    await peer.send(Send(room="general", text="while you were out"))
    await texts_in(peer, "general", 1)

    result = await asyncio.to_thread(
        bot, line_server, tmp_path, "jsonbot", ["/me beeps", "plain words", "/plain jsonpeer psst"], "--json",
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]  # every line is one object
    messages = [e for e in events if e["type"] in ("message", "direct")]
    missed = [e for e in messages if e.get("replayed")]
    assert [e["text"] for e in missed] == ["while you were out"]
    own = [e for e in messages if e["from"] == "jsonbot"]
    assert [(e["type"], e["text"], e.get("action", False)) for e in own] == [
        ("message", "beeps", True), ("message", "plain words", False), ("direct", "psst", False),
    ]
    for event in own:
        assert isinstance(event["id"], int) and event["ts"][17:19].isdigit()  # seconds are there
    assert own[2]["to"] == "jsonpeer" and "e2e" not in own[2]

    quiet = await asyncio.to_thread(
        bot, line_server, tmp_path, "jsonbot", ["unseen by myself"], "--json", "--no-echo", "--no-replay",
    )
    assert quiet.returncode == 0, quiet.stderr
    events = [json.loads(line) for line in quiet.stdout.splitlines()]
    assert not [e for e in events if e["type"] in ("message", "direct")]
    assert (await texts_in(peer, "general", 3))[-1] == "unseen by myself"
    await peer.close()
