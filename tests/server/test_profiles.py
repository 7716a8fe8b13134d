"""Profiles on a live server: set, cleared, shown by whois; sanitised; no posing as another user;
screened by the content rules."""

from __future__ import annotations

import asyncio
from pathlib import Path

from chatapp.protocol import Presence, Register, UserInfo, Whois
from chatapp.protocol.moderation_frames import SetProfile
from chatapp.server.app import ChatServer
from tests.server.conftest import Dial, ServerFactory
from tests.support.databases import ScratchDatabase
from tests.support.wire import WireClient


async def online(dial: Dial, server: ChatServer, name: str) -> WireClient:
    client = await dial(server)
    await client.register(name)
    return client


async def profile(client: WireClient, ref: str = "p", **fields: str) -> UserInfo:
    await client.send(SetProfile(ref=ref, **fields))  # type: ignore[arg-type]
    info = await client.expect(UserInfo, skip=(Presence,))
    assert info.ref == ref
    return info


async def whois(client: WireClient, name: str) -> UserInfo:
    await client.send(Whois(username=name))
    return await client.expect(UserInfo, skip=(Presence,))


async def test_set_change_and_clear(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server()
    alice = await online(dial, server, "alice")
    bob = await online(dial, server, "bob")
    info = await profile(alice, display_name=" Alice\u202e  Liddell ", bio="Down the\n\n\n\nrabbit hole\x1b")
    assert info.username == "alice"
    assert (info.display_name, info.bio) == ("Alice Liddell", "Down the\n\nrabbit hole")
    seen = await whois(bob, "ALICE")
    assert (seen.display_name, seen.bio, seen.role) == ("Alice Liddell", "Down the\n\nrabbit hole", None)
    # An absent field stays; an empty one is cleared.
    info = await profile(alice, bio="curious")
    assert (info.display_name, info.bio) == ("Alice Liddell", "curious")
    info = await profile(alice, display_name="")
    assert (info.display_name, info.bio) == (None, "curious")
    info = await profile(alice, display_name="\u200b", bio="")
    assert (info.display_name, info.bio) == (None, None)


async def test_limits(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server()
    alice = await online(dial, server, "alice")
    await alice.send(SetProfile(display_name="x" * 65, bio="kept?", ref=1))
    assert (await alice.expect_error("text_too_long", skip=(Presence,))).ref == 1
    await alice.send(SetProfile(bio="y" * 301, ref=2))
    await alice.expect_error("text_too_long", skip=(Presence,))
    info = await profile(alice)
    assert (info.display_name, info.bio) == (None, None)  # the refused change changed nothing


async def test_a_display_name_cannot_pose_as_another_user(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server()
    alice = await online(dial, server, "alice")
    await online(dial, server, "bob")
    carol = await online(dial, server, "carol")
    await profile(carol, display_name="The Queen")
    for posing in ("BOB", "Ｂｏｂ", "the queen", "THE QUEEN"):
        await alice.send(SetProfile(display_name=posing, ref=posing))
        refusal = await alice.expect_error("forbidden", skip=(Presence,))
        assert refusal.ref == posing and "another user's name" in refusal.message
    # One's own username, in any case, is fine; and the name is taken for registration too.
    assert (await profile(alice, display_name="ALICE")).display_name == "ALICE"
    # Nor may a new account take a display name as its username.
    await profile(carol, display_name="Queenie")
    newcomer = await dial(server)
    await newcomer.send(Register(username="QUEENIE", password="correct horse battery", ref="r"))
    assert (await newcomer.expect_error("username_taken")).ref == "r"


async def test_two_users_racing_for_one_display_name(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server()
    clients = [await online(dial, server, f"user{i}") for i in range(6)]
    for client in clients:
        await client.send(SetProfile(display_name="Same Name", ref="race"))
    outcomes = []
    for client in clients:
        frame = await client.recv()
        while isinstance(frame, Presence):
            frame = await client.recv()
        outcomes.append(type(frame).__name__ if isinstance(frame, UserInfo) else frame.code)  # type: ignore[union-attr]
    assert sorted(outcomes) == ["UserInfo"] + ["forbidden"] * 5


async def test_whois_shows_staff_roles_only(
    start_server: ServerFactory, dial: Dial, database: ScratchDatabase
) -> None:
    server = await start_server()
    alice = await online(dial, server, "alice")
    await online(dial, server, "mod")
    await online(dial, server, "boss")
    await asyncio.to_thread(database.execute, "UPDATE users SET role = 'moderator' WHERE username = 'mod'")
    await asyncio.to_thread(database.execute, "UPDATE users SET role = 'admin' WHERE username = 'boss'")
    assert (await whois(alice, "mod")).role == "moderator"
    assert (await whois(alice, "boss")).role == "admin"
    assert (await whois(alice, "alice")).role is None


async def test_profiles_are_screened(start_server: ServerFactory, dial: Dial, tmp_path: Path) -> None:
    rules = tmp_path / "filters.toml"
    rules.write_text(
        '[[rule]]\nname = "no"\nwords = ["idiot"]\naction = "reject"\napplies_to = ["profile"]\n'
        '[[rule]]\nname = "links"\npattern = "spam\\\\.example"\naction = "mask"\n'
    )
    server = await start_server(filter_file=str(rules))
    alice = await online(dial, server, "alice")
    await alice.send(SetProfile(display_name="Fine Name", bio="an idiot", ref=1))
    assert (await alice.expect_error("filtered", skip=(Presence,))).ref == 1
    info = await profile(alice, display_name="see spam.example", bio="spam.example!")
    assert (info.display_name, info.bio) == ("see ***", "***!")
