"""The chat with encryption on, against a real server (SQLite and PostgreSQL): the client's e2e layer
(``E2eSession``) under the real ``ChatState``, driven by typed commands as the screen drives it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chatapp.client import Backoff
from chatapp.client.clock import SystemClock
from chatapp.client.e2e.agent import E2eSession
from chatapp.client.e2e.store import device_dir
from chatapp.client.e2e.vault import Vault
from chatapp.client.ui import commands
from chatapp.client.ui.bars import Bars
from chatapp.client.ui.perform import perform
from chatapp.client.ui.state import ChatState
from chatapp.client.ui.targets import Kind
from chatapp.protocol import Direct
from tests.client.harness import ENTER, running_screen, until
from tests.e2e.test_client_chat import wire
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD

TIMEOUT = 20.0
NEW_PASSWORD = "another horse battery staple"


class Chat:
    """One user's chat: an encrypting session, its state, and the pump between them."""

    def __init__(self, session: E2eSession, data: Path) -> None:
        self.session = session
        self.data = data
        self.state = ChatState(session, session.username or "?", address=session.address,
                               now=lambda: datetime.now(UTC))
        self.state.e2e = session
        self.changed = asyncio.Event()
        self._pump = asyncio.create_task(self._run())

    @classmethod
    async def start(cls, server: ServerProcess, data: Path, name: str, *, register: bool) -> Chat:
        session = E2eSession(server.host, server.port, backoff=Backoff(initial=0.05, maximum=0.2))
        await session.connect()
        if register:
            await session.register(name, PASSWORD)
        else:
            await session.login(name, PASSWORD)
        directory = device_dir(data, server.host, server.port, name)
        vault = await asyncio.to_thread(Vault.unlock, directory, name, PASSWORD)
        await session.start_e2e(vault)
        return cls(session, data)

    async def _run(self) -> None:
        while True:
            self.state.handle(await self.session.next_event())
            self.changed.set()

    def type(self, line: str) -> None:
        perform(self.state, commands.parse(line))  # type: ignore[arg-type]

    def text(self, peer: str | None) -> str:
        target = self.state.targets.find(Kind.DM, peer) if peer is not None else self.state.active
        return "\n".join(line.plain for line in target.log.lines) if target is not None else ""

    async def wait(self, peer: str | None, check: Callable[[str], bool]) -> str:
        """Until ``check`` holds for the lines of the conversation with ``peer`` (None: the active one)."""
        async def seen() -> str:
            while not check(self.text(peer)):
                self.changed.clear()
                await self.changed.wait()
            return self.text(peer)

        try:
            return await asyncio.wait_for(seen(), TIMEOUT)
        except TimeoutError:
            raise AssertionError(f"not seen in @{peer}:\n{self.text(peer)}") from None

    async def close(self) -> None:
        self._pump.cancel()
        await asyncio.gather(self._pump, return_exceptions=True)
        await self.session.quit()
        await self.session.aclose()


@pytest.fixture
async def pair(server: ServerProcess, tmp_path: Path) -> AsyncIterator[tuple[Chat, Chat]]:
    alice = await Chat.start(server, tmp_path / "alice", "alice", register=True)
    bob = await Chat.start(server, tmp_path / "bob", "bob", register=True)
    yield alice, bob
    for chat in (alice, bob):
        await chat.close()


def safety(text: str) -> str:
    after = text.split("Safety number with", 1)[1]
    groups = re.findall(r"(?<![\w+/])\d{5}(?![\w+/])", after)[:12]
    assert len(groups) == 12, text
    return " ".join(groups)


