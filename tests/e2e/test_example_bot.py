"""The example bot of docs/client.md ("Line mode for bots and scripts"), run as written against a
real server process: it answers ``!ping`` in ``#bots`` with an action, through line mode's JSON."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from chatapp.protocol import Join, Joined, Message, Presence, Send
from tests.e2e.test_client_cli import client_env
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient

DOCS = Path(__file__).resolve().parents[2] / "docs" / "client.md"
WAIT = 30.0


def example_bot() -> str:
    """The Python block of docs/client.md that starts with a shebang: the bot, as documented."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    (bot,) = [block for block in blocks if block.startswith("#!/usr/bin/env python3")]
    return bot


async def test_the_documented_bot_answers_ping(server_factory: type[ServerProcess], tmp_path: Path) -> None:
    server = server_factory(tmp_path / "chat.db").start()  # the bot's side only: one database is enough
    env = {**client_env(tmp_path), "CHATAPP_HOST": server.host, "CHATAPP_PORT": str(server.port),
           "PINGBOT_PASSWORD": PASSWORD,
           # `chatapp-client` as the bot runs it: the one installed beside this Python.
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    registered = await asyncio.to_thread(
        subprocess.run, ["chatapp-client", "--user", "pingbot", "--register", "--password-stdin"],
        input=f"{PASSWORD}\n", capture_output=True, text=True, timeout=WAIT, env=env,
    )
    assert registered.returncode == 0, registered.stderr
    script = tmp_path / "pingbot.py"
    script.write_text(example_bot())
    alice = await WireClient.connect(server.host, server.port)
    await alice.register("alice")
    await alice.send(Join(room="bots", ref="j"))
    await alice.expect(Joined, skip=(Presence,))
    bot = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        # The bot is in #bots once its join is announced; then it answers each !ping.
        while True:
            frame = await alice.recv(WAIT)
            if isinstance(frame, Presence) and (frame.event, frame.room, frame.username) == (
                "join", "bots", "pingbot"
            ):
                break
        for text in ("!ping", "not for the bot", "!ping"):
            await alice.send(Send(room="bots", text=text))
        received = [await alice.expect(Message, WAIT, skip=(Presence,)) for _ in range(5)]
        pings = [m.id for m in received if m.text == "!ping"]
        answers = [m for m in received if m.sender == "pingbot"]
        assert all(m.action for m in answers)
        assert [m.text for m in answers] == [f"answers alice: pong (message {id_})" for id_ in pings]
    finally:
        bot.terminate()
        _, errors = await asyncio.to_thread(bot.communicate, timeout=WAIT)
        await alice.close()
    assert "Traceback" not in errors
