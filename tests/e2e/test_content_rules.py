"""Content rules in a real server process: a rejected message is nowhere, not even in the database
file; a masked one reaches everyone masked; SIGHUP reads the file again; a bad file stops the start."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from chatapp.protocol import Message, Presence, Send
from tests.support.databases import ScratchDatabase
from tests.support.server import ServerProcess
from tests.support.wire import WireClient

RULES = """
[[rule]]
name = "secret"
words = ["zanzibarite"]
action = "reject"
message = "that word stays out"

[[rule]]
name = "links"
pattern = 'spam\\.example/\\S*'
action = "mask"
"""


async def two(server: ServerProcess) -> tuple[WireClient, WireClient]:
    alice = await WireClient.connect(server.host, server.port)
    await alice.register("alice")
    bob = await WireClient.connect(server.host, server.port)
    await bob.register("bob")
    await alice.expect(Presence)
    await alice.expect(Presence)
    await bob.expect(Presence)
    return alice, bob


@pytest.mark.sqlite_only
async def test_rejected_never_stored_masked_delivered_masked(
    server_factory: type[ServerProcess], database: ScratchDatabase, tmp_path: Path
) -> None:
    rules = tmp_path / "filters.toml"
    rules.write_text(RULES)
    server = server_factory(database, "--filter-file", str(rules)).start()
    alice, bob = await two(server)
    await alice.send(Send(room="general", text="the ZANZIBARITE plans", ref=1))
    error = await alice.expect_error("filtered")
    assert (error.message, error.ref) == ("that word stays out", 1)
    await alice.send(Send(room="general", text="see spam.example/deal now"))
    assert (await alice.expect(Message)).text == "see *** now"
    assert (await bob.expect(Message)).text == "see *** now"  # the first thing bob gets after the presences
    # Stop the server (its WAL checkpointed or not) and look at every byte it wrote.
    assert server.stop() == 0
    assert database.path is not None
    written = b"".join(path.read_bytes() for path in database.path.parent.iterdir() if path.is_file())
    assert b"see *** now" in written
    assert b"zanzibarite" not in written.lower()
    assert b"spam.example" not in written
    await alice.close()
    await bob.close()


async def test_sighup_reads_the_file_again(
    server_factory: type[ServerProcess], database: ScratchDatabase, tmp_path: Path
) -> None:
    rules = tmp_path / "filters.toml"
    rules.write_text(RULES)
    server = server_factory(database, "--filter-file", str(rules)).start()
    server.wait_for_log(r"event=filters rules=2")
    alice, bob = await two(server)
    rules.write_text('[[rule]]\nname = "fruit"\nwords = ["banana"]\naction = "mask"\n')
    assert server.proc is not None
    server.proc.send_signal(signal.SIGHUP)
    await asyncio.to_thread(server.wait_for_log, r"event=filters_reloaded rules=1")
    await alice.send(Send(room="general", text="zanzibarite banana"))
    assert (await bob.expect(Message)).text == "zanzibarite ***"
    # A broken file: the server says why and keeps the rules it has.
    rules.write_text('[[rule]]\nname = "broken"\npattern = "(("\naction = "mask"\n')
    server.proc.send_signal(signal.SIGHUP)
    await asyncio.to_thread(server.wait_for_log, r"event=filters_reload_failed reason=.*broken")
    await alice.send(Send(room="general", text="banana split"))
    assert (await bob.expect(Message)).text == "*** split"
    assert server.stop() == 0
    assert "Traceback" not in server.log
    await alice.close()
    await bob.close()


@pytest.mark.sqlite_only
def test_a_bad_filter_file_stops_the_start_with_one_line(
    server_factory: type[ServerProcess], database: ScratchDatabase, tmp_path: Path
) -> None:
    rules = tmp_path / "filters.toml"
    rules.write_text('[[rule]]\nname = "x"\nwords = ["a b c!"]\naction = "mask"\n')
    server = server_factory(database, "--filter-file", str(rules))
    assert server.start_expecting_failure() == 2
    assert f"chatapp-server: filter file {rules}: rule 1 ('x'): 'a b c!' is not a word" in server.log
    assert "Traceback" not in server.log
    missing = server_factory(database, "--filter-file", str(tmp_path / "nope.toml"))
    assert missing.start_expecting_failure() == 2
    assert "cannot be read" in missing.log