async def test_verified_users_new_device_stops_the_message_until_trusted(
    server: ServerProcess, tmp_path: Path, pair: tuple[Chat, Chat]
) -> None:
    alice, bob = pair
    alice.type("/msg bob hello, encrypted")
    await bob.wait("alice", lambda t: "<alice> \N{LOCK} hello, encrypted" in t)
    await alice.wait("bob", lambda t: "<alice> \N{LOCK} hello, encrypted" in t)
    assert alice.session.status("bob") == "e2e"

    alice.type("/verify bob")
    bob.type("/msg alice .")
    perform(bob.state, commands.parse("/verify alice"))  # type: ignore[arg-type]
    seen_by_alice = safety(await alice.wait("bob", lambda t: "Safety number" in t))
    seen_by_bob = safety(await bob.wait("alice", lambda t: "Safety number" in t))
    assert seen_by_alice == seen_by_bob
    alice.type("/verify bob confirm")
    await alice.wait("bob", lambda t: "bob is verified" in t)
    assert alice.session.status("bob") == "e2e verified"

    # bob adds a device (one connection per account: the first one leaves meanwhile)
    await bob.close()
    bob2 = await Chat.start(server, tmp_path / "bob2", "bob", register=False)
    assert bob2.session.vault is not None
    new_id = bob2.session.vault.device.device_id
    await bob2.close()

    alice.session.devices.max_age = 0  # as if the list were older than 30 s: fetched again before sending
    alice.type("/msg bob this must wait")
    warned = await alice.wait("bob", lambda t: "WARNING" in t)
    assert f"bob, whom you verified, has a new or changed device: {new_id}" in warned
    assert "Nothing was sent" in warned and "/verify bob" in warned and "/trust bob" in warned
    assert "<alice> \N{LOCK} this must wait" not in warned
    assert not alice.session.outbox
    alice.type("/trust bob")
    await alice.wait("bob", lambda t: "now go to their 2 current device(s) (still verified)" in t)
    alice.type("/msg bob now it may go")
    await alice.wait("bob", lambda t: "<alice> \N{LOCK} now it may go" in t)

    bob2 = await Chat.start(server, tmp_path / "bob2", "bob", register=False)
    try:
        bob2.type("/msg alice")  # opens the conversation: its history comes
        text = await bob2.wait("alice", lambda t: "now it may go" in t and "Beginning of the history" in t)
        assert "this must wait" not in text
        assert "sent before this device was added; not readable here" in text
    finally:
        await bob2.close()


async def test_no_device_means_nothing_in_clear_unless_asked(server: ServerProcess, tmp_path: Path) -> None:
    alice = await Chat.start(server, tmp_path / "alice", "alice", register=True)
    carol = await wire(server, "carol")  # a client without encryption: no device
    try:
        alice.type("/msg carol are you there")
        refused = await alice.wait("carol", lambda t: "nothing was sent" in t)
        assert "carol has no device with keys" in refused and "/plain TEXT" in refused
        assert alice.session.status("carol") == "plain"
        alice.type("/plain one in clear")
        got = await carol.expect(Direct, skip=(object,))  # type: ignore[arg-type]
        assert got.text == "one in clear" and got.e2e is None
        await alice.wait("carol", lambda t: "<alice> [plain] one in clear" in t)
        alice.type("/plain on")
        alice.type("/msg carol also in clear")
        got = await carol.expect(Direct, skip=(object,))  # type: ignore[arg-type]
        assert got.text == "also in clear"
        alice.type("/plain off")
        assert alice.session.status("carol") == "plain"  # still: carol has no device
        assert "are you there" not in "".join(m for m in [got.text])
    finally:
        await carol.close()
        await alice.close()


