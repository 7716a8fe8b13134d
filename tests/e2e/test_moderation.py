"""Server moderation against a real server process: a suspended user is out within a second and
stays out; an address ban closes what is open and refuses the rest before any sign-in work; flood
control. Staff get their role in the database, as ``chatapp-admin promote`` would store it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from chatapp.protocol import Bye, Login, Message, Presence, Resume, Send, Welcome
from chatapp.protocol.moderation_frames import Admin, AdminDone
from tests.support.databases import run_sql
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient

NOISE = (Presence, Message)
Connect = Callable[..., Awaitable[WireClient]]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Open WireClients to a server process; all are closed at the end of the test."""
    clients: list[WireClient] = []

    async def open_client(
        server: ServerProcess, address: str = "127.0.0.1", greet: bool = True
    ) -> WireClient:
        client = await WireClient.connect(server.host, server.port, local_addr=address, greet=greet)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        await client.close()


async def staff(
    connect: Connect, server: ServerProcess, name: str, role: str, address: str = "127.0.0.1"
) -> WireClient:
    """A signed-in moderator or admin: registered, given the role in the database, signed in again."""
    first = await connect(server, address)
    await first.register(name)
    await first.close()
    run_sql(
        server.url,
        "UPDATE users SET role = :role WHERE username = :name",
        {"role": role, "name": name},
        fetch=False,
    )
    client = await connect(server, address)
    await client.login(name)
    return client


async def act(client: WireClient, **fields: object) -> AdminDone:
    await client.send(Admin(ref="act", **fields))  # type: ignore[arg-type]
    return await client.expect(AdminDone, skip=NOISE)


async def test_a_suspended_user_is_out_within_a_second_and_cannot_come_back(
    server: ServerProcess, connect: Connect
) -> None:
    alice = await staff(connect, server, "alice", "admin")
    bob = await connect(server)
    token = (await bob.register("bob")).token

    done = await act(alice, action="suspend", user="bob", reason="spam")
    bye = await bob.expect(Bye, timeout=1.0, skip=NOISE)
    assert (bye.reason, bye.message) == ("account suspended", "suspended by alice until lifted: spam")
    assert done.count == 1 and done.until is None

    again = await connect(server)
    await again.send(Login(username="bob", password=PASSWORD, ref=1))
    refusal = await again.expect_error("suspended")
    assert refusal.message == "this account is suspended by alice until lifted: spam"
    assert refusal.until is None
    await again.send(Resume(token=token, ref=2))
    await again.expect_error("suspended")
    server.wait_for_log(r"event=audit actor=alice action=suspend target=bob reason=spam addr=127\.0\.0\.1")
    # Every token of the account is revoked.
    live = "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'bob' "
    assert server.rows(live + "AND s.expires_at > s.ended_at") == [(0,)]


async def test_an_address_ban_closes_open_connections_and_refuses_new_ones_before_any_sign_in_work(
    server: ServerProcess, connect: Connect
) -> None:
    mod = await staff(connect, server, "mod", "moderator", address="127.0.0.2")
    mallory = await connect(server, "127.0.0.77")
    await mallory.register("mallory")
    idle = await connect(server, "127.0.0.77")

    done = await act(mod, action="ban_address", address="127.0.0.64/28", reason="abuse")
    assert (done.address, done.count) == ("127.0.0.64/28", 2)
    for client in (mallory, idle):
        bye = await client.expect(Bye, timeout=1.0, skip=NOISE)
        assert (bye.reason, bye.message) == ("address banned", "this address is banned: abuse")
        assert await client.closed()

    # A new connection from the range sends a login at once; it gets a lone bye, no welcome, and the
    # server never reads the login: no sign-in line, no connection line, for its port.
    refused = await connect(server, "127.0.0.70", greet=False)
    port = refused.writer.get_extra_info("sockname")[1]
    await refused.send_raw(b'{"type":"login","username":"mallory","password":"correct horse battery"}\n')
    first = await refused.recv(timeout=5)
    assert isinstance(first, Bye) and first.reason == "address banned"
    assert await refused.closed()
    server.wait_for_log(r"event=refused addr=127\.0\.0\.70:\d+ reason=address_banned")
    # Whatever the server logged since, nothing is about that connection but its refusal.
    await mod.send(Send(room="general", text="after the ban", ref="after"))
    await mod.expect(Message, skip=(Presence,))
    about = [line for line in server.log.splitlines() if f"127.0.0.70:{port}" in line]
    assert len(about) == 1 and "event=refused" in about[0], about
    assert not re.search(r"event=(login|login_failed|connect) .*127\.0\.0\.70", server.log)

    outside = await connect(server, "127.0.0.80", greet=False)
    assert isinstance(await outside.recv(), Welcome)


async def test_flood_control_refuses_the_same_text_again_and_again(
    server_factory: type[ServerProcess], tmp_path: Path, connect: Connect
) -> None:
    server = server_factory(tmp_path / "chat.db", "--repeat-limit", "3", "--repeat-window", "600").start()
    bob = await connect(server)
    await bob.register("bob")
    for i in range(3):
        await bob.send(Send(room="general", text="BUY NOW", ref=i))
        assert (await bob.expect(Message, skip=NOISE)).ref == i
    await bob.send(Send(room="general", text="BUY NOW", ref="again"))
    refusal = await bob.expect_error("rate_limited", skip=NOISE)
    assert refusal.message == (
        "you have sent that same message 3 times in the last 600 s; say something else, or wait"
    )
    assert refusal.retry_after is not None and 0 < refusal.retry_after <= 600
    await bob.send(Send(room="general", text="sorry", ref="other"))
    assert (await bob.expect(Message, skip=NOISE)).text == "sorry"
    # The refused one was never stored.
    assert server.rows("SELECT count(*) FROM messages WHERE text = 'BUY NOW'") == [(3,)]


async def test_a_reset_password_is_shown_once_and_never_logged(
    server: ServerProcess, connect: Connect
) -> None:
    alice = await staff(connect, server, "alice", "admin")
    bob = await connect(server)
    await bob.register("bob")
    done = await act(alice, action="reset_password", user="bob")
    assert done.password is not None
    assert (await bob.expect(Bye, timeout=1.0, skip=NOISE)).reason == "disconnected by a moderator"
    fresh = await connect(server)
    await fresh.login("bob", done.password)
    server.wait_for_log(r"event=audit actor=alice action=reset_password target=bob")
    assert done.password not in server.log
    assert all(done.password not in str(row) for row in server.rows("SELECT * FROM audit_events"))
