"""The administration service without a running server (chatapp-admin on the database alone): every
change is stored, and a server started afterwards enforces it (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatapp.clock import utc_now
from chatapp.protocol import Bye, ErrorCode, Login, Presence, ProtocolError, Send
from chatapp.server.passwords import PasswordHashing
from chatapp.server.policy import Role
from chatapp.server.services.administration import Actor, Administration
from chatapp.server.services.audit import AuditTrail
from chatapp.server.store import Store
from tests.server.conftest import Dial, ServerFactory, fast_config
from tests.support.databases import ScratchDatabase
from tests.support.wire import PASSWORD


@pytest.fixture
async def offline(database: ScratchDatabase) -> AsyncIterator[tuple[Administration, Store]]:
    store = await Store.open(database.url)
    hashing = PasswordHashing(memory_kib=8, time_cost=1, parallelism=1, workers=1)
    await hashing.start()
    try:
        yield Administration(fast_config(database.url), store, AuditTrail(store), hashing), store
    finally:
        hashing.close()
        await store.close()


async def test_changes_made_without_a_server_hold_when_one_starts(
    offline: tuple[Administration, Store], start_server: ServerFactory, dial: Dial
) -> None:
    administration, store = offline
    hashing = PasswordHashing(memory_kib=8, time_cost=1, parallelism=1, workers=1)
    for name in ("alice", "bob", "carol"):
        await store.create_user(name, await hashing.hash(PASSWORD), utc_now())
    hashing.close()
    console = Actor.console()
    await administration.promote(console, "alice", "admin")
    done = await administration.suspend(console, "bob", reason="spam")
    assert done.until is None and done.count == 0
    await administration.mute(console, "carol", duration=3600)
    banned = await administration.ban_address(console, "127.0.0.66", reason="abuse")
    assert banned.count == 0  # nothing live to close
    reset = await administration.reset_password(console, "alice")
    assert reset.password is not None
    listed = await administration.users(console)
    assert [(u.username, u.role, u.online, u.suspended_until) for u in listed.users] == [
        ("alice", "admin", False, None),
        ("bob", "user", False, ""),
        ("carol", "user", False, None),
    ]
    # The console acts as itself: a user named "console" would still be a target like any other.
    with pytest.raises(ProtocolError) as refusal:
        await administration.promote(console, "nobody-at-all", "admin")
    assert refusal.value.code is ErrorCode.NO_SUCH_USER

    server = await start_server()
    bob = await dial(server)
    await bob.send(Login(username="bob", password=PASSWORD, ref=1))
    assert "suspended by console until lifted: spam" in (await bob.expect_error("suspended")).message
    carol = await dial(server)
    await carol.login("carol")
    await carol.send(Send(room="general", text="hi", ref=2))
    await carol.expect_error("muted", skip=(Presence,))
    refused = await dial(server, local_addr="127.0.0.66", greet=False)
    bye = await refused.recv()
    assert isinstance(bye, Bye) and bye.reason == "address banned"
    alice = await dial(server)
    await alice.login("alice", reset.password)
    events, _ = await store.audit_page(before=None, limit=50)
    assert [e.action for e in reversed(events)] == [
        "promote",
        "suspend",
        "server_mute",
        "ban_address",
        "reset_password",
    ]
    assert all(e.actor == "console" and reset.password not in repr(e) for e in events)


class LineRules:
    """A stand-in for the server's content filter (another part of issue 11): a rule per line of a
    real file; a line "(" cannot be used, and the rules in force then stay."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rules: list[str] = []

    def reload(self) -> int:
        lines = [line for line in self.path.read_text().splitlines() if line.strip()]
        if "(" in lines:
            raise ValueError(f"{self.path.name}, line {lines.index('(') + 1}: not a pattern")
        self.rules = lines
        return len(lines)


async def test_reload_filters_counts_the_rules_or_says_what_is_wrong(
    offline: tuple[Administration, Store], database: ScratchDatabase, tmp_path: Path
) -> None:
    _, store = offline
    rules_file = tmp_path / "filters.txt"
    rules_file.write_text("spam\n\neggs\n")
    rules = LineRules(rules_file)
    hashing = PasswordHashing(memory_kib=8, time_cost=1, parallelism=1, workers=1)
    config = fast_config(database.url)
    administration = Administration(config, store, AuditTrail(store), hashing, filters=rules)
    done = await administration.reload_filters(Actor.console("127.0.0.1"), ref="r")
    assert (done.count, done.ref, rules.rules) == (2, "r", ["spam", "eggs"])

    rules_file.write_text("spam\n(\n")
    with pytest.raises(ProtocolError) as refusal:
        await administration.reload_filters(Actor.console())
    assert refusal.value.code is ErrorCode.SERVER_ERROR
    assert refusal.value.message == "the filters were not reloaded: filters.txt, line 2: not a pattern"
    assert rules.rules == ["spam", "eggs"]
    with pytest.raises(ProtocolError) as forbidden:
        await administration.reload_filters(Actor("mod", frozenset({Role.MODERATOR})))
    assert forbidden.value.code is ErrorCode.FORBIDDEN
    events, _ = await store.audit_page(before=None, limit=10)
    assert [(e.actor, e.action, e.reason, e.address) for e in events] == [
        ("console", "reload_filters", "2 rules", "127.0.0.1")
    ]
    hashing.close()