async def test_a_message_too_large_once_encrypted_is_refused_before_sending(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    server = server_factory(tmp_path / "chat.db", "--max-frame", "6144").start()
    alice = await Chat.start(server, tmp_path / "alice", "alice", register=True)
    bob = await Chat.start(server, tmp_path / "bob", "bob", register=True)
    try:
        alice.type("/msg bob " + "x" * 2900)
        refused = await alice.wait("bob", lambda t: "too large once encrypted" in t)
        assert "for 1 device" in refused and "4096 bytes" in refused  # the frame limit less 2,048
        alice.type("/msg bob a short one")
        await bob.wait("alice", lambda t: "\N{LOCK} a short one" in t)
    finally:
        await alice.close()
        await bob.close()


async def test_devices_are_listed_and_removed_and_the_status_bar_says_how_a_conversation_goes(
    server: ServerProcess, tmp_path: Path
) -> None:
    alice = await Chat.start(server, tmp_path / "alice", "alice", register=True)
    assert alice.session.vault is not None
    first = alice.session.vault.device.device_id
    await alice.close()
    alice = await Chat.start(server, tmp_path / "alice2", "alice", register=False)
    bob = await Chat.start(server, tmp_path / "bob", "bob", register=True)
    try:
        assert alice.session.vault is not None
        second = alice.session.vault.device.device_id
        alice.type("/devices")
        listed = await alice.wait(None, lambda t: "Your devices (2;" in t)
        assert first in listed and re.search(rf"{second} .*\(this device\)", listed)
        alice.type(f"/devices remove {second}")
        await alice.wait(None, lambda t: "That is this device" in t)
        alice.type(f"/devices remove {first}")
        await alice.wait(None, lambda t: f"Device {first} is removed" in t)
        alice.type("/devices")
        await alice.wait(None, lambda t: "Your devices (1;" in t)

        bars = Bars(alice.state, alice.session, SystemClock(), None)
        alice.type("/msg bob hi")
        await bob.wait("alice", lambda t: "\N{LOCK} hi" in t)
        assert [text for _, text in bars.conversation_security()] == ["[e2e]", " "]
        alice.type("/plain on")
        assert [text for _, text in bars.conversation_security()] == ["[plain]", " "]
        alice.type("/msg bob in clear")
        await bob.wait("alice", lambda t: "<alice> [plain] in clear" in t)
        alice.type("/plain off")

        # a device added to one's own account is announced before the next message goes to it
        await alice.close()
        third = await Chat.start(server, tmp_path / "alice3", "alice", register=False)
        assert third.session.vault is not None
        third_id = third.session.vault.device.device_id
        await third.close()
        alice = await Chat.start(server, tmp_path / "alice2", "alice", register=False)
        alice.type("/msg bob are you still there")
        warned = await alice.wait(None, lambda t: "A new device was added to your account" in t)
        assert third_id in warned and "/devices remove" in warned
    finally:
        await alice.close()
        await bob.close()


async def test_passwd_keeps_the_device_under_the_new_password(server: ServerProcess, tmp_path: Path) -> None:
    alice = await Chat.start(server, tmp_path / "alice", "alice", register=True)
    assert alice.session.vault is not None
    device_id = alice.session.vault.device.device_id
    try:
        alice.type("/passwd")
        for answer in (PASSWORD, NEW_PASSWORD, NEW_PASSWORD):
            assert alice.state.dialogue is not None
            alice.state.dialogue = alice.state.dialogue.answer(alice.state, answer)
        await alice.wait(None, lambda t: "Your password is changed" in t)
    finally:
        await alice.close()  # the re-wrapping finishes before the device is closed
    directory = device_dir(tmp_path / "alice", server.host, server.port, "alice")
    vault = await asyncio.to_thread(Vault.unlock, directory, "alice", NEW_PASSWORD)
    try:
        assert vault.device.device_id == device_id
    finally:
        vault.close()


async def test_the_chat_screen_encrypts_and_says_so(server: ServerProcess, tmp_path: Path) -> None:
    bob = await Chat.start(server, tmp_path / "bob", "bob", register=True)
    session = E2eSession(server.host, server.port)
    try:
        await session.connect()
        await session.register("alice", PASSWORD)
        directory = device_dir(tmp_path / "alice", server.host, server.port, "alice")
        vault = await asyncio.to_thread(Vault.unlock, directory, "alice", PASSWORD)
        await session.start_e2e(vault)
        async with running_screen(session) as screen:
            await screen.wait_line("Direct messages are end-to-end encrypted")
            screen.type("/msg bob over the screen" + ENTER)
            await screen.wait_line("<alice> \N{LOCK} over the screen")
            await screen.wait_drawn(":@bob] [e2e]")
            await bob.wait("alice", lambda t: "<alice> \N{LOCK} over the screen" in t)
            screen.type("/quit" + ENTER)
            await screen.finished()
    finally:
        await session.aclose()
        await bob.close()


async def test_one_time_keys_used_up_by_new_sessions_are_counted_again(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    server = server_factory(tmp_path / "chat.db").start()
    alice = await Chat.start(server, tmp_path / "alice", "alice", register=True)
    bob = await Chat.start(server, tmp_path / "bob", "bob", register=True)
    try:
        assert bob.session.keys_on_server == 50
        bob.session.top_up_every = 1
        alice.type("/msg bob first contact")  # claims one of bob's one-time keys
        await bob.wait("alice", lambda t: "first contact" in t)
        # bob asks the server how many are left: 49, more than half, so nothing new yet
        await until(lambda: bob.session.keys_on_server == 49, what="bob to count his keys again")
    finally:
        await alice.close()
        await bob.close()


async def test_a_message_typed_while_offline_is_sealed_and_sent_after_the_resume(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    server = server_factory(tmp_path / "chat.db").start()
    alice = await Chat.start(server, tmp_path / "alice", "alice", register=True)
    bob = await Chat.start(server, tmp_path / "bob", "bob", register=True)
    try:
        alice.type("/msg bob before")
        await bob.wait("alice", lambda t: "\N{LOCK} before" in t)
        server.stop()
        await until(lambda: not alice.session.online, what="alice to see the server go")
        alice.type("/msg bob typed while the server was away")
        assert [o.text for o in alice.session.outbox] == ["typed while the server was away"]
        server.start()
        await bob.wait("alice", lambda t: "\N{LOCK} typed while the server was away" in t)
        await alice.wait("bob", lambda t: "<alice> \N{LOCK} typed while the server was away" in t)
    finally:
        await alice.close()
        await bob.close()
