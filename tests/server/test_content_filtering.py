"""Content rules on a live server: rejected texts go nowhere, masked ones go masked, flags are audited."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chatapp.protocol import (
    Away,
    Direct,
    History,
    HistoryPage,
    Join,
    Joined,
    Message,
    Presence,
    Send,
    SendDirect,
    SetTopic,
    TopicChanged,
)
from chatapp.server.app import ChatServer
from chatapp.server.filters import FilterFileError
from tests.server.conftest import Dial, ServerFactory
from tests.support.databases import ScratchDatabase
from tests.support.wire import WireClient

RULES = """
[[rule]]
name = "insults"
words = ["idiot", "shut up"]
action = "reject"
message = "please keep it civil"

[[rule]]
name = "invites"
pattern = 'discord\\.gg/\\w+'
action = "mask"

[[rule]]
name = "watch"
words = ["crypto"]
action = "flag"
applies_to = ["messages", "direct_messages"]
"""


@pytest.fixture
def filter_file(tmp_path: Path) -> Path:
    path = tmp_path / "filters.toml"
    path.write_text(RULES)
    return path


@pytest.fixture
async def filtered(start_server: ServerFactory, filter_file: Path) -> ChatServer:
    return await start_server(filter_file=str(filter_file))


async def online(dial: Dial, server: ChatServer, name: str) -> WireClient:
    client = await dial(server)
    await client.register(name)
    await client.expect(Presence)  # its own, in general
    return client


async def pair(dial: Dial, server: ChatServer) -> tuple[WireClient, WireClient]:
    alice = await online(dial, server, "alice")
    bob = await online(dial, server, "bob")
    await alice.expect(Presence)  # bob came online
    return alice, bob


async def history(client: WireClient, **where: str) -> list[str]:
    await client.send(History(**where))  # type: ignore[arg-type]
    page = await client.expect(HistoryPage, skip=(Presence,))
    return [message.text for message in page.messages]


async def audit_rows(database: ScratchDatabase, count: int) -> list[tuple[str, ...]]:
    """The audit events, once there are ``count`` (written in the background: wait for them)."""
    sql = "SELECT actor, action, target, room, reason FROM audit_events ORDER BY id"
    async with asyncio.timeout(10):
        while len(rows := await asyncio.to_thread(database.rows, sql)) < count:
            await asyncio.sleep(0.02)
    return [tuple(row) for row in rows]


async def test_a_rejected_message_is_refused_and_goes_nowhere(
    filtered: ChatServer, dial: Dial, database: ScratchDatabase
) -> None:
    alice, bob = await pair(dial, filtered)
    await alice.send(Send(room="general", text="you IDIOT", ref=5))
    error = await alice.expect_error("filtered")
    assert (error.message, error.ref) == ("please keep it civil", 5)
    await alice.send(SendDirect(to="bob", text="shut   up", ref=6))
    assert (await alice.expect_error("filtered")).ref == 6
    # The next thing bob gets is the message after: the refused ones never reached him.
    await alice.send(Send(room="general", text="sorry"))
    assert (await bob.expect(Message)).text == "sorry"
    assert await history(bob, room="general") == ["sorry"]
    assert await asyncio.to_thread(database.scalar, "SELECT count(*) FROM messages") == 1


async def test_a_masked_message_is_stored_and_delivered_masked(filtered: ChatServer, dial: Dial) -> None:
    alice, bob = await pair(dial, filtered)
    await alice.send(Send(room="general", text="join discord.gg/abc now"))
    assert (await alice.expect(Message)).text == "join *** now"
    assert (await bob.expect(Message)).text == "join *** now"
    await alice.send(SendDirect(to="bob", text="DISCORD.GG/x"))
    assert (await bob.expect(Direct)).text == "***"
    assert await history(bob, room="general") == ["join *** now"]


async def test_a_flagged_message_is_delivered_and_audited(
    filtered: ChatServer, dial: Dial, database: ScratchDatabase
) -> None:
    alice, bob = await pair(dial, filtered)
    await alice.send(Send(room="general", text="buy crypto"))
    assert (await bob.expect(Message)).text == "buy crypto"
    await bob.send(SendDirect(to="alice", text="Crypto?"))
    assert (await alice.expect(Direct, skip=(Message,))).text == "Crypto?"
    assert await audit_rows(database, 2) == [
        ("server", "filter_flag", "alice", "general", "watch"),
        ("server", "filter_flag", "bob", None, "watch"),
    ]


async def test_topics_and_away_texts_are_screened(filtered: ChatServer, dial: Dial) -> None:
    alice, bob = await pair(dial, filtered)
    await alice.send(Join(room="rust"))
    await alice.expect(Joined)
    await alice.expect(HistoryPage)
    await alice.expect(Presence)  # her own join
    await alice.send(SetTopic(room="rust", text="idiots welcome? no: idiot", ref=1))
    await alice.expect_error("filtered")
    await alice.send(SetTopic(room="rust", text="see discord.gg/rust"))
    assert (await alice.expect(TopicChanged)).text == "see ***"
    await bob.send(Away(text="shut up", ref=2))
    assert (await bob.expect_error("filtered")).ref == 2
    await bob.send(Away(text="at discord.gg/afk"))
    presence = await alice.expect(Presence)
    assert (presence.event, presence.text) == ("away", "at ***")
    # "watch" applies to messages only: a topic with its word is not flagged, nor changed.
    await alice.send(SetTopic(room="rust", text="crypto"))
    assert (await alice.expect(TopicChanged)).text == "crypto"


async def test_reload_takes_new_rules_and_keeps_old_ones_on_a_bad_file(
    filtered: ChatServer, dial: Dial, filter_file: Path
) -> None:
    alice, bob = await pair(dial, filtered)
    filter_file.write_text('[[rule]]\nname = "fruit"\nwords = ["banana"]\naction = "mask"\n')
    filtered.reload_filters()  # what SIGHUP does
    await alice.send(Send(room="general", text="idiot banana"))
    assert (await bob.expect(Message)).text == "idiot ***"
    filter_file.write_text('[[rule]]\nname = "broken"\npattern = "("\naction = "mask"\n')
    filtered.reload_filters()
    await alice.send(Send(room="general", text="banana"))
    assert (await bob.expect(Message)).text == "***"
    with pytest.raises(FilterFileError, match="rule 1 \\('broken'\\)"):
        filtered.filters.reload()  # what the admin command calls: the sentence is the answer


async def test_without_a_filter_file_nothing_is_screened(chat: ChatServer, dial: Dial) -> None:
    alice = await online(dial, chat, "alice")
    await alice.send(Send(room="general", text="idiot discord.gg/x"))
    assert (await alice.expect(Message)).text == "idiot discord.gg/x"
    with pytest.raises(FilterFileError, match="no filter file"):
        chat.filters.reload()


async def test_a_bad_filter_file_stops_the_start(start_server: ServerFactory, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nname = "x"\naction = "mask"\n')
    with pytest.raises(FilterFileError, match="needs either words or a pattern"):
        await start_server(filter_file=str(bad))
